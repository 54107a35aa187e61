"""The ML steps of the pipeline (predictive and cognitive Gold), for pipeline.python_steps()."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..runner import Step, python_step
from ..steps import (
    audio_to_valence,
    model_performance_metrics,
    play_models,
)

MODULES = (
    play_models,
    audio_to_valence,
    model_performance_metrics,
)


def ml_steps() -> list[Step]:
    """One step per module; each module's function is named after it, and a
    module with ``PER_USER = True`` declares a per-user step (``PROCESSES =
    True``: whose large whole builds run in worker processes).

    A step's code fingerprint covers the whole ``ml`` package as well as its own
    module, so changing shared model code rebuilds the ML tables."""
    shared = ml_source()
    return [
        replace(step, code=step.code + shared)
        for step in (
            python_step(
                getattr(module, module.__name__.rsplit(".", 1)[-1]),
                inputs=module.INPUTS,
                outputs=module.OUTPUTS,
                per_user=getattr(module, "PER_USER", False),
                processes=getattr(module, "PROCESSES", False),
                warm_up=_load_models,
            )
            for module in MODULES
        )
    ]


def _load_models() -> None:
    """Import the model code the ML steps load when they run."""
    from . import runs  # noqa: F401


def ml_source() -> str:
    """The source of every module of this package, in a stable order."""
    folder = Path(__file__).resolve().parent
    return "".join(path.read_text() for path in sorted(folder.glob("*.py")))
