"""The README's GitHub Actions step, run exactly as written (with fake `pip` and `gh`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLES


def readme_ci_script() -> str:
    """The `run: |` block of the YAML example under the README's ci-example marker."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- ci-example", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "run: |") + 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    return "\n".join(line[indent:] for line in lines[start:] if line.strip()) + "\n"


def fake_tool(folder: Path, name: str, log: Path) -> None:
    script = folder / name
    script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
    script.chmod(0o755)


@pytest.mark.parametrize(("max_loss", "expected_status"), [("0.35", 0), ("0.01", 1)])
def test_readme_ci_step(tmp_path, max_loss, expected_status):
    script = readme_ci_script()
    assert "xent eval predictions.csv" in script
    script = script.replace("--max-loss 0.35", f"--max-loss {max_loss}")
    shutil.copy(SAMPLES / "digits_logits.csv", tmp_path / "predictions.csv")
    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "calls.log"
    fake_tool(tools, "pip", calls)
    fake_tool(tools, "gh", calls)
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{tools}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_STEP_SUMMARY": str(summary),
        "PR_NUMBER": "7",
    }
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == expected_status, result.stderr
    assert "| **overall** |" in summary.read_text()
    assert re.search(r"^gh pr comment 7 --body-file xent-report.md$", calls.read_text(), re.M)
    assert calls.read_text().startswith("pip install xent-cli")
    if expected_status:
        assert "--max-loss" in result.stderr
