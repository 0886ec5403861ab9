"""README.md and docs/: every command they show runs and exits as they say, with the output
they show; the README stays short, its set-up commands are CI's, links resolve, install
commands follow one convention, and the picture of the table is the one the script makes.

A failure after an intended change of an output: ``python -m tests.docblocks --update``,
then review ``git diff``. How pages are written for this: ``tests/docblocks.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

import pytest

from . import docblocks
from .docblocks import ROOT, Block

BLOCKS = [block for page in docblocks.pages() for block in docblocks.parse(page)]
RUNNABLE = [block for block in BLOCKS if block.runs]


class PageFolders:
    """One folder per page, where its blocks run in order. A block run alone (``-k``) first
    runs the blocks before it on its page, whose files it may use."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.folders: dict[str, Path] = {}
        self.done: dict[str, int] = {}

    def ready_for(self, block: Block) -> Path:
        page = block.page
        if page not in self.folders:
            self.folders[page] = docblocks.new_folder(self.base / re.sub(r"\W", "_", page))
            self.done[page] = 0
        folder = self.folders[page]
        earlier = [b for b in RUNNABLE if b.page == page and not b.skip]
        for previous in earlier[self.done[page] :]:
            if previous is block:
                break
            docblocks.run_block(previous, folder)
        self.done[page] = next(
            (i + 1 for i, b in enumerate(earlier) if b is block), self.done[page]
        )
        return folder


@pytest.fixture(scope="module")
def page_folders(tmp_path_factory: pytest.TempPathFactory) -> PageFolders:
    return PageFolders(tmp_path_factory.mktemp("docs"))


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.name for b in RUNNABLE])
def test_shown_commands_run_as_shown(block: Block, page_folders: PageFolders) -> None:
    if block.skip:
        pytest.skip(block.skip)
    if block.missing_tools():
        pytest.skip(f"needs {', '.join(block.missing_tools())}, not installed here")
    folder = page_folders.ready_for(block)
    outcomes = docblocks.run_block(block, folder)
    failures = [docblocks.describe(block, o) for o in outcomes if o.problem]
    assert not failures, (
        "\n\n".join(failures)
        + "\n\nIf the new output is right: python -m tests.docblocks --update, review git diff"
    )


def test_every_command_block_is_run() -> None:
    """A block that shows commands is one the tests run (console, bash, python), or says
    why not (``<!-- docs-test: skip: ... -->``)."""
    unrun = [
        block.name
        for block in BLOCKS
        if not block.runs
        and not block.skip
        and any(docblocks.COMMAND_LIKE.match(line) for line in block.body)
    ]
    assert not unrun, f"blocks with commands that no test runs (give them a language): {unrun}"


def test_skips_are_few() -> None:
    skipped = [f"{b.name} ({b.skip})" for b in RUNNABLE if b.skip]
    assert len(skipped) <= 12, skipped


def test_console_blocks_have_commands() -> None:
    empty = [b.name for b in BLOCKS if b.lang == "console" and not b.commands]
    assert not empty


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; the reference goes to docs/"


SETUP_COMMANDS = [
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && "
    "xent eval sample_data/digits_logits.csv",
    "python3 -m venv .venv && . .venv/bin/activate && pip install -c requirements-test.txt "
    "-e '.[test]' && python -m pytest -q",
]


@pytest.mark.parametrize("command", SETUP_COMMANDS)
def test_setup_commands_are_the_readmes_and_cis(command: str) -> None:
    """The README's two set-up commands, verbatim, are the steps .ci/run takes on a fresh
    machine (where they are run; here they would install from the network)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"\n{command}\n" in readme
    ci_steps = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    steps = [step.strip() for step in command.split("&&")]
    assert all(step in ci_steps for step in steps), (steps, ci_steps)
    ordered = [step for step in ci_steps if step in steps[2:]]
    assert ordered == steps[2:], (steps, ci_steps)


# -- links ----------------------------------------------------------------------------------

LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
# Pages that other branches add (the CI page comes with the GitHub Action's work).
ADDED_ELSEWHERE = {"docs/ci.md"}


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if docblocks.FENCE.match(line):
            in_fence = not in_fence
        if in_fence or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def markdown_files() -> list[Path]:
    return [*docblocks.pages(), ROOT / "sample_data" / "README.md"]


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: docblocks.relative(p))
def test_links_resolve(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for match in LINK.finditer(text):
        target = match["target"]
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        name = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
        if name in ADDED_ELSEWHERE and not file.exists():
            continue
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [p.name for p in (ROOT / "docs").glob("*.md") if f"(docs/{p.name}" not in readme]
    assert not unlinked


# -- install commands ------------------------------------------------------------------------

PIP = re.compile(r"pip install (?P<args>[^`\n]*)")
# From a checkout, '.' names the package; everywhere else it is 'xent-cli' from PyPI.
CHECKOUT_PAGES = {"README.md", "docs/development.md"}


def test_install_commands_follow_one_convention() -> None:
    extras = set(metadata("xent-cli").get_all("Provides-Extra") or [])
    wrong = []
    for page in docblocks.pages():
        name = docblocks.relative(page)
        for match in PIP.finditer(page.read_text(encoding="utf-8")):
            args = match["args"].strip()
            for package in re.findall(r"'?((?:xent-cli|\.)(?:\[[\w,]+\])?)'?(?=\s|$|\))", args):
                base, _, rest = package.partition("[")
                asked = set(rest.rstrip("]").split(",")) if rest else set()
                if asked - extras:
                    wrong.append(f"{name}: {args}: no extra {sorted(asked - extras)}")
                if base == "." and name not in CHECKOUT_PAGES:
                    wrong.append(f"{name}: {args}: a user's page installs 'xent-cli[...]'")
                if rest and not re.search(r"'(xent-cli|\.)\[", args):
                    wrong.append(f"{name}: {args}: quote extras ('xent-cli[plot]') for zsh")
    assert not wrong, wrong


# -- the picture -----------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="the picture is taken on a pseudo-terminal")
def test_the_picture_of_the_table_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_pictures.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
