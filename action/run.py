"""The xent GitHub Action's step (action.yml runs it): run xent once, then publish the report.

Reads the action's inputs from ``INPUT_*`` variables, runs ``xent eval PREDICTIONS`` (or
``xent compare BASELINE PREDICTIONS``) writing the JSON, markdown and JUnit reports from that
one run, appends the markdown to the job summary, creates or updates one pull-request comment
(found by a hidden marker), writes the step's outputs, and exits with xent's exit code: a
failed gate fails the step after the report is posted. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

MARKER = "<!-- xent-report -->"
EVAL_GATES = ("max-loss",)
COMPARE_GATES = (
    "max-regression",
    "max-relative-regression",
    "min-improvement",
    "max-kl",
    "max-churn",
)
PR_EVENTS = ("pull_request", "pull_request_target")
COMMENT_LIMIT = 60_000  # GitHub refuses a comment over 65,536 characters
REPORTS = {"json": "report.json", "markdown": "report.md", "junit": "report.xml"}


class ActionError(Exception):
    """An input the action cannot use: one ``::error::`` line, exit 2."""


def main() -> int:
    try:
        inputs = {name: _input(name) for name in INPUTS}
        comment = _flag(inputs["comment"], "comment")
        marker = _marker(inputs["comment-key"])
        folder = _report_folder(inputs["report-dir"])
        paths = {kind: folder / name for kind, name in REPORTS.items()}
        mode, command = xent_command(inputs, paths)
    except ActionError as error:
        print(f"::error title=xent::{_escape(str(error))}", flush=True)
        return 2
    for path in paths.values():
        path.unlink(missing_ok=True)  # a report left by an earlier run is not this run's
    print("+ xent " + shlex.join(command[3:]), flush=True)
    result = subprocess.run(command, stderr=subprocess.PIPE, text=True, check=False)
    sys.stderr.write(result.stderr)
    sys.stderr.flush()
    code = result.returncode
    report = _read_json(paths["json"]) if code in (0, 1) else None
    markdown = paths["markdown"].read_text(encoding="utf-8") if report is not None else ""
    body = report_body(mode, report, markdown, result.stderr, code) + _footer(report)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(body + "\n")
    for reason in (report or {}).get("gate", {}).get("reasons", []):
        print(f"::error title=xent gate failed::{_escape(reason)}", flush=True)
    url = ""
    target = pull_request() if comment else None
    if target is not None:
        try:
            url = upsert_comment(*target, f"{marker}\n{_shorten(body)}", marker)
        except CommentError as error:
            print(f"::warning title=xent::could not comment on the pull request: {error}")
    write_outputs(mode, report, code, paths, url)
    return code


# action.yml's inputs that this script reads (each as INPUT_<NAME>; GH_TOKEN for gh)
INPUTS = (
    "predictions",
    "baseline",
    "args",
    *EVAL_GATES,
    *COMPARE_GATES,
    "comment",
    "comment-key",
    "report-dir",
)


def _input(name: str) -> str:
    return os.environ.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def _flag(value: str, name: str) -> bool:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ActionError(f"input {name}: expected true or false, got {value!r}")


def _marker(key: str) -> str:
    if not key:
        return MARKER
    if not re.fullmatch(r"[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+)*", key):
        raise ActionError(
            f"input comment-key: letters, digits, '_', '.' and single '-', not {key!r}"
        )
    return f"<!-- xent-report: {key} -->"


def _report_folder(given: str) -> Path:
    """The input report-dir, else a new folder in the runner's temporary folder."""
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        return folder.resolve()
    parent = os.environ.get("RUNNER_TEMP") or None
    return Path(tempfile.mkdtemp(prefix="xent-report-", dir=parent)).resolve()


def xent_command(inputs: dict[str, str], paths: dict[str, Path]) -> tuple[str, list[str]]:
    """("eval" or "compare", the command line): the gates given, the extra arguments, and
    the three reports of the one run."""
    predictions = shlex.split(inputs["predictions"])
    if not predictions:
        raise ActionError("input predictions: give the predictions' files (or globs)")
    baseline = shlex.split(inputs["baseline"])
    if len(baseline) > 1:
        raise ActionError(f"input baseline: one FILE (a file, folder or glob), got {baseline}")
    mode = "compare" if baseline else "eval"
    if baseline and len(predictions) != 1:
        raise ActionError(
            "input predictions: with a baseline, one FILE (a file, folder or quoted glob), "
            f"got {len(predictions)}"
        )
    command = [sys.executable, "-m", "xent_cli", mode, *baseline, *predictions]
    for name in (*EVAL_GATES, *COMPARE_GATES):
        if inputs[name]:
            if (name in EVAL_GATES) != (mode == "eval"):
                what = "an eval gate: not with" if mode == "compare" else "a compare gate: needs"
                raise ActionError(f"input {name} is {what} a baseline")
            command += [f"--{name}", inputs[name]]
    command += shlex.split(inputs["args"])
    for path in paths.values():
        command += ["--also-output", str(path)]
    return mode, command


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def report_body(
    mode: str, report: dict[str, Any] | None, markdown: str, stderr: str, code: int
) -> str:
    """The markdown of the summary and the comment: the report under its verdict (compare's
    markdown starts with its own), or xent's error."""
    if report is None:
        lines = [x for x in stderr.splitlines() if x.startswith(("xent: error", "  hint"))]
        shown = "\n".join(lines or stderr.splitlines()[-5:])
        return f"❌ **xent {mode}** could not run (exit {code}):\n\n```\n{shown}\n```\n"
    if mode == "compare":
        return markdown
    gate = report["gate"]
    if gate["passed"]:
        rules = [k for k, v in gate.items() if k not in ("passed", "reasons") and _is_set(v)]
        verdict = "gate: passed" + (f" ({', '.join(rules)})" if rules else " (no gate set)")
    else:
        verdict = "gate: FAILED: " + "; ".join(gate["reasons"])
    mark = "✅" if gate["passed"] else "❌"
    return f"{mark} **xent eval** — {verdict}\n\n{markdown}"


def _is_set(value: Any) -> bool:
    return value is not None and value is not False  # 0 is a threshold


def _footer(report: dict[str, Any] | None) -> str:
    """``xent 0.1.0 · abc1234 · workflow run`` (what is known)."""
    env = os.environ
    parts = [f"xent {report['version']}"] if report else []
    sha = _event().get("pull_request", {}).get("head", {}).get("sha") or env.get("GITHUB_SHA")
    if sha:
        parts.append(f"`{sha[:7]}`")
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        url = f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/"
        parts.append(f"[workflow run]({url}{env['GITHUB_RUN_ID']})")
    return f"\n<sub>{' · '.join(parts)}</sub>\n" if parts else ""


def _event() -> dict[str, Any]:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return {}
    event = json.loads(Path(path).read_text(encoding="utf-8"))
    return event if isinstance(event, dict) else {}


def _shorten(body: str) -> str:
    if len(body) <= COMMENT_LIMIT:
        return body
    return body[:COMMENT_LIMIT] + "\n\n… (cut: the whole report is in the job summary)\n"


def _escape(text: str) -> str:
    """A workflow command's message: one line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def write_outputs(
    mode: str, report: dict[str, Any] | None, code: int, paths: dict[str, Path], url: str
) -> None:
    """loss, baseline-loss, delta, passed, exit-code, the reports' paths and the comment's
    address, as ``name=value`` lines in ``$GITHUB_OUTPUT``."""
    report = report or {}
    if mode == "compare":
        figures = {
            "loss": report.get("loss_candidate"),
            "baseline-loss": report.get("loss_baseline"),
            "delta": report.get("delta"),
        }
    else:
        figures = {"loss": report.get("loss"), "baseline-loss": None, "delta": None}
    outputs = {name: "" if v is None else _figure(v) for name, v in figures.items()}
    outputs["passed"] = "true" if report.get("gate", {}).get("passed") else "false"
    outputs["exit-code"] = str(code)
    for kind, path in paths.items():
        outputs[f"report-{kind}"] = str(path) if path.exists() else ""
    outputs["comment-url"] = url
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.writelines(f"{name}={value}\n" for name, value in outputs.items())


def _figure(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)  # as in the JSON report


# -- the pull-request comment (GitHub's REST API through the gh command) --


class CommentError(Exception):
    """gh failed (say, a pull request from a fork, whose token may not write): a warning."""


def pull_request() -> tuple[str, int] | None:
    """(owner/repo, number) on a pull-request event, else None."""
    if os.environ.get("GITHUB_EVENT_NAME") not in PR_EVENTS:
        return None
    event = _event()
    number = event.get("pull_request", {}).get("number") or event.get("number")
    repository = os.environ.get("GITHUB_REPOSITORY")
    return (repository, int(number)) if number and repository else None


def upsert_comment(repository: str, number: int, body: str, marker: str) -> str:
    """Update the pull request's comment that starts with ``marker``, or add one; its URL."""
    listing = _gh("api", "--paginate", f"repos/{repository}/issues/{number}/comments?per_page=100")
    ours = [c for c in _json_values(listing) if c.get("body", "").lstrip().startswith(marker)]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump({"body": body}, f)
    try:
        if ours:
            endpoint = f"repos/{repository}/issues/comments/{ours[0]['id']}"
            answer = _gh("api", "--method", "PATCH", endpoint, "--input", f.name)
        else:
            endpoint = f"repos/{repository}/issues/{number}/comments"
            answer = _gh("api", "--method", "POST", endpoint, "--input", f.name)
    finally:
        os.unlink(f.name)
    return str(json.loads(answer).get("html_url", ""))


def _gh(*args: str) -> str:
    try:
        result = subprocess.run(["gh", *args], capture_output=True, text=True, check=False)
    except OSError as error:
        raise CommentError(f"gh: {error.strerror}") from None
    if result.returncode:
        lines = result.stderr.strip().splitlines()
        raise CommentError(lines[-1] if lines else f"gh exited {result.returncode}")
    return result.stdout


def _json_values(text: str) -> list[dict[str, Any]]:
    """The comments of ``gh api --paginate``: one JSON array per page, one after another."""
    decoder, values, at, text = json.JSONDecoder(), [], 0, text.strip()
    while at < len(text):
        page, at = decoder.raw_decode(text, at)
        values += page if isinstance(page, list) else [page]
        while at < len(text) and text[at].isspace():
            at += 1
    return values


if __name__ == "__main__":
    sys.exit(main())
