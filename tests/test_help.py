"""--help: every option of every command under a named panel, in a fixed order, within 80
columns, and without loading rich."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from xent_cli.cli.commands import app

COMMANDS = ["eval", "rows", "compare", "merge"]
PANELS = [
    "Input and columns",
    "Computation",
    "Interval and test",
    "Output",
    "Gates",
    "Slices",
    "Calibration",
    "Scale",
]

# Where a user looks for an option (written out here, not read from the code).
EXPECTED_PANEL = {
    ("eval", "--label"): "Input and columns",
    ("eval", "--scores"): "Input and columns",
    ("eval", "--input-format"): "Input and columns",
    ("eval", "--mode"): "Computation",
    ("eval", "--eps"): "Computation",
    ("eval", "--base"): "Computation",
    ("eval", "--format"): "Output",
    ("eval", "--output"): "Output",
    ("eval", "--plot"): "Output",
    ("eval", "--top-warnings"): "Output",
    ("eval", "--max-loss"): "Gates",
    ("eval", "--strict"): "Gates",
    ("eval", "--by"): "Slices",
    ("eval", "--max-slice-gap"): "Slices",
    ("eval", "--calibration"): "Calibration",
    ("eval", "--ece-preset"): "Calibration",
    ("eval", "--decompose"): "Calibration",
    ("eval", "--dask"): "Scale",
    ("eval", "--save-state"): "Scale",
    ("compare", "--on-mismatch"): "Input and columns",
    ("compare", "--ci"): "Interval and test",
    ("compare", "--seed"): "Interval and test",
    ("compare", "--max-regression"): "Gates",
    ("compare", "--fail-on"): "Gates",
    ("compare", "--top"): "Output",
    ("compare", "--max-slice-regression"): "Slices",
    ("merge", "--max-loss"): "Gates",
    ("merge", "--min-slice-size"): "Slices",
    ("rows", "--top"): "Output",
}


def help_text(*args: str, columns: int = 80) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


def options_by_heading(text: str) -> dict[str, list[str]]:
    """Heading -> the option names listed under it (``-f, --format <...>`` gives both);
    the arguments' heading left out."""
    sections: dict[str, list[str]] = {}
    heading = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][A-Za-z ]*:", line):
            heading = line[:-1]
            if heading != "Arguments":
                sections[heading] = []
        elif heading in sections and re.match(r"  -", line):
            names = line[2:].split("  ")[0]
            sections[heading] += re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", names)
    return sections


def declared_options(command: str) -> set[str]:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {
        name
        for param in click_command.params
        if param.param_type_name == "option"
        for name in [*param.opts, *param.secondary_opts]
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_under_a_named_panel(command):
    sections = options_by_heading(help_text(command))
    assert sections.pop("Options") == ["-h", "--help"]
    assert set(sections) <= set(PANELS)
    listed = [name for names in sections.values() for name in names]
    assert len(listed) == len(set(listed))  # no option twice
    assert set(listed) == declared_options(command) - {"-h", "--help"}


@pytest.mark.parametrize("command", COMMANDS)
def test_panels_come_in_one_order(command):
    headings = [h for h in options_by_heading(help_text(command)) if h != "Options"]
    assert headings == [p for p in PANELS if p in headings]
    assert re.search(r"^Options:\n  -h, --help", help_text(command), re.M)


def test_options_sit_where_a_user_looks():
    found = {
        (command, name): heading
        for command in COMMANDS
        for heading, names in options_by_heading(help_text(command)).items()
        for name in names
    }
    assert {key: found.get(key) for key in EXPECTED_PANEL} == EXPECTED_PANEL


@pytest.mark.parametrize("command", [*COMMANDS, None])
@pytest.mark.parametrize("columns", [80, 200])
def test_help_fits_an_80_column_terminal(command, columns):
    text = help_text(*([command] if command else []), columns=columns)
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert too_long == []
    assert "╭" not in text  # plain headings, no boxes


def test_descriptions_start_in_one_column_across_panels():
    starts = {
        len(line) - len(line[2:].split("  ", 1)[1].lstrip())
        for line in help_text("eval").splitlines()
        if re.match(r"  -\S", line) and "  " in line[2:]
    }
    assert len(starts) == 1


def test_help_does_not_load_rich():
    code = (
        "import sys\n"
        "from xent_cli.cli.commands import app\n"
        "for args in (['--help'], ['eval', '--help'], ['compare', '--help']):\n"
        "    try:\n"
        "        app(args, prog_name='xent')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('rich', 'numpy', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
