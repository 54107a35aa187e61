"""`spotify-analytics models`: lists saved versions, as a table or JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from spotify_analytics.cli import app
from spotify_analytics.lake import Lake
from spotify_analytics.ml.runs import run_context_model
from spotify_analytics.ml.synthetic import planted_listening
from spotify_analytics.runner import StepContext
from spotify_analytics.settings import Settings


def test_models_command_lists_saved_versions(lake: Lake) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["models", "--lake", str(lake.root)])
    assert empty.exit_code == 0 and "no saved models" in empty.output
    lake.overwrite("silver/listening_with_features", planted_listening(users=1, days=30))
    run_context_model(StepContext(lake, Settings(lake=lake.root)), "mood_predictions")
    result = runner.invoke(app, ["models", "--lake", str(lake.root), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(m["model"], m["user_id"], m["current"]) for m in listed] == [
        ("mood_predictions", "u0", True)
    ]
    assert listed[0]["version"].startswith("v") and listed[0]["has_artifact"]
    assert "lift" in listed[0]["headline"]
    table = runner.invoke(app, ["models", "--lake", str(lake.root)])
    assert table.exit_code == 0 and "saved models" in table.output and "u0" in table.output


def test_models_command_on_a_missing_lake_fails_cleanly(tmp_path) -> None:
    result = CliRunner().invoke(app, ["models", "--lake", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no lake here" in result.output
