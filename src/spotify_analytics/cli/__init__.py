"""The ``spotify-analytics`` command: thin faces over the library."""

from __future__ import annotations

from . import (
    demo_commands,  # noqa: F401
    import_commands,  # noqa: F401
    ingest_commands,  # noqa: F401
    lake_commands,  # noqa: F401  (registers commands)
    live_commands,  # noqa: F401
    model_commands,  # noqa: F401
    quality_commands,  # noqa: F401
)
from .app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
