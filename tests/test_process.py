"""Whole-process behaviour: clean exits after pyarrow, Ctrl-C, colour, closed pipes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from xent_cli.cli.emit import _color_ok

from .conftest import SAMPLES

XENT = [sys.executable, "-m", "xent_cli"]


@pytest.mark.parametrize("name", ["iris_probs.parquet", "digits_logits.jsonl"])
def test_process_exits_cleanly_after_reading(name):
    for _ in range(3):
        result = subprocess.run([*XENT, "eval", SAMPLES / name, "-f", "json"], capture_output=True)
        assert result.returncode == 0
        assert result.stderr == b""
        json.loads(result.stdout)


def test_process_exit_code_2_after_a_parquet_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"label": [7, 0], "logit_0": [0.0, 1.0], "logit_1": [1.0, 0.0]}), path)
    result = subprocess.run([*XENT, "eval", path], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("xent: error: ")
    assert "terminate called" not in result.stderr


def test_ctrl_c_prints_one_line_and_exits_130():
    process = subprocess.Popen(
        [*XENT, "eval", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(b"label,logit_0,logit_1\n" + b"0,1.5,0.5\n" * 2000)
    process.stdin.flush()
    time.sleep(1.5)  # started and waiting for more input
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    lines = stderr.decode().splitlines()
    assert lines == ["xent: error: interrupted"]


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert _color_ok(FakeStream(tty=True))
    assert not _color_ok(FakeStream(tty=False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _color_ok(FakeStream(tty=True))


def test_piped_table_has_no_escape_codes():
    result = subprocess.run(
        [*XENT, "eval", SAMPLES / "digits_logits.csv"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout
    assert "overall" in result.stdout


def test_input_file_is_not_modified(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes((SAMPLES / "iris_problems.csv").read_bytes())
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    subprocess.run([*XENT, "eval", path, "--renormalize"], capture_output=True, check=True)
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before


def test_evaluating_files_does_not_import_pandas():
    """pandas costs a third of a second of start-up; the readers and kernels do without it."""
    code = (
        "import sys, xent_cli\n"
        f"for name in {['iris_problems.csv', 'digits_logits.jsonl', 'iris_probs.parquet']!r}:\n"
        f"    xent_cli.evaluate({str(SAMPLES)!r} + '/' + name, id='label')\n"
        f"xent_cli.evaluate({str(SAMPLES / 'lm_tokens.parquet')!r})\n"  # token files too
        "print('pandas' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_a_json_report_of_a_parquet_token_file_loads_only_its_own_modules():
    """Each module costs start-up: a Parquet token file reported as JSON loads no table
    renderer, no other format's reader, and no slicer (no --by)."""
    code = (
        "import sys\n"
        "from xent_cli import launch\n"
        f"sys.argv = ['xent', 'eval', {str(SAMPLES / 'lm_tokens.parquet')!r}, '-f', 'json']\n"
        "import os\n"
        "exit_ = os._exit\n"
        "def report(code):\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith('xent_cli.'))\n"
        "    print(' '.join(loaded), file=sys.stderr, flush=True)\n"
        "    exit_(code)\n"
        "os._exit = report\n"
        "launch.main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = set(result.stderr.split())
    assert {"xent_cli.io.parquet", "xent_cli.render.json_text"} <= loaded
    unneeded = {
        "xent_cli.render.table", "xent_cli.render.junit", "xent_cli.render.report",
        "xent_cli.io.records", "xent_cli.io.lmeval", "xent_cli.io.openai",
        "xent_cli.io.arrowipc", "xent_cli.core.slicer",
    }  # fmt: skip
    assert not unneeded & loaded


_GC_PROBE = """
import gc, os, sys
from xent_cli import launch
exit_ = os._exit
def report(code):
    print("collector", gc.isenabled(), gc.get_freeze_count() > 0, file=sys.stderr, flush=True)
    exit_(code)
os._exit = report
sys.argv = ["xent", *sys.argv[1:]]
launch.main()
"""


@pytest.mark.parametrize(
    "args", [["eval", "lm_tokens.parquet", "-f", "json"], ["rows", "iris_probs.parquet"]]
)
def test_the_collector_is_off_while_modules_load_then_on(args):
    """``xent`` starts with garbage collection off (the start-up's ~50,000 lasting objects
    are not scanned as they come), and each command turns it back on once its modules are
    loaded, those objects frozen out of it: a run ends with the collector on."""
    command, name, *rest = args
    argv = [command, str(SAMPLES / name), *rest]
    result = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, *argv], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "collector True True"


def test_modules_loaded_leaves_a_running_collector_alone():
    """Under tests and the Python API the collector was never turned off: nothing frozen."""
    import gc

    from xent_cli.cli.app import modules_loaded

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    modules_loaded()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
