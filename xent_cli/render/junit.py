"""Report -> JUnit XML: one ``<testsuite>``, one ``<testcase>`` per gate, for CI test reports.

GitLab (``artifacts: reports: junit``), Jenkins, Azure DevOps and GitHub's test-report actions
read this format. Each gate that was set (``--max-loss``, ``--strict``, a slice gate, a compare
gate) is a test case that fails with the gate's reason; without any gate, one test case for the
evaluation itself passes. The report's figures are the suite's ``<properties>``. The output is
deterministic (no timestamp, host or duration), like the other formats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the eval command need not load the comparison
    from xent_cli.comparison.report import ComparisonReport
    from xent_cli.core.report import Report

# gate keys that are not gates: the verdict, and how compare's gates judge
NOT_GATES = ("passed", "reasons", "fail_on")
# the parts of a report's JSON left out of the properties (the reasons are the failures)
NOT_PROPERTIES = ("classes", "warnings", "rows", "gate.reasons")
# characters XML 1.0 cannot hold, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def eval_junit(report: Report) -> str:
    """``xent eval``'s report (gates judged) as a JUnit document."""
    data = report.to_dict()
    warnings = [f"{w.code}: {w.message}" for w in report.warnings]
    # --strict fails on the warnings: its failure lists them
    return _document("eval", data, warnings, details={"strict": warnings})


def compare_junit(report: ComparisonReport) -> str:
    """``xent compare``'s report as a JUnit document."""
    data = report.to_dict()
    warnings = [f"{w['side']}: {w['code']}: {w['message']}" for w in report.warnings]
    return _document("compare", data, warnings)


def _document(
    command: str,
    data: dict[str, Any],
    warnings: Sequence[str],
    details: dict[str, Sequence[str]] | None = None,
) -> str:
    """The suite ``xent COMMAND``: its figures, a case per gate, the warnings as stderr."""
    import xml.etree.ElementTree as ET  # (5 ms at start-up: only when JUnit XML is asked for)

    cases = list(_cases(data["gate"], "evaluation" if command == "eval" else "comparison"))
    failures = sum(1 for _, reasons in cases if reasons)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": "xent", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"xent {command}", **counts, "skipped": "0"})
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(data):
        ET.SubElement(properties, "property", {"name": _text(name), "value": _text(value)})
    ET.SubElement(properties, "property", {"name": "n_warnings", "value": str(len(warnings))})
    for (key, name), reasons in cases:
        attributes = {"classname": f"xent.{command}", "name": _text(name)}
        case = ET.SubElement(suite, "testcase", attributes)
        if reasons:
            lines = [*reasons, *((details or {}).get(key, ()))]
            failure = ET.SubElement(
                case, "failure", {"message": _text("; ".join(reasons)), "type": "xent.gate"}
            )
            failure.text = _text("\n".join(lines))
    if warnings:
        ET.SubElement(suite, "system-err").text = _text("\n".join(warnings))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _cases(gate: dict[str, Any], ungated: str) -> Iterator[tuple[tuple[str, str], list[str]]]:
    """((gate key, test case name), the gate's failure reasons) for each gate that was set;
    a reason is the gate's when it names the gate's option. Reasons naming no gate set (none
    today) fail a last case ``gate``, so that a failed gate is never reported as passed.
    Without any gate, one passing case named ``ungated``."""
    reasons = list(gate.get("reasons", []))
    rules = [(k, v) for k, v in gate.items() if k not in NOT_GATES and v is not None]
    rules = [(k, v) for k, v in rules if v is not False]
    if not rules and not reasons:
        yield ("", ungated), []
    for key, value in rules:
        option = "--" + key.replace("_", "-")
        mine = [r for r in reasons if re.search(re.escape(option) + r"(?![\w-])", r)]
        reasons = [r for r in reasons if r not in mine]
        name = option if value is True else f"{option} {_threshold(value)}"
        yield (key, name), mine
    if reasons:
        yield ("", "gate"), reasons


def _properties(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """The report's figures as (dotted name, value): numbers, strings, flags and lists of
    them, at any depth; lists of records (classes, bins, rows) are left to the JSON."""
    for key, value in data.items():
        name = prefix + str(key)
        if name in NOT_PROPERTIES or value is None:
            continue
        if isinstance(value, dict):
            yield from _properties(value, name + ".")
        elif isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                yield name, ", ".join(_value(v) for v in value)
        else:
            yield name, _value(value)


def _value(value: Any) -> str:
    """As in the JSON report (numbers exactly, non-finite ones as ``inf`` / ``nan``)."""
    return value if isinstance(value, str) else json.dumps(value)


def _threshold(value: Any) -> str:
    """A gate's threshold as its reasons write it (``0.01``, ``0``, ``inf``)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _text(text: str) -> str:
    """Text XML 1.0 can hold: control characters (class names are data) written as ``\\xNN``."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
