"""docs/ci.md and the README's CI section: every YAML block parses, every use of the action
names only its inputs, the JUnit example is xent's real output, and the GitLab job's script
runs (with a stand-in for pip) and leaves the report its artifacts name."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml

from .conftest import ROOT, SAMPLES, invoke

PAGES = [ROOT / "README.md", ROOT / "docs" / "ci.md"]
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(page: Path, language: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(page.read_text(encoding="utf-8"))
            if m.group(1) == language]  # fmt: skip


def block_after(page: Path, marker: str) -> str:
    """The first fenced block after ``<!-- marker``."""
    text = page.read_text(encoding="utf-8").split(f"<!-- {marker}", 1)[1]
    match = FENCE.search(text)
    assert match is not None
    return match.group(2)


def action_steps(node: Any) -> list[dict[str, Any]]:
    """Every step (at any depth) that uses xent's action."""
    if isinstance(node, list):
        return [step for item in node for step in action_steps(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if str(node.get("uses", "")).startswith("OWNER/xent@") else []
    return own + [step for value in node.values() for step in action_steps(value)]


def test_every_use_of_the_action_names_its_inputs():
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    declared = set(action["inputs"])
    uses = []
    for page in PAGES:
        for block in blocks(page, "yaml"):
            uses += action_steps(yaml.safe_load(block))
    assert len(uses) >= 4  # the README's, and three in docs/ci.md
    for step in uses:
        given = set(step["with"])
        assert given <= declared, given - declared
        assert "predictions" in given
        for name in given & {"max-loss", "max-regression"}:
            float(step["with"][name])


def test_readme_shows_the_action_before_the_run_step():
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## In CI", 1)[1]
    assert section.index("uses: OWNER/xent@v1") < section.index("<!-- ci-example")


def test_the_junit_example_is_the_real_output(monkeypatch):
    command, *expected = block_after(PAGES[1], "junit-example").splitlines()
    assert command.startswith("$ xent eval ")
    monkeypatch.chdir(ROOT)
    result = invoke(*command.split()[2:])
    assert result.exit_code == 1  # --max-loss fails: the example shows a failure
    assert result.stdout.splitlines() == expected


def test_the_gitlab_job_runs(tmp_path):
    job = yaml.safe_load(block_after(PAGES[1], "gitlab-example"))["xent"]
    shutil.copy(SAMPLES / "digits_logits.csv", tmp_path / "predictions.csv")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "pip").write_text(f'#!/bin/sh\necho "pip $*" >> "{tmp_path / "pip.log"}"\n')
    (tools / "pip").chmod(0o755)
    path = os.pathsep.join([str(tools), str(Path(sys.executable).parent), os.environ["PATH"]])
    for line in job["script"]:
        result = subprocess.run(
            ["bash", "-e", "-c", line],
            cwd=tmp_path,
            env={**os.environ, "PATH": path},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, (line, result.stderr)
    assert (tmp_path / "pip.log").read_text() == "pip install xent-cli\n"
    assert job["artifacts"]["when"] == "always"
    report = tmp_path / job["artifacts"]["reports"]["junit"]
    xmlschema.XMLSchema(ROOT / "tests" / "junit.xsd").validate(str(report))
    assert 'name="--max-loss 0.35"' in report.read_text(encoding="utf-8")
    for kept in job["artifacts"]["paths"]:
        assert (tmp_path / kept).is_file()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_yaml_blocks_parse(page):
    for block in blocks(page, "yaml"):
        assert yaml.safe_load(block) is not None
