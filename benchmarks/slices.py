"""``--by``: the 1M x 10 file with 10 and with 10,000 slices, against plain ``xent eval``.

    python benchmarks/slices.py [--runs 3] [--data-dir benchmarks/data]

Adds two slice columns to ``cat10_1m.parquet`` (``python benchmarks/generate.py --only
cat10_1m`` first), deterministically from the row number ``i``: with ``h = (i * 2654435761)
mod 2**32`` (Knuth's multiplicative hash, so slices interleave), ``g10 = "g" + h % 10`` and
``u10k = "u" + h % 10000`` (4 digits). Writes ``cat10_1m_slices.parquet`` and ``.csv`` next to
it (once), byte-compiles xent as ``run.py`` does, then times, alternated, ``xent eval FILE -f
json`` plain, ``--by g10`` and ``--by u10k``, each ``--runs`` times: median wall seconds
(interpreter start-up included), the ratio to plain (the median of the per-round ratios) and
the child's peak RSS (``ru_maxrss`` from ``os.wait4``). Checks that the slices' counts add up
to the rows and that the plain and sliced runs report the same overall loss.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from run import byte_compile  # benchmarks/run.py, beside this script

HERE = Path(__file__).resolve().parent
WAYS = {"plain": [], "--by g10 (10 slices)": ["--by", "g10"],
        "--by u10k (10,000 slices)": ["--by", "u10k"]}  # fmt: skip


def slice_columns(n: int) -> tuple[pa.Array, pa.Array]:
    h = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(1 << 32)
    g10 = np.char.add("g", (h % 10).astype(str))
    u10k = np.char.add("u", np.char.zfill((h % 10000).astype(str), 4))
    return pa.array(g10), pa.array(u10k)


def make_files(data: Path) -> list[Path]:
    source = data / "cat10_1m.parquet"
    if not source.exists():
        sys.exit(f"{source} is missing: run python benchmarks/generate.py --only cat10_1m")
    paths = [data / "cat10_1m_slices.parquet", data / "cat10_1m_slices.csv"]
    if all(p.exists() for p in paths):
        return paths
    table = pq.read_table(source)
    g10, u10k = slice_columns(table.num_rows)
    table = table.append_column("g10", g10).append_column("u10k", u10k)
    pq.write_table(table, paths[0])
    pacsv.write_csv(table, paths[1])
    return paths


def run(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, the child's peak RSS in MB, and its stdout."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"failed: {' '.join(command)}")
        out.seek(0)
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    args = parser.parse_args()
    xent = [sys.executable, "-m", "xent_cli", "eval"]
    print(byte_compile())  # as run.py does: no run pays for compiling xent's modules
    for path in make_files(args.data_dir):
        times: dict[str, list[float]] = {w: [] for w in WAYS}
        peaks: dict[str, list[float]] = {w: [] for w in WAYS}
        losses = set()
        path.read_bytes()  # into the page cache
        for _ in range(args.runs):
            for way, options in WAYS.items():
                seconds, peak, text = run([*xent, str(path), "-f", "json", *options])
                report = json.loads(text)
                losses.add(report["loss"])
                if "slices" in report:
                    groups = report["slices"]["groups"]
                    assert sum(g["count"] for g in groups) == report["n_evaluated"]
                times[way].append(seconds)
                peaks[way].append(peak)
        if len(losses) != 1:
            print(f"warning: {path.name}: the overall loss differs between runs: {losses}")
        print(f"\n{path.name} ({path.stat().st_size / 1e6:.0f} MB), {args.runs} runs each")
        for way in WAYS:  # the ratio: median of the per-round ratios to plain, as in run.py
            ratio = statistics.median(
                t / p for t, p in zip(times[way], times["plain"], strict=True)
            )
            print(
                f"  {way:<28} {statistics.median(times[way]):6.2f} s  (x{ratio:4.2f})  "
                f"peak {max(peaks[way]):6.0f} MB"
            )


if __name__ == "__main__":
    main()
