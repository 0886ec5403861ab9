"""Run a composite action's steps from its action.yml as a GitHub runner would.

The ``run:`` scripts in order, each as ``bash --noprofile --norc -eo pipefail FILE`` (GitHub's
``shell: bash``) with the step's ``env:``, its own ``$GITHUB_OUTPUT`` file, and the job's
``$GITHUB_STEP_SUMMARY`` and ``$GITHUB_EVENT_PATH``; the first failing step ends the action.
``${{ }}`` expressions are substituted for the forms the action uses (inputs with their
defaults, ``github.action_path``, ``github.token``, ``env.*``, ``steps.*.outputs.*``, and
``if:`` comparisons with a string); any other form is an error, not a guess. A ``uses:``
step cannot run here: it is recorded (with its ``with:``) and skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
COMPARISON = re.compile(r"^(\S+)\s*(==|!=)\s*'([^']*)'$")
# what a runner sets for every job, and what the tests leave to the runner they run on
RUNNER_PREFIXES = ("GITHUB_", "RUNNER_", "INPUT_", "ACTIONS_")


@dataclass
class ActionRun:
    """What one use of the action did."""

    code: int
    outputs: dict[str, str]  # the action's outputs (action.yml's outputs: values)
    log: str  # every step's stdout and stderr
    used: list[dict[str, Any]] = field(default_factory=list)  # the uses: steps that would run


@dataclass
class Runner:
    """A job's context: a workspace, an event, and the environment of the steps."""

    action_dir: Path
    workspace: Path
    env: dict[str, str]
    token: str = "ghs_test_token"

    def run(self, inputs: dict[str, str]) -> ActionRun:
        action = yaml.safe_load((self.action_dir / "action.yml").read_text(encoding="utf-8"))
        assert action["runs"]["using"] == "composite"
        declared = action.get("inputs", {})
        unknown = set(inputs) - set(declared)
        assert not unknown, f"inputs not declared in action.yml: {unknown}"
        context = Context(self, declared, inputs)
        log, used, code = [], [], 0
        for number, step in enumerate(action["runs"]["steps"]):
            if "if" in step and not context.condition(step["if"]):
                continue
            if "uses" in step:
                with_ = {k: context.substitute(str(v)) for k, v in step.get("with", {}).items()}
                used.append({"uses": step["uses"], "with": with_})
                continue
            assert step.get("shell") == "bash", "a composite action's run step names its shell"
            script = self.workspace.parent / f"step-{number}.sh"
            script.write_text(context.substitute(step["run"]), encoding="utf-8")
            output = self.workspace.parent / f"step-{number}.output"
            output.write_text("")
            env = {
                **self.env,
                **{k: context.substitute(str(v)) for k, v in step.get("env", {}).items()},
                "GITHUB_OUTPUT": str(output),
                "GITHUB_ACTION_PATH": str(self.action_dir),
            }
            result = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workspace,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            log.append(result.stdout + result.stderr)
            if "id" in step:
                context.steps[step["id"]] = parse_outputs(output.read_text(encoding="utf-8"))
            if result.returncode:
                code = result.returncode
                break
        outputs = {
            name: context.substitute(str(spec["value"]))
            for name, spec in action.get("outputs", {}).items()
        }
        return ActionRun(code, outputs, "".join(log), used)


class Context:
    """The values ``${{ }}`` can name in one use of the action."""

    def __init__(self, runner: Runner, declared: dict[str, Any], given: dict[str, str]):
        self.runner = runner
        self.steps: dict[str, dict[str, str]] = {}
        self.inputs = {}
        for name, spec in declared.items():
            default = str((spec or {}).get("default", ""))
            self.inputs[name] = given[name] if name in given else self.substitute(default)

    def value(self, expression: str) -> str:
        parts = expression.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            return self.inputs[parts[1]]
        if expression == "github.action_path":
            return str(self.runner.action_dir)
        if expression == "github.token":
            return self.runner.token
        if parts[0] == "env" and len(parts) == 2:
            return self.runner.env.get(parts[1], "")
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")
        raise ValueError(f"expression not supported by the test runner: {expression!r}")

    def substitute(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: self.value(m.group(1)), text)

    def condition(self, text: str) -> bool:
        match = COMPARISON.match(EXPRESSION.sub(lambda m: m.group(1), text).strip())
        if match is None:
            raise ValueError(f"if: not supported by the test runner: {text!r}")
        left, operator, right = match.groups()
        return (self.value(left) == right) == (operator == "==")


def parse_outputs(text: str) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIMITER`` blocks, as the runner reads them."""
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            outputs[name] = "\n".join(block)
        elif line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def job_environment(tools: Path, python_bin: Path, workspace: Path) -> dict[str, str]:
    """This process's environment less the runner's variables, with ``tools`` (the stand-ins
    for pip and gh) first on PATH, then the Python that has xent installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(RUNNER_PREFIXES)}
    env.pop("GH_TOKEN", None)
    env["PATH"] = os.pathsep.join([str(tools), str(python_bin), os.environ.get("PATH", "")])
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_REPOSITORY="octo/models",
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID="4242",
        GITHUB_SHA="0123456789abcdef0123456789abcdef01234567",
        RUNNER_TEMP=str(workspace.parent / "runner-temp"),
    )
    Path(env["RUNNER_TEMP"]).mkdir(exist_ok=True)
    return env


def write_event(path: Path, name: str, env: dict[str, str], number: int | None) -> None:
    """A ``pull_request`` event (or another ``name`` without a pull request)."""
    event: dict[str, Any] = {"repository": {"full_name": env["GITHUB_REPOSITORY"]}}
    if number is not None:
        head = {"sha": "fedcba9876543210fedcba9876543210fedcba98", "ref": "feature"}
        event |= {"action": "synchronize", "number": number}
        event["pull_request"] = {"number": number, "head": head}
    path.write_text(json.dumps(event), encoding="utf-8")
    env.update(GITHUB_EVENT_NAME=name, GITHUB_EVENT_PATH=str(path))
