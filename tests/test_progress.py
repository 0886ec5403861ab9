"""Progress: what the readers report as read, and the bar a terminal user sees on stderr."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

import xent_cli
from xent_cli.io import base, text

from .conftest import SAMPLES

N_ROWS = 60_000


def random_logits_csv() -> bytes:
    """About 3.5 MB of 3-class logits that do not compress away (so .gz is 1.5 MB)."""
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, N_ROWS)
    logits = rng.normal(0, 2, (N_ROWS, 3))
    lines = [f"{y},{a!r},{b!r},{c!r}" for y, (a, b, c) in zip(labels, logits.tolist(), strict=True)]
    return ("label,logit_0,logit_1,logit_2\n" + "\n".join(lines) + "\n").encode()


def progress_of(source: object, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int | None]]:
    """Every ``(done, total)`` that ``evaluate`` reports for ``source``."""
    monkeypatch.setattr(text.TextSource, "_block_size", lambda self: 1 << 18)
    monkeypatch.setattr(base, "PARQUET_BATCH_ROWS", 8192)
    calls: list[tuple[int, int | None]] = []
    report = xent_cli.evaluate(source, on_progress=lambda done, total: calls.append((done, total)))
    assert report.n_rows == N_ROWS
    return calls


def assert_climbs_to(calls: list[tuple[int, int | None]], end: int) -> None:
    """Reported after each batch: more each time (never past the end), and the end at last."""
    done = [d for d, _ in calls]
    assert len(calls) >= 3
    assert done == sorted(done)
    assert 0 < done[0] < end
    assert done[-1] == end


@pytest.mark.parametrize("name", ["p.csv", "p.csv.gz", "p.parquet"])
def test_files_report_bytes_up_to_their_size(tmp_path, monkeypatch, name):
    text = random_logits_csv()
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text))
    elif name.endswith(".parquet"):
        pq.write_table(pa.csv.read_csv(pa.BufferReader(text)), path, row_group_size=10_000)
    else:
        path.write_bytes(text)
    calls = progress_of(path, monkeypatch)
    size = path.stat().st_size  # compressed files: bytes of the file, not of the text
    assert {total for _, total in calls} == {size}
    assert_climbs_to(calls, size)


def test_standard_input_reports_the_bytes_read(monkeypatch):
    data = random_logits_csv()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    calls = progress_of("-", monkeypatch)
    assert {total for _, total in calls} == {None}  # the length of a pipe is not known
    assert_climbs_to(calls, len(data))


ROW_BYTES = b"0,1.5,0.5\n1,0.2,0.9\n"
SLOW_ROWS = 120_000  # three pieces of 2.4 MB: more than one chunk each


EVAL_JSON = ("eval", "-", "--format", "json")


def run_on_slow_stdin(*args: str, terminal: bool) -> tuple[int, bytes, str]:
    """``xent ARGS`` reading stdin fed over more than a second; (exit code, stdout, stderr)."""
    if terminal:
        import pty

        reader, stderr = pty.openpty()
    else:
        reader, stderr = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "xent_cli", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    os.close(stderr)
    received: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(reader, 1 << 16)
            except OSError:  # a terminal whose last writer has gone
                return
            if not data:
                return
            received.append(data)

    draining = threading.Thread(target=drain)
    draining.start()
    assert process.stdin is not None
    assert process.stdout is not None
    rows = ROW_BYTES * (SLOW_ROWS // 2)
    process.stdin.write(b"label,logit_0,logit_1\n" + rows)
    process.stdin.flush()
    time.sleep(1.3)  # the bar waits about a second before it shows
    for _ in range(2):
        process.stdin.write(rows)
        process.stdin.flush()
        time.sleep(0.3)
    process.stdin.close()
    stdout = process.stdout.read()
    process.stdout.close()
    process.wait(timeout=60)
    draining.join(timeout=10)
    os.close(reader)
    return process.returncode, stdout, b"".join(received).decode("utf-8", "replace")


def frames(terminal_text: str) -> list[str]:
    """The bar's successive frames as plain text (escape codes and bar glyphs removed)."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal_text).replace("\u2501", "")
    return [" ".join(frame.split()) for frame in plain.split("\r") if frame.strip()]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("command", ["eval", "rows --top"])
def test_a_terminal_sees_the_bytes_read_and_stdout_stays_clean(command):
    if command == "eval":
        code, stdout, stderr = run_on_slow_stdin(*EVAL_JSON, terminal=True)
        assert json.loads(stdout)["n_rows"] == 3 * SLOW_ROWS  # nothing of the bar on stdout
    else:
        code, stdout, stderr = run_on_slow_stdin(
            "rows", "-", "--top", "2", "--format", "json", terminal=True
        )
        assert [json.loads(line)["label"] for line in stdout.splitlines()] == ["1", "1"]
    assert code == 0
    shown = frames(stderr)
    assert shown, repr(stderr)
    assert all(frame.startswith("xent ") for frame in shown), shown
    amounts = re.findall(r"([\d.]+)/\? (bytes|kB|MB)", " | ".join(shown))
    assert len(amounts) == len(shown), shown  # every frame: bytes read so far, of unknown total
    assert amounts[-1][1] == "MB", shown
    assert float(amounts[-1][0]) > 0, shown


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize(
    ("options", "terminal"), [(["--no-progress"], True), ([], False)], ids=["off", "piped"]
)
def test_no_bar_when_turned_off_or_not_on_a_terminal(options, terminal):
    code, stdout, stderr = run_on_slow_stdin(*EVAL_JSON, *options, terminal=terminal)
    assert code == 0
    assert json.loads(stdout)["n_rows"] == 3 * SLOW_ROWS
    assert stderr == ""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_rows_streamed_to_a_terminal_have_no_bar_between_them():
    """Without --top, rows are written as they are scored: no bar to mix with them."""
    code, stdout, stderr = run_on_slow_stdin("rows", "-", "--format", "csv", terminal=True)
    assert code == 0
    assert len(stdout.splitlines()) == 1 + 3 * SLOW_ROWS
    assert stderr == ""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_quick_run_on_a_terminal_draws_nothing():
    """The bar waits about a second: evaluating a small file leaves the terminal alone."""
    import pty

    reader, stderr = pty.openpty()
    result = subprocess.run(
        [sys.executable, "-m", "xent_cli", "eval", SAMPLES / "digits_logits.csv", "-f", "json"],
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    os.close(stderr)
    os.set_blocking(reader, False)
    try:
        drawn = os.read(reader, 1 << 16)
    except (BlockingIOError, OSError):  # nothing written
        drawn = b""
    os.close(reader)
    assert result.returncode == 0
    assert drawn == b""
