"""Token files: ``xent eval`` with the interval by documents, against the same figures
computed by duckdb SQL and polars, and against pyarrow only reading the columns (the floor).

    python benchmarks/tokens.py [--runs 5] [--scale 1.0] [--data-dir benchmarks/data]

Writes (once, seeded) ``tokens_20m.parquet``: 20M tokens in 40,000 documents, and
``tokens_20m_1mdocs.parquet``: 20M tokens in 1,000,000 documents (columns ``doc_id int64,
position int32, token_id int32, logprob float32, n_bytes int8``, sorted by document as dumps
are). Every command runs as a whole process, once untimed (warming the OS caches), then
alternated round by round, each round starting one command later (no command always runs
first, or right after the same one); the figures are the medians of wall time and of peak
RSS, and the median of the per-round ratios to xent. xent's modules are byte-compiled first,
as ``pip install`` does (an editable install does not).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from run import byte_compile  # noqa: E402

DUCKDB = """
import duckdb, math, sys
con = duckdb.connect()
L, U, D, S = con.sql('''
  with d as (select doc_id, sum(-logprob::double) as l, count(*)::double as u
             from read_parquet('{path}') group by doc_id)
  select sum(l), sum(u), count(*), sum(l * l) from d''').fetchall()[0]
r = L / U
W = con.sql('''
  with d as (select doc_id, sum(-logprob::double) as l, count(*)::double as u
             from read_parquet('{path}') group by doc_id)
  select sum((l - {{r}} * u) * (l - {{r}} * u)) from d'''.format(r=r)).fetchall()[0][0]
se = math.sqrt(D / (D - 1) * W) / U
print(r, math.exp(r), se)
"""

POLARS = """
import math, polars as pl
d = (pl.scan_parquet('{path}')
     .group_by('doc_id')
     .agg((-pl.col('logprob').cast(pl.Float64)).sum().alias('l'), pl.len().alias('u'))
     .collect())
L, U, D = d['l'].sum(), d['u'].sum(), d.height
r = L / U
se = math.sqrt(D / (D - 1) * ((d['l'] - r * d['u']) ** 2).sum()) / U
print(r, math.exp(r), se)
"""

READ = """
import pyarrow.parquet as pq
t = pq.read_table('{path}', columns=['doc_id', 'logprob'])
print(t.num_rows)
"""


def generate(path: Path, tokens: int, documents: int, seed: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(tokens, np.ones(documents) / documents)
    writer = None
    start = 0
    chunk_docs = max(1, documents // 40)
    for first in range(0, documents, chunk_docs):
        part = sizes[first : first + chunk_docs]
        n = int(part.sum())
        level = np.repeat(rng.normal(2.3, 0.5, len(part)), part)
        table = pa.table(
            {
                "doc_id": np.repeat(np.arange(first, first + len(part), dtype=np.int64), part),
                "position": np.concatenate([np.arange(k, dtype=np.int32) for k in part]),
                "token_id": rng.integers(0, 128_000, n, dtype=np.int32),
                "logprob": (-np.abs(rng.normal(level, 1.5))).astype(np.float32),
                "n_bytes": rng.integers(1, 9, n, dtype=np.int8),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        start += n
    assert writer is not None
    writer.close()


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the child and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024, done.stdout


def measure(path: Path, runs: int) -> dict[str, dict[str, Any]]:
    python = sys.executable
    xent = [python, "-m", "xent_cli", "eval", str(path), "-f", "json"]
    commands = {
        "xent": xent,
        "duckdb": [python, "-c", DUCKDB.format(path=path)],
        "polars": [python, "-c", POLARS.format(path=path)],
        "read": [python, "-c", READ.format(path=path)],
    }
    walls: dict[str, list[float]] = {k: [] for k in commands}
    peaks: dict[str, list[float]] = {k: [] for k in commands}
    for command in commands.values():  # one untimed run each: warm the OS caches
        timed(command)
    names = list(commands)
    for round_ in range(runs):
        # each round starts one command later: no command always runs first, or after the
        # same one (whose freed memory, or the caches it leaves, the next one meets)
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            command = commands[name]
            # peak RSS of each child alone: run it in a fresh interpreter that reports it
            wrapped = [python, "-c", _PEAK, *command]
            wall, _, out = timed(wrapped)
            *lines, peak = out.strip().splitlines()
            walls[name].append(wall)
            peaks[name].append(float(peak))
            if name == "xent":
                report = json.loads("\n".join(lines))
                assert report["ci"]["method"] == "cluster"
    result = {}
    for name in commands:
        ratios = [w / x for w, x in zip(walls[name], walls["xent"], strict=True)]
        result[name] = {
            "wall_s": statistics.median(walls[name]),
            "peak_mb": statistics.median(peaks[name]),
            "ratio_to_xent": statistics.median(ratios),
            "ratio_range": [min(ratios), max(ratios)],
            # the middle half of the rounds' ratios: how far the median can be trusted here
            "ratio_quartiles": statistics.quantiles(ratios, n=4)[::2] if len(ratios) > 1 else [],
        }
    return result


def _spread(figures: dict[str, Any]) -> str:
    """The middle half of the rounds' ratios (a peer's row only)."""
    low_high = figures["ratio_quartiles"]
    if not low_high or figures["ratio_range"] == [1.0, 1.0]:
        return ""
    return f"   (middle half {low_high[0]:.2f}-{low_high[1]:.2f})"


_PEAK = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode:
    sys.exit(done.stderr)
print(done.stdout, end='')
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    print(byte_compile())  # (as pip install does: the peers' modules are compiled too)
    probe = "import xent_cli.kernels.compiled as c; print(c.native is not None)"
    compiled = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    print(f"compiled kernel: {'yes' if compiled.stdout.strip() == 'True' else 'no (numpy)'}")
    tokens = int(20_000_000 * args.scale)
    files = {
        "tokens_20m.parquet": max(2, int(40_000 * args.scale)),
        "tokens_20m_1mdocs.parquet": max(2, int(1_000_000 * args.scale)),
    }
    results = {}
    for name, documents in files.items():
        path = args.data_dir / (name if args.scale == 1.0 else f"s{args.scale}_{name}")
        if not path.exists():
            generate(path, tokens, documents, seed=len(name))
        results[name] = measure(path, args.runs)
        print(f"{name}: {tokens:,} tokens, {documents:,} documents, {args.runs} rounds")
        for command, figures in results[name].items():
            print(
                f"  {command:7} {figures['wall_s']:7.2f} s   {figures['peak_mb']:7.0f} MB   "
                f"{figures['ratio_to_xent']:5.2f}x xent{_spread(figures)}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
