"""Make the README's picture of the table from a real run of ``xent eval``.

    python docs/make_pictures.py           # rewrite docs/table.svg
    python docs/make_pictures.py --check   # exit 1 if docs/table.svg is not what a run gives

The command runs on a pseudo-terminal 100 columns wide (as a user's terminal, with colour),
from the repository root; its output is drawn by rich's ``export_svg`` with a fixed title and
fixed ids, so the same output always gives the same bytes (no date, no random ids).
``tests/test_docs.py`` runs ``--check``, so the picture cannot go stale: after an intended
change of the table, run this script and commit the new SVG.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS, LINES = 100, 40
PICTURES = {
    # file under docs/: the command, run from the repository root
    "table.svg": ["xent", "eval", "sample_data/digits_logits.csv"],
}


def run_on_terminal(argv: list[str]) -> str:
    """``argv``'s output as a terminal of COLUMNS x LINES receives it (ANSI colours kept)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR"}}
    env.update(COLUMNS=str(COLUMNS), LINES=str(LINES), TERM="xterm-256color", LC_ALL="C.UTF-8")
    # `xent ARGS` is `python -m xent_cli ARGS` of this interpreter (the same program).
    command = [sys.executable, "-m", "xent_cli", *argv[1:]]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError as error:  # Linux: EIO once the terminal's last writer has closed it
            if error.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    if process.wait() != 0:
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}")
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def picture(argv: list[str]) -> str:
    """The SVG of ``$ ARGV`` and its output."""
    from rich.console import Console
    from rich.terminal_theme import DIMMED_MONOKAI
    from rich.text import Text

    console = Console(
        record=True,
        width=COLUMNS,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
    )
    shown = " ".join(argv)
    console.print(Text.assemble(("$ ", "dim"), (shown, "bold")), soft_wrap=True)
    console.print(Text.from_ansi(run_on_terminal(argv).rstrip("\n")), soft_wrap=True)
    return console.export_svg(title=shown, theme=DIMMED_MONOKAI, unique_id="xent")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    stale = []
    for name, argv in PICTURES.items():
        path = ROOT / "docs" / name
        svg = picture(argv)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != svg:
                stale.append(name)
        else:
            path.write_text(svg, encoding="utf-8")
            print(f"wrote docs/{name}")
    for name in stale:
        print(
            f"docs/{name} is not what `{' '.join(PICTURES[name])}` shows now: "
            "run python docs/make_pictures.py and commit it",
            file=sys.stderr,
        )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
