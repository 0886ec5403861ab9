"""--format junit (and -o report.xml, --also-output): one test case per gate, failures with the
gates' reasons, the figures as properties. Every document is validated against the common
JUnit schema (tests/junit.xsd) and read back by junitparser, the reader GitHub's
publish-unit-test-result action uses; the figures are checked against numpy."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xmlschema
from junitparser import Failure, JUnitXml

import xent_cli
from xent_cli.options import OutputFormat
from xent_cli.render.compare import render_comparison

from .conftest import invoke

SCHEMA = xmlschema.XMLSchema(Path(__file__).with_name("junit.xsd"))
ODD = "we\x07st"  # a slice value with a control character: XML 1.0 cannot hold it as is


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Binary probabilities on 300 rows in three regions; the candidate is worse in ODD.
    Row 0 gives the true outcome probability 0 (a zero-probability warning)."""
    rng = np.random.default_rng(7)
    n = 300
    y = rng.integers(0, 2, n)
    p = np.clip(np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.15, n), 0.02, 0.98)
    region = rng.choice(["north", "south", ODD], n)
    p[region == ODD] = np.clip(1 - p[region == ODD], 0.02, 0.98)  # the baseline's worst slice
    p[0] = 1.0 - y[0]
    q = np.clip(p + np.where(region == ODD, -0.1, 0.01) * np.where(y == 1, 1, -1), 0.01, 0.99)
    baseline = pd.DataFrame({"label": y, "prob_1": p, "region": region})
    candidate = pd.DataFrame({"label": y, "prob_1": q, "region": region})
    return baseline, candidate


def mean_loss(frame: pd.DataFrame) -> float:
    """Binary cross-entropy with xent's default clipping (eps = 1e-15), by numpy."""
    q = np.where(frame.label == 1, frame.prob_1, 1 - frame.prob_1)
    return float(np.mean(-np.log(np.clip(q, 1e-15, 1))))


@pytest.fixture
def files(frames, tmp_path) -> tuple[Path, Path]:
    paths = tmp_path / "base.csv", tmp_path / "cand.csv"
    for frame, path in zip(frames, paths, strict=True):
        frame.to_csv(path, index=False)
    return paths


def checked(text: str) -> JUnitXml:
    """The document, valid against the schema, as junitparser reads it."""
    SCHEMA.validate(text)
    return JUnitXml.fromstring(text)


def run(*args: object) -> tuple[int, str, dict]:
    """(exit code, the JUnit document, the same report's JSON)."""
    result = invoke(*args, "-f", "junit")
    assert result.exit_code in (0, 1), result.output
    as_json = invoke(*args, "-f", "json")
    assert as_json.exit_code == result.exit_code
    return result.exit_code, result.stdout, json.loads(as_json.stdout)


def properties(text: str) -> dict[str, str]:
    root = ET.fromstring(text)
    return {p.get("name"): p.get("value") for p in root.iter("property")}


def cases(xml: JUnitXml) -> dict[str, list[str]]:
    """Test case name -> the messages of its failures (empty: passed)."""
    (suite,) = xml
    return {c.name: [r.message for r in c.result if isinstance(r, Failure)] for c in suite}


def test_no_gate_is_one_passing_case_with_the_figures(frames, files):
    code, text, report = run("eval", files[0])
    assert code == 0
    xml = checked(text)
    assert (xml.tests, xml.failures, xml.errors) == (1, 0, 0)
    assert cases(xml) == {"evaluation": []}
    (suite,) = xml
    assert suite.name == "xent eval"
    props = properties(text)
    assert float(props["loss"]) == pytest.approx(mean_loss(frames[0]), rel=1e-12)
    assert props["n_rows"] == "300"
    assert props["mode"] == "binary"
    assert props["gate.passed"] == "true"
    assert props["n_warnings"] == "1"
    assert float(props["perplexity"]) == report["perplexity"]


def test_each_gate_is_a_case_failing_with_its_reason(frames, files):
    loss = mean_loss(frames[0])
    code, text, report = run(
        "eval", files[0], "--max-loss", loss * 0.99, "--strict", "--by", "region",
        "--max-slice-loss", loss * 1.01, "--max-slice-gap", 100,
    )  # fmt: skip
    assert code == 1
    xml = checked(text)
    assert (xml.tests, xml.failures) == (4, 3)
    reasons = report["gate"]["reasons"]
    assert len(reasons) == 3
    got = cases(xml)
    assert list(got) == [
        f"--max-loss {loss * 0.99:g}",
        "--strict",
        f"--max-slice-loss {loss * 1.01:g}",
        "--max-slice-gap 100",
    ]
    assert [m for messages in got.values() for m in messages] == [
        r.replace("\x07", "\\x07") for r in reasons
    ]
    assert "worst: region=we\\x07st" in got[f"--max-slice-loss {loss * 1.01:g}"][0]
    assert got["--max-slice-gap 100"] == []
    strict = ET.fromstring(text).find(".//testcase[@name='--strict']/failure")
    assert strict is not None
    assert "zero-probability" in (strict.text or "")  # the warnings the gate failed on


def test_compare_gates_and_figures(frames, files):
    delta = mean_loss(frames[1]) - mean_loss(frames[0])
    assert delta > 0
    code, text, report = run(
        "compare", *files, "--max-regression", delta / 2, "--min-improvement", 0,
        "--max-relative-regression", 10, "--by", "region", "--max-slice-regression", 10,
    )  # fmt: skip
    assert code == 1
    xml = checked(text)
    (suite,) = xml
    assert suite.name == "xent compare"
    got = cases(xml)
    assert list(got) == [
        f"--max-regression {delta / 2:g}",
        "--max-relative-regression 10",
        "--min-improvement 0",
        "--max-slice-regression 10",
    ]
    assert got[f"--max-regression {delta / 2:g}"] == [report["gate"]["reasons"][0]]
    assert got["--min-improvement 0"] == [report["gate"]["reasons"][1]]
    assert got["--max-relative-regression 10"] == got["--max-slice-regression 10"] == []
    props = properties(text)
    assert float(props["delta"]) == pytest.approx(delta, rel=1e-9)
    assert float(props["baseline.loss"]) == pytest.approx(mean_loss(frames[0]), rel=1e-12)
    assert props["join.n_joined"] == "300"
    assert props["gate.fail_on"] == "estimate"
    assert float(props["ci.low"]) <= float(props["delta"]) <= float(props["ci.high"])


def test_compare_without_gates_and_a_significance_gate(files):
    code, text, _ = run("compare", *files)
    assert code == 0
    assert cases(checked(text)) == {"comparison": []}
    code, text, report = run(
        "compare", *files, "--min-improvement", 0.5, "--fail-on", "significant"
    )
    assert code == 1
    assert cases(checked(text)) == {"--min-improvement 0.5": report["gate"]["reasons"]}


def test_a_reason_naming_no_gate_set_still_fails(files):
    """A gate this renderer does not know (say --max-kl) is a case of its own; a reason that
    names no gate set fails the case ``gate``: never reported as passed."""
    report = xent_cli.compare(str(files[0]), str(files[1]))
    gate = {**report.gate, "max_kl": 0.05, "passed": False}
    gate["reasons"] = ["mean KL 0.2 nats exceeds --max-kl 0.05", "something else went wrong"]
    text = render_comparison(dataclasses.replace(report, gate=gate), OutputFormat.junit)
    xml = checked(text)
    assert (xml.tests, xml.failures) == (2, 2)
    assert cases(xml) == {
        "--max-kl 0.05": ["mean KL 0.2 nats exceeds --max-kl 0.05"],
        "gate": ["something else went wrong"],
    }


@pytest.mark.parametrize("command", ["eval", "compare"])
def test_xml_extension_and_also_output_write_the_same_report(files, tmp_path, command):
    inputs = [files[0]] if command == "eval" else list(files)
    expected = {
        fmt: invoke(command, *inputs, "-f", fmt).stdout for fmt in ("junit", "json", "markdown")
    }
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(
        command, *inputs, "-o", out / "r.xml",
        "--also-output", out / "r.json", "--also-output", out / "r.md",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert (out / "r.xml").read_text(encoding="utf-8") == expected["junit"]
    assert (out / "r.json").read_text(encoding="utf-8") == expected["json"]
    assert (out / "r.md").read_text(encoding="utf-8") == expected["markdown"]
    checked(expected["junit"])


def test_also_output_with_a_gate_failing_writes_every_file(files, tmp_path):
    result = invoke("eval", files[0], "--max-loss", 0, "--also-output", tmp_path / "r.xml")
    assert result.exit_code == 1
    xml = checked((tmp_path / "r.xml").read_text(encoding="utf-8"))
    assert xml.failures == 1
    assert "| **overall** |" not in result.stdout  # stdout keeps its own format: the table
    assert "overall" in result.stdout


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("r.pdf", "--also-output {path}: the extension does not name a format"),
        ("missing/r.json", "--also-output {path}: folder"),
    ],
)
def test_also_output_is_checked_before_the_run(files, tmp_path, name, message):
    path = tmp_path / name
    result = invoke("eval", files[0], "--also-output", path)
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith("xent: error: " + message.format(path=path)), result.stderr
    assert "Traceback" not in result.stderr
    assert not path.exists()


def test_merge_writes_the_junit_of_one_eval(frames, tmp_path):
    """Two halves saved and merged: the same document as one eval over the whole file."""
    halves = []
    for i, part in enumerate((frames[0][:150], frames[0][150:])):
        path, state = tmp_path / f"part{i}.csv", tmp_path / f"part{i}.state"
        part.to_csv(path, index=False)
        assert invoke("eval", path, "--save-state", state).exit_code == 0
        halves.append((path, state))
    gates = ["--max-loss", 0.3, "--strict"]
    whole = invoke("eval", *(p for p, _ in halves), *gates, "-f", "junit")
    merged = invoke("merge", *(s for _, s in halves), *gates, "-o", tmp_path / "merged.xml")
    assert whole.exit_code == merged.exit_code == 1
    assert (tmp_path / "merged.xml").read_text(encoding="utf-8") == whole.stdout
    assert checked(whole.stdout).failures == 2
