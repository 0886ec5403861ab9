"""``xent compare``'s distribution block: two dense language-model files, and its cost on 1M x 10.

    python benchmarks/distributions.py [--runs 3] [--scale 1.0] [--data-dir benchmarks/data]

Writes (once, seeded):

* ``dense_2k_a.parquet``, ``dense_2k_b.parquet``: 2,000 rows x 32,768 float32 logits each, as
  a fixed-size-list column ``logits`` with the token as ``label`` (b = a + noise, so that some
  top tokens change); ``--list`` writes a plain list column instead;
* ``cat10_1m_b.parquet``: the 1M x 10 file of ``generate.py`` (made here if missing) with
  noise added to its logits, the candidate of ``cat10_1m.parquet``.

Then, alternated round by round, every command a whole process (median wall seconds, the
child's peak RSS, the median of the per-round ratios):

* ``xent compare a b -f json`` against ``numpy``: pyarrow reading both files 256 rows at a
  time, float64, ``scipy.special.log_softmax`` of each side, ``Σ exp(a)·(a - b)`` per row and
  the arg-max agreement (the figures checked equal to xent's to 1e-9). Target <= 1.0x,
  peak <= 1.5 GB;
* ``xent compare cat10_1m cat10_1m_b`` with and without ``--no-distribution``. Target: the
  distribution block costs <= 1.3x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ROWS, VOCAB = 2000, 32768

NUMPY = """
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq, scipy.special
def chunks(path):
    for batch in pq.ParquetFile(path).iter_batches(batch_size=256, columns=['logits']):
        column = batch.column(0)
        values = column.flatten().to_numpy().astype(np.float64)
        yield values.reshape(len(column), -1)
kl_sum = 0.0; same = 0; n = 0
for za, zb in zip(chunks(sys.argv[1]), chunks(sys.argv[2])):
    a = scipy.special.log_softmax(za, axis=1)
    b = scipy.special.log_softmax(zb, axis=1)
    kl_sum += (np.exp(a) * (a - b)).sum()
    same += int((za.argmax(axis=1) == zb.argmax(axis=1)).sum())
    n += len(za)
print(kl_sum / n, same / n)
"""

_PEAK = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode not in (0, 1):
    sys.exit(done.stderr)
print(done.stdout, end='')
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def generate_dense(folder: Path, rows: int, vocab: int, fixed: bool) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = (folder / f"dense_{rows}_a.parquet", folder / f"dense_{rows}_b.parquet")
    if all(p.exists() for p in paths):
        return paths
    rng = np.random.default_rng(24)
    writers: list[pq.ParquetWriter | None] = [None, None]
    step = 250
    for start in range(0, rows, step):
        n = min(step, rows - start)
        za = rng.normal(0.0, 3.0, (n, vocab)).astype(np.float32)
        label = rng.integers(0, vocab, n)
        za[np.arange(n), label] += 8.0
        zb = za + rng.normal(0.0, 0.5, (n, vocab)).astype(np.float32)
        for side, z in enumerate((za, zb)):
            flat = pa.array(z.reshape(-1))
            offsets = pa.array(np.arange(0, n * vocab + 1, vocab, dtype=np.int32))
            if fixed:
                column = pa.FixedSizeListArray.from_arrays(flat, vocab)
            else:
                column = pa.ListArray.from_arrays(offsets, flat)
            table = pa.table({"label": label.astype(np.int32), "logits": column})
            if writers[side] is None:
                writers[side] = pq.ParquetWriter(paths[side], table.schema)
            writers[side].write_table(table, row_group_size=step)  # type: ignore[union-attr]
    for writer in writers:
        assert writer is not None
        writer.close()
    return paths


def generate_candidate(folder: Path) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = folder / "cat10_1m.parquet"
    if not base.exists():
        subprocess.run([sys.executable, str(ROOT / "generate.py"), "--only", "cat10_1m",
                        "--data-dir", str(folder)], check=True)  # fmt: skip
    cand = folder / "cat10_1m_b.parquet"
    if not cand.exists():
        table = pq.read_table(base)
        rng = np.random.default_rng(7)
        columns = {}
        for name in table.column_names:
            values = table.column(name).to_numpy()
            if name.startswith("logit_"):
                values = (values + rng.normal(0, 0.5, len(values))).astype(np.float32)
            columns[name] = values
        pq.write_table(pa.table(columns), cand)
    return base, cand


def measure(commands: dict[str, list[str]], runs: int) -> dict[str, dict[str, float]]:
    walls: dict[str, list[float]] = {k: [] for k in commands}
    peaks: dict[str, list[float]] = {k: [] for k in commands}
    outputs: dict[str, str] = {}
    for _ in range(runs):
        for name, command in commands.items():
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", _PEAK, *command], capture_output=True,
                                  text=True, check=True)  # fmt: skip
            walls[name].append(time.perf_counter() - start)
            *lines, peak = done.stdout.strip().splitlines()
            peaks[name].append(float(peak))
            outputs[name] = "\n".join(lines)
    first = next(iter(commands))
    result: dict[str, dict[str, float]] = {}
    for name in commands:
        ratios = [x / w for x, w in zip(walls[first], walls[name], strict=True)]
        result[name] = {
            "wall_s": statistics.median(walls[name]),
            "peak_mb": max(peaks[name]),
            f"{first}_over_this": statistics.median(ratios),
        }
    result["_outputs"] = outputs  # type: ignore[assignment]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="of the dense files' rows")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--list", action="store_true", help="a list column, not fixed-size")
    parser.add_argument("--skip-1m", action="store_true")
    parser.add_argument("--skip-dense", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    rows = max(10, int(ROWS * args.scale))
    xent = [sys.executable, "-m", "xent_cli", "compare"]
    results: dict[str, object] = {}
    if not args.skip_dense:
        results.update(_dense(args, rows, xent))
    if not args.skip_1m:
        results["cat10_1m"] = _one_million(args, xent)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _dense(args: argparse.Namespace, rows: int, xent: list[str]) -> dict[str, object]:
    a, b = generate_dense(args.data_dir, rows, VOCAB, fixed=not args.list)
    dense = measure(
        {
            "xent": [*xent, str(a), str(b), "-f", "json", "--no-progress"],
            "numpy": [sys.executable, "-c", NUMPY, str(a), str(b)],
        },
        args.runs,
    )
    outputs = dense.pop("_outputs")  # type: ignore[arg-type]
    report = json.loads(outputs["xent"])  # type: ignore[index]
    kl, same = map(float, outputs["numpy"].split())  # type: ignore[index]
    block = report["distribution"]
    agree = abs(block["kl"]["mean"] - kl) <= 1e-9 * kl and block["top1_agreement"]["rate"] == same
    print(f"dense {rows} x {VOCAB}: {args.runs} rounds; figures agree: {agree}")
    for name, figures in dense.items():
        print(f"  {name:6} {figures['wall_s']:7.2f} s  {figures['peak_mb']:7.0f} MB  "
              f"xent/this {figures['xent_over_this']:.2f}x")  # fmt: skip
    return {"dense": dense, "figures_agree": agree}


def _one_million(args: argparse.Namespace, xent: list[str]) -> dict[str, dict[str, float]]:
    base, cand = generate_candidate(args.data_dir)
    command = [*xent, str(base), str(cand), "-f", "json", "--no-progress"]
    wide = measure({"with": command, "without": [*command, "--no-distribution"]}, args.runs)
    wide.pop("_outputs")
    print(f"cat10_1m: {args.runs} rounds")
    for name, figures in wide.items():
        print(f"  {name:8} {figures['wall_s']:7.2f} s  {figures['peak_mb']:7.0f} MB  "
              f"with/this {figures['with_over_this']:.2f}x")  # fmt: skip
    return wide


if __name__ == "__main__":
    main()
