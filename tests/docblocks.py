"""The commands shown in README.md and docs/*.md: found, run, checked, and (on request)
their shown outputs rewritten from the real ones.

``tests/test_docs.py`` runs every block; after an intended change of an output (a new table
layout, say), one command rewrites what the pages show, for review in ``git diff``::

    python -m tests.docblocks --update          # every page, then docs/make_pictures.py
    python -m tests.docblocks --update docs/compare.md

How a page is written so that its blocks can be run (docs/development.md says it for writers):

- A ```` ```console ```` block holds commands after ``$ ``; the lines up to the next ``$ `` are
  the output the command claims (standard output and standard error, as a terminal shows
  them). A line ``...`` stands for any number of lines. A command with no lines after it
  claims no output; only its exit code is checked.
- A ```` ```bash ```` / ```` ```sh ```` block: each line (``\\`` continues one) is a command;
  outputs are not shown.
- A command exits 0 unless its comment says otherwise: ``$ xent eval f.csv --strict  # exit 1``.
- A ```` ```python ```` block runs as a script and must exit 0.
- ``<!-- docs-test: ... -->`` lines right above a block: ``skip: REASON`` (a network, a
  cluster; keep these few), ``setup: COMMAND`` (run first, unseen), ``exit: N`` (a python
  block's or GitHub step's status), ``github-step`` (a YAML block: its ``run: |`` script runs
  as GitHub Actions would, with stand-ins for ``pip`` and ``gh``).
- Every page's blocks run in order, in one new folder holding a copy of ``sample_data/``, so
  a block may use the files an earlier block of its page made (``printf ... > f.csv``).

Outputs are compared after normalising what legitimately varies: the version, trailing
spaces, and the last bits of numbers printed at full precision (as the golden tests allow).
Commands run with ``COLUMNS=100``: a change of the table's layout shows as a plain diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
WIDTH = "100"
RUN_LANGS = {"console", "bash", "sh", "shell", "python"}
TOOLS = ("jq", "awk", "gzip")  # programs besides xent that the pages' commands use
COMMAND_LIKE = re.compile(r"^\s*(\$ |xent |python -m xent_cli )")
EXIT_COMMENT = re.compile(r"\s#\s*exit\s+(\d+)\b")
DIRECTIVE = re.compile(
    r"^\s*<!--\s*docs-test:\s*(?P<key>[\w-]+)\s*(?::\s*(?P<value>.*?))?\s*-->\s*$"
)
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
VERSION = [
    (re.compile(r'"version": "[^"]*"'), '"version": "*"'),
    (re.compile(r"\|v:[^|\"\s]+"), "|v:*"),
    (re.compile(r"\bxent \d+\.\d+\.\d+\S*"), "xent *"),
]
TIMEOUT = 600


@dataclass
class Command:
    text: str  # what the shell runs
    line: int  # 1-based line of the page where the command starts
    exit: int
    shown: list[str] | None = None  # the output the page claims (None: none)
    span: tuple[int, int] | None = None  # 0-based [start, end) page lines of the shown output


@dataclass
class Block:
    page: str  # path relative to the repository
    line: int  # 1-based line of the opening fence
    lang: str
    body: list[str]
    indent: str
    skip: str | None = None
    setup: list[str] = field(default_factory=list)
    exit: int = 0
    github_step: bool = False
    commands: list[Command] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"

    def missing_tools(self) -> list[str]:
        text = "\n".join([*self.setup, *self.body])
        return [t for t in TOOLS if re.search(rf"\b{t}\b", text) and not shutil.which(t)]

    @property
    def runs(self) -> bool:
        return self.lang in RUN_LANGS or self.github_step


def pages() -> list[Path]:
    """The pages whose commands are run: the README and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def relative(page: Path) -> str:
    return page.resolve().relative_to(ROOT).as_posix()


def parse(page: Path) -> list[Block]:
    """The fenced blocks of a page, with their directives and (for shell blocks) commands."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        end = i + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence) and lines[end].strip().strip(fence[0]) == ""
        ):
            end += 1
        body = [line.removeprefix(indent) for line in lines[i + 1 : end]]
        block = Block(relative(page), i + 1, opening["info"].strip().split(" ")[0], body, indent)
        j = i - 1
        if j >= 0 and lines[j].startswith("<!-- ci-example"):
            block.skip = "the README's CI step: tests/test_ci_example.py runs it"
        while j >= 0 and (directive := DIRECTIVE.match(lines[j])):
            key, value = directive["key"], directive["value"] or ""
            if key == "skip":
                block.skip = value or "skipped"
            elif key == "setup":
                block.setup.insert(0, value)
            elif key == "exit":
                block.exit = int(value)
            elif key == "github-step":
                block.github_step = True
            else:
                raise ValueError(f"{block.name}: unknown docs-test directive {key!r}")
            j -= 1
        if block.lang == "console":
            block.commands = console_commands(block)
        elif block.lang in {"bash", "sh", "shell"}:
            block.commands = script_commands(block)
        blocks.append(block)
        i = end + 1
    return blocks


def expected_exit(command: str) -> int:
    found = EXIT_COMMENT.search(command)
    return int(found[1]) if found else 0


def console_commands(block: Block) -> list[Command]:
    """``$ `` commands (a trailing ``\\`` continues one) and the output lines after each."""
    commands: list[Command] = []
    i = 0
    body = block.body
    while i < len(body):
        if not body[i].startswith("$ "):
            if body[i].strip():
                raise ValueError(f"{block.name}: line {i + 1} of the block is no '$ ' command")
            i += 1
            continue
        start = i
        text = body[i][2:]
        while text.endswith("\\") and i + 1 < len(body):
            i += 1
            text = text + "\n" + body[i].removeprefix("> ")
        i += 1
        out_start = i
        while i < len(body) and not body[i].startswith("$ "):
            i += 1
        shown = body[out_start:i]
        while shown and not shown[-1].strip():
            shown.pop()
        first = block.line  # 0-based page line of the block's first body line
        command = Command(text, block.line + 1 + start, expected_exit(text))
        if shown:
            command.shown = shown
            command.span = (first + out_start, first + out_start + len(shown))
        commands.append(command)
    return commands


def script_commands(block: Block) -> list[Command]:
    """Each line of a bash block (``\\`` continues one), comments and blank lines aside."""
    commands = []
    pending: list[str] = []
    start = 0
    for i, line in enumerate(block.body):
        if not pending:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = i
        pending.append(line)
        if line.endswith("\\"):
            continue
        text = "\n".join(pending)
        commands.append(Command(text, block.line + 1 + start, expected_exit(text)))
        pending = []
    return commands


def normalise(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        for pattern, replacement in VERSION:
            line = pattern.sub(replacement, line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    return out


def same_line(actual: str, shown: str) -> bool:
    from .test_golden import same_but_last_bits

    return same_but_last_bits(actual, shown)


def output_matches(actual: list[str], shown: list[str]) -> bool:
    """Equal line by line, where a shown ``...`` line stands for any number of lines."""
    actual, shown = normalise(actual), normalise(shown)
    parts: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == "...":
            parts.append([])
        else:
            parts[-1].append(line)
    if len(parts) == 1:
        return len(actual) == len(shown) and all(map(same_line, actual, shown))

    def at(k: int, part: list[str]) -> bool:
        return k + len(part) <= len(actual) and all(
            same_line(actual[k + j], line) for j, line in enumerate(part)
        )

    head, *middle, tail = parts
    if not at(0, head) or len(head) + len(tail) > len(actual):
        return False
    if not at(len(actual) - len(tail), tail):
        return False
    k, end = len(head), len(actual) - len(tail)
    for part in middle:
        while k + len(part) <= end and not at(k, part):
            k += 1
        if k + len(part) > end:
            return False
        k += len(part)
    return True


def updated_output(actual: list[str], shown: list[str]) -> list[str] | None:
    """What the page should show: the real output, with a single ``...`` kept where it was
    (as many lines before and after it as before). None: more than one ``...``."""
    actual = [line.rstrip() for line in actual]
    while actual and not actual[-1]:
        actual.pop()
    marks = [i for i, line in enumerate(shown) if line.strip() == "..."]
    if not marks:
        return actual
    if len(marks) > 1:
        return None
    head, tail = marks[0], len(shown) - marks[0] - 1
    if head + tail >= len(actual):
        return actual
    return [*actual[:head], "...", *(actual[len(actual) - tail :] if tail else [])]


def environment(folder: Path) -> dict[str, str]:
    """The commands' environment: this Python's scripts first on PATH, a fixed width, no
    colour, unbuffered output (so stdout and stderr interleave as on a terminal)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"GITHUB_STEP_SUMMARY", "PR_NUMBER", "FORCE_COLOR", "CLICOLOR_FORCE"}
    }
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        COLUMNS=WIDTH,
        LINES="40",
        NO_COLOR="1",
        TERM="dumb",
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
        LC_ALL="C.UTF-8",
    )
    return env


def new_folder(folder: Path) -> Path:
    """A folder where a page's commands run: a copy of sample_data/ and nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SAMPLES, folder / "sample_data", dirs_exist_ok=True)
    return folder


def shell(text: str, folder: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run ``text`` with bash in ``folder``; the exit code and the merged output's lines,
    where the folder's own path reads ``$PWD`` (the page's commands know it as that)."""
    result = subprocess.run(
        ["bash", "-c", text],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=TIMEOUT,
        check=False,
    )
    text = result.stdout.decode("utf-8", "replace")
    for path in {str(folder.resolve()), str(folder)}:
        text = text.replace(path, "$PWD")
    return result.returncode, text.splitlines()


@dataclass
class Outcome:
    command: Command | None
    problem: str | None = None  # None: as the page says
    output: list[str] = field(default_factory=list)


def run_block(block: Block, folder: Path) -> list[Outcome]:
    """Run a block's setup and commands in ``folder``; one outcome per command."""
    env = environment(folder)
    for command in block.setup:
        code, output = shell(command, folder, env)
        if code:
            return [Outcome(None, f"setup `{command}` exited {code}:\n" + "\n".join(output))]
    if block.lang == "python":
        script = folder / "_docs_block.py"
        script.write_text("\n".join(block.body) + "\n", encoding="utf-8")
        code, output = shell(f"python {script.name}", folder, env)
        script.unlink()
        command = Command("\n".join(block.body), block.line + 1, block.exit)
        problem = None if code == block.exit else f"exited {code}, expected {block.exit}"
        return [Outcome(command, problem, output)]
    if block.github_step:
        return [run_github_step(block, folder, env)]
    outcomes = []
    for command in block.commands:
        code, output = shell(command.text, folder, env)
        problem = None
        if code != command.exit:
            problem = f"exited {code}, the page says {command.exit}"
        elif command.shown is not None and not output_matches(output, command.shown):
            problem = "printed something else than the page shows"
        outcomes.append(Outcome(command, problem, output))
    return outcomes


def github_script(block: Block) -> str:
    """The ``run: |`` script of a GitHub Actions step in a YAML block."""
    lines = block.body
    start = next(i for i, line in enumerate(lines) if line.strip() == "run: |") + 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    return "\n".join(line[indent:] for line in lines[start:] if line.strip()) + "\n"


def run_github_step(block: Block, folder: Path, env: dict[str, str]) -> Outcome:
    """A YAML step's script under ``bash -e`` (as GitHub runs it), with ``pip`` and ``gh``
    replaced by stand-ins that only log their arguments."""
    tools = folder / "_github_bin"
    tools.mkdir(exist_ok=True)
    for name in ("pip", "gh"):
        stand_in = tools / name
        stand_in.write_text(f'#!/bin/sh\necho "{name} $*" >> "{folder / "_github_calls.log"}"\n')
        stand_in.chmod(0o755)
    step_env = {
        **env,
        "PATH": os.pathsep.join([str(tools), env["PATH"]]),
        "GITHUB_STEP_SUMMARY": str(folder / "_github_summary.md"),
    }
    script = github_script(block)
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=folder,
        env=step_env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    command = Command(script, block.line + 1, block.exit)
    problem = None
    if result.returncode != block.exit:
        problem = f"exited {result.returncode}, expected {block.exit}"
    return Outcome(command, problem, (result.stdout + result.stderr).splitlines())


def describe(block: Block, outcome: Outcome) -> str:
    """A failure as the integrator needs it: where, what ran, and what it printed (as a diff
    from what the page shows, when the page shows an output)."""
    import difflib

    command = outcome.command
    where = f"{block.page}:{command.line if command else block.line}"
    text = f"{where}: {outcome.problem}"
    if command is not None:
        text += "\n  command: " + command.text.replace("\n", "\n           ")
    exited = "exited" in (outcome.problem or "")
    if command is not None and command.shown is not None and not exited:
        diff = difflib.unified_diff(
            command.shown, outcome.output, "the page shows", "it printed", lineterm="", n=2
        )
        return text + "\n" + "\n".join("    " + line for line in diff)
    return text + "\n  it printed:\n" + "\n".join("    | " + s for s in outcome.output)


def update(page: Path, folder: Path) -> list[str]:
    """Run a page's blocks and rewrite the outputs it shows from the real ones. Returns the
    problems an update cannot fix (exit codes, blocks that stop earlier ones)."""
    blocks = parse(page)
    lines = page.read_text(encoding="utf-8").splitlines()
    replacements: list[tuple[tuple[int, int], list[str]]] = []
    problems = []
    for block in blocks:
        if not block.runs or block.skip:
            continue
        for outcome in run_block(block, folder):
            command = outcome.command
            if outcome.problem and (command is None or "exited" in outcome.problem):
                problems.append(describe(block, outcome))
            if command is None or command.shown is None or command.span is None:
                continue
            new = updated_output(outcome.output, command.shown)
            if new is None:
                problems.append(f"{block.page}:{command.line}: several '...': update by hand")
            elif new != command.shown:
                replacements.append((command.span, [block.indent + s if s else s for s in new]))
    for (start, end), new in sorted(replacements, reverse=True):
        lines[start:end] = new
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return problems


def main(argv: list[str]) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(
        prog="python -m tests.docblocks",
        description="Run the commands shown in README.md and docs/*.md; with --update, "
        "rewrite the outputs they show from the real ones (and remake docs/ pictures).",
    )
    parser.add_argument("--update", action="store_true", help="rewrite the shown outputs")
    parser.add_argument("pages", nargs="*", type=Path, help="pages (default: all)")
    args = parser.parse_args(argv)
    chosen = [p.resolve() for p in args.pages] or pages()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, page in enumerate(chosen):
            folder = new_folder(Path(tmp) / str(n))
            if args.update:
                problems += update(page, folder)
                continue
            for block in parse(page):
                if block.runs and not block.skip:
                    problems += [describe(block, o) for o in run_block(block, folder) if o.problem]
    if args.update and not args.pages:
        subprocess.run([sys.executable, str(ROOT / "docs" / "make_pictures.py")], check=True)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
