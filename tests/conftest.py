"""Shared helpers: write small input files, run the CLI in-process and read its JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xent_cli.cli.commands import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"


@pytest.fixture(params=["compiled", "numpy"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test that asks for it runs twice: with the compiled kernels (when built) and with
    numpy's versions of them."""
    from xent_cli.kernels import compiled

    if request.param == "compiled" and compiled.native is None:
        pytest.skip("the compiled kernel is not built (XENT_NO_NATIVE, or no C compiler)")
    if request.param == "numpy":
        monkeypatch.setattr(compiled, "native", None)
    return str(request.param)


@pytest.fixture(autouse=True)
def _no_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables fit $COLUMNS when it is set: the tests see the width of a pipe (80), whatever
    the shell that runs them exports."""
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write("name.csv", text) -> path of a new file with that text."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def invoke(*args: Any, input: str | bytes | None = None) -> Any:
    """Run ``xent ARGS`` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def eval_json(*args: Any, input: str | bytes | None = None) -> dict[str, Any]:
    """``xent eval ARGS --format json`` that must succeed; the parsed report."""
    result = invoke("eval", *args, "--format", "json", input=input)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)
