"""`models`: the saved model versions in the lake."""

from __future__ import annotations

from ..lake import Lake
from .app import JsonOption, LakeOption, app, handle_errors, out, print_json, settings_for
from .lake_commands import _rich_table

COLUMNS = ["model", "user_id", "version", "current", "estimator", "n_train", "n_test", "headline"]


@app.command()
@handle_errors
def models(lake: LakeOption = None, as_json: JsonOption = False) -> None:
    """Saved models: version (current = used by the latest run), training size, and the
    headline metric against its best baseline."""
    from ..ml.artifacts import list_models  # the model code loads only for this command

    settings = settings_for(lake)
    found = list_models(Lake.open(settings.lake).root)
    if as_json:
        print_json(found)
        return
    if not found:
        out.print("no saved models yet; run `spotify-analytics run` first")
        return
    out.print(_rich_table("saved models", found, columns=COLUMNS))
