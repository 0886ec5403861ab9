"""The GitHub Action, run from action.yml itself as a runner would (tests/github_actions.py):
stand-ins for pip (does nothing: xent is installed here) and gh (records its calls and keeps
the pull request's comments), a pull_request event, the job summary and the step outputs read
back. The losses are checked against scipy."""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xmlschema
import yaml
from scipy.special import logsumexp

from .conftest import ROOT, SAMPLES
from .github_actions import ActionRun, Runner, job_environment, write_event

PR = 7
MARKER = "<!-- xent-report -->"


def digits_loss(frame: pd.DataFrame) -> float:
    """Mean softmax cross-entropy of the logit columns, by scipy."""
    logits = frame.filter(like="logit_").to_numpy()
    picked = logits[np.arange(len(frame)), frame.label.to_numpy()]
    return float(np.mean(logsumexp(logits, axis=1) - picked))


class GitHub:
    """A job on a runner: a workspace with the sample predictions, pip and gh stand-ins."""

    def __init__(self, root: Path):
        self.root = root
        self.workspace = root / "workspace"
        self.workspace.mkdir()
        shutil.copy(SAMPLES / "digits_logits.csv", self.workspace / "predictions.csv")
        self.tools = root / "tools"
        self.tools.mkdir()
        self.gh_dir = root / "gh"
        self.gh_dir.mkdir()
        self.pip_log = root / "pip.log"
        pip = self.tools / "pip"
        pip.write_text(f'#!/bin/sh\necho "$@" >> "{self.pip_log}"\n')
        gh = self.tools / "gh"
        gh.write_text(f"#!{sys.executable}\n" + (ROOT / "tests" / "fake_gh.py").read_text())
        for tool in (pip, gh):
            tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
        self.summary = root / "summary.md"
        self.env = job_environment(self.tools, Path(sys.executable).parent, self.workspace)
        self.env.update(GITHUB_STEP_SUMMARY=str(self.summary), FAKE_GH_DIR=str(self.gh_dir))
        self.event("pull_request", PR)

    def event(self, name: str, number: int | None) -> None:
        write_event(self.root / "event.json", name, self.env, number)

    def run(self, **inputs: str) -> ActionRun:
        inputs = {name.replace("_", "-"): value for name, value in inputs.items()}
        return Runner(ROOT, self.workspace, self.env).run(inputs)

    def calls(self) -> list[list[str]]:
        log = self.gh_dir / "calls.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return [json.loads(line)["argv"] for line in lines]

    def comments(self, number: int = PR) -> list[dict]:
        store = self.gh_dir / "comments.json"
        data = json.loads(store.read_text()) if store.exists() else {}
        return data.get(f"repos/octo/models/issues/{number}", [])

    def seed_comments(self, *bodies: str) -> None:
        comments = [{"id": i, "body": b, "html_url": f"#c{i}"} for i, b in enumerate(bodies, 1)]
        store = {f"repos/octo/models/issues/{PR}": comments}
        (self.gh_dir / "comments.json").write_text(json.dumps(store))


@pytest.fixture
def github(tmp_path) -> GitHub:
    return GitHub(tmp_path)


def test_action_yml_declares_what_the_script_reads():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    steps = action["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    run_step = next(s for s in steps if s.get("id") == "xent")
    for name in action["inputs"]:
        if name not in ("python-version", "github-token"):
            variable = "INPUT_" + name.upper().replace("-", "_")
            assert run_step["env"][variable] == f"${{{{ inputs.{name} }}}}"
    assert run_step["env"]["GH_TOKEN"] == "${{ inputs.github-token }}"
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.xent.outputs.{name} }}}}"


def test_eval_passing_on_a_pull_request(github):
    run = github.run(predictions="predictions.csv", max_loss="0.35", args="--id id")
    assert run.code == 0, run.log
    # setup-python would run, and pip installs xent from the action's own folder
    assert run.used == [{"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}}]
    assert github.pip_log.read_text().split()[-1] == str(ROOT)
    assert github.pip_log.read_text().startswith("install ")
    frame = pd.read_csv(github.workspace / "predictions.csv")
    assert float(run.outputs["loss"]) == pytest.approx(digits_loss(frame), rel=1e-12)
    assert run.outputs["passed"] == "true"
    assert run.outputs["exit-code"] == "0"
    assert run.outputs["delta"] == run.outputs["baseline-loss"] == ""
    report = json.loads(Path(run.outputs["report-json"]).read_text())
    assert report["loss"] == float(run.outputs["loss"])
    assert report["columns"]["id"] == "id"
    assert "+ xent eval predictions.csv --max-loss 0.35 --id id --also-output" in run.log
    summary = github.summary.read_text()
    assert summary.startswith("✅ **xent eval** — gate: passed (max_loss)")
    assert "| **overall** |" in summary
    assert "[workflow run](https://github.com/octo/models/actions/runs/4242)" in summary
    assert "`fedcba9`" in summary  # the pull request's head, not the merge commit
    (comment,) = github.comments()
    assert comment["body"].rstrip() == f"{MARKER}\n{summary.rstrip()}"
    assert run.outputs["comment-url"] == comment["html_url"]
    assert github.calls() == [
        ["api", "--paginate", f"repos/octo/models/issues/{PR}/comments?per_page=100"],
        ["api", "--method", "POST", f"repos/octo/models/issues/{PR}/comments", "--input",
         github.calls()[1][-1]],
    ]  # fmt: skip


def test_failing_gate_fails_the_step_after_posting(github):
    run = github.run(predictions="predictions.csv", max_loss="0.01")
    assert run.code == 1
    assert run.outputs["passed"] == "false"
    assert run.outputs["exit-code"] == "1"
    reason = json.loads(Path(run.outputs["report-json"]).read_text())["gate"]["reasons"][0]
    assert reason.startswith("loss 0.10229")
    assert reason.endswith("exceeds --max-loss 0.01")
    assert f"::error title=xent gate failed::{reason}" in run.log
    assert f"❌ **xent eval** — gate: FAILED: {reason}" in github.summary.read_text()
    (comment,) = github.comments()
    assert "gate: FAILED" in comment["body"]
    junit = Path(run.outputs["report-junit"]).read_text()
    xmlschema.XMLSchema(ROOT / "tests" / "junit.xsd").validate(junit)
    assert f'message="{reason}"' in junit


def test_a_second_run_updates_the_comment(github):
    github.env["FAKE_GH_PAGE_SIZE"] = "2"  # ours is on the second page
    github.seed_comments("LGTM", f"quoting: {MARKER} is the marker", "one more")
    first = github.run(predictions="predictions.csv", max_loss="0.35")
    assert first.code == 0
    assert len(github.comments()) == 4
    calls_before = len(github.calls())
    second = github.run(predictions="predictions.csv", max_loss="0.01")
    assert second.code == 1
    comments = github.comments()
    assert [c["body"] for c in comments[:3]] == [
        "LGTM",
        f"quoting: {MARKER} is the marker",
        "one more",
    ]  # others' comments untouched, even one that mentions the marker
    assert len(comments) == 4
    assert comments[3]["body"].startswith(f"{MARKER}\n❌ **xent eval** — gate: FAILED")
    assert second.outputs["comment-url"] == first.outputs["comment-url"]
    listing, update = github.calls()[calls_before:]
    assert listing[:2] == ["api", "--paginate"]
    endpoint = f"repos/octo/models/issues/comments/{comments[3]['id']}"
    assert update[:4] == ["api", "--method", "PATCH", endpoint]


def test_each_comment_key_keeps_its_own_comment(github):
    github.run(predictions="predictions.csv", comment_key="digits")
    github.run(predictions="predictions.csv", comment_key="digits")
    github.run(predictions="predictions.csv")
    bodies = [c["body"] for c in github.comments()]
    assert len(bodies) == 2
    assert bodies[0].startswith("<!-- xent-report: digits -->\n")
    assert bodies[1].startswith(f"{MARKER}\n")


@pytest.fixture
def candidate(github) -> Path:
    """The sample's logits halved for odd labels: worse there, the same elsewhere."""
    frame = pd.read_csv(github.workspace / "predictions.csv")
    odd = frame.label % 2 == 1
    columns = [c for c in frame if c.startswith("logit_")]
    frame.loc[odd, columns] = frame.loc[odd, columns] * 0.5
    path = github.workspace / "candidate.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("limit", "code"), [("0.5", 0), ("0.001", 1)])
def test_compare_mode(github, candidate, limit, code):
    run = github.run(
        baseline="predictions.csv",
        predictions=candidate.name,
        max_regression=limit,
        args="--id id",
    )
    assert run.code == code, run.log
    base = digits_loss(pd.read_csv(github.workspace / "predictions.csv"))
    cand = digits_loss(pd.read_csv(candidate))
    assert float(run.outputs["delta"]) == pytest.approx(cand - base, rel=1e-9)
    assert float(run.outputs["loss"]) == pytest.approx(cand, rel=1e-12)
    assert float(run.outputs["baseline-loss"]) == pytest.approx(base, rel=1e-12)
    assert run.outputs["passed"] == ("true" if code == 0 else "false")
    assert f"+ xent compare predictions.csv candidate.csv --max-regression {limit}" in run.log
    summary = github.summary.read_text()
    assert summary.startswith(("✅" if code == 0 else "❌") + " **xent compare** — gate: ")
    (comment,) = github.comments()
    assert "**xent compare**" in comment["body"]


@pytest.mark.parametrize(
    ("inputs", "passed"),
    [
        ({}, ()),
        ({"max_kl": "0.1"}, ("--max-kl", "0.1")),
        ({"max_churn": "0.2"}, ("--max-churn", "0.2")),
    ],
)
def test_max_kl_and_max_churn_passed_only_when_set(github, candidate, inputs, passed):
    run = github.run(baseline="predictions.csv", predictions=candidate.name, **inputs)
    command = next(line for line in run.log.splitlines() if line.startswith("+ xent compare"))
    words = command.split()
    for option in ("--max-kl", "--max-churn"):
        assert (option in words) == (option in passed)
    if passed:
        at = words.index(passed[0])
        assert words[at : at + 2] == list(passed)


def test_no_comment_outside_a_pull_request(github):
    github.event("push", None)
    run = github.run(predictions="predictions.csv", max_loss="0.01")
    assert run.code == 1
    assert github.calls() == []
    assert run.outputs["comment-url"] == ""
    assert "gate: FAILED" in github.summary.read_text()
    assert run.outputs["passed"] == "false"


def test_no_comment_when_turned_off(github):
    run = github.run(predictions="predictions.csv", comment="false")
    assert run.code == 0
    assert github.calls() == []
    assert "| **overall** |" in github.summary.read_text()


def test_a_comment_that_cannot_be_written_is_a_warning(github):
    github.env["FAKE_GH_DENY"] = "1"  # a fork's pull request: a read-only token
    run = github.run(predictions="predictions.csv", max_loss="0.35")
    assert run.code == 0
    warning = "::warning title=xent::could not comment on the pull request: gh: Resource not"
    assert warning in run.log
    assert run.outputs["passed"] == "true"


def test_bad_input_exit_2_is_reported(github):
    run = github.run(predictions="missing.csv")
    assert run.code == 2
    assert run.outputs["exit-code"] == "2"
    assert run.outputs["passed"] == "false"
    assert run.outputs["report-json"] == ""
    summary = github.summary.read_text()
    assert summary.startswith("❌ **xent eval** could not run (exit 2):")
    assert "xent: error: missing.csv" in summary
    (comment,) = github.comments()
    assert "could not run" in comment["body"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"baseline": "a.csv", "max_loss": "1"}, "max-loss is an eval gate: not with a baseline"),
        ({"max_regression": "0.1"}, "input max-regression is a compare gate: needs a baseline"),
        ({"baseline": "a.csv", "predictions": "b.csv c.csv"}, "with a baseline, one FILE"),
        ({"comment": "yes"}, "input comment: expected true or false"),
        ({"comment_key": "a-->b"}, "input comment-key:"),
    ],
)
def test_inputs_the_action_cannot_use(github, inputs, message):
    run = github.run(**{"predictions": "predictions.csv", **inputs})
    assert run.code == 2
    assert "::error title=xent::" in run.log
    assert message in run.log
    assert github.calls() == []


def test_an_empty_python_version_uses_the_python_set_up(github):
    run = github.run(predictions="predictions.csv", python_version="")
    assert run.code == 0
    assert run.used == []
