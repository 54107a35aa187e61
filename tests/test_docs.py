"""The README's commands are real: the quickstart, CI and every CLI command it names."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from spotify_analytics.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_fresh_machine_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test" in script.splitlines()[-1]


def test_every_command_named_in_the_readme_exists() -> None:
    named = set(re.findall(r"spotify-analytics ([a-z]+(?: kaggle)?)", README))
    assert {"demo", "import", "run", "sql", "status"} <= named
    runner = CliRunner()
    for command in sorted(named):
        result = runner.invoke(app, [*command.split(), "--help"])
        assert result.exit_code == 0, f"`{command} --help` failed: {result.output}"


def test_readme_links_point_to_files() -> None:
    for link in re.findall(r"\]\((docs/[^)]+)\)", README):
        assert (ROOT / link).is_file(), f"README links to missing {link}"
