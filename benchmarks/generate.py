"""Generate the seeded prediction files that ``benchmarks/run.py`` times.

Files (written to ``benchmarks/data/`` unless ``--data-dir`` says otherwise):

* ``cat10_1m.csv`` / ``cat10_1m.parquet`` -- 1,000,000 rows, ``label`` (0..9) and
  ``logit_0..logit_9`` float32 logits (CSV about 107 MB);
* ``bin_10m.csv`` -- 10,000,000 rows, ``label`` (0/1) and one float32 ``logit`` (about 126 MB);
* ``cat1000_100k.csv`` / ``cat1000_100k.parquet`` -- 100,000 rows, ``label`` and
  ``logit_0..logit_999`` float32 logits (CSV about 1.06 GB).

The predictions look like a fair classifier's: every row has a true class; the logits are
N(0, 2) noise with +3 on the true class; 85% of rows are labelled with the true class and the
rest with another, uniformly drawn one (mislabelled rows, which carry large losses).

Rows are produced in fixed-size chunks from one seeded generator per dataset, so the data are
the same on every run and the CSV is streamed to disk (the 1 GB file is never held as text).
A CSV and its Parquet twin hold the same values. The Parquet files are written the way
``pandas.DataFrame.to_parquet`` writes them (one ``pyarrow.parquet.write_table`` call, default
row groups and compression).

Usage::

    python benchmarks/generate.py                     # everything, skipping existing files
    python benchmarks/generate.py --only cat10_1m     # both cat10 files
    python benchmarks/generate.py --only bin_10m.csv --force
    python benchmarks/generate.py --scale 0.01 --data-dir /tmp/xent-smoke   # quick smoke data
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"
MANIFEST = "manifest.json"
BASE_SEED = 20_240_917
TRUE_LABEL_SHARE = 0.85
NOISE_SD = 2.0
TRUE_CLASS_BOOST = 3.0
VALUES_PER_CHUNK = 2_000_000  # logits generated (and formatted as CSV) per chunk


@dataclass(frozen=True)
class Dataset:
    """One synthetic set of predictions, written to one or more formats."""

    stem: str
    rows: int
    classes: int  # 2 means binary: a single ``logit`` column
    formats: tuple[str, ...]
    seed_offset: int

    @property
    def binary(self) -> bool:
        return self.classes == 2

    def filenames(self) -> list[str]:
        return [f"{self.stem}.{fmt}" for fmt in self.formats]


DATASETS: tuple[Dataset, ...] = (
    Dataset("cat10_1m", 1_000_000, 10, ("csv", "parquet"), 1),
    Dataset("bin_10m", 10_000_000, 2, ("csv",), 2),
    Dataset("cat1000_100k", 100_000, 1000, ("csv", "parquet"), 3),
)


def schema_for(dataset: Dataset) -> pa.Schema:
    """``label`` (int64) then the float32 logit columns."""
    if dataset.binary:
        names = ["logit"]
    else:
        names = [f"logit_{j}" for j in range(dataset.classes)]
    return pa.schema(
        [pa.field("label", pa.int64()), *(pa.field(name, pa.float32()) for name in names)]
    )


def chunks(dataset: Dataset, rows: int, seed: int) -> Iterator[pa.RecordBatch]:
    """The dataset's rows as record batches, deterministic for a given (rows, seed)."""
    rng = np.random.default_rng(seed)
    schema = schema_for(dataset)
    k = dataset.classes
    per_chunk = max(1, VALUES_PER_CHUNK // (1 if dataset.binary else k))
    done = 0
    while done < rows:
        n = min(per_chunk, rows - done)
        mislabelled = rng.random(n) >= TRUE_LABEL_SHARE
        if dataset.binary:
            truth = rng.integers(0, 2, n)
            noise = rng.standard_normal(n, dtype=np.float32) * np.float32(NOISE_SD)
            sign = (2 * truth - 1).astype(np.float32)
            logit = noise + np.float32(TRUE_CLASS_BOOST) * sign
            label = np.where(mislabelled, 1 - truth, truth).astype(np.int64)
            arrays = [pa.array(label), pa.array(logit)]
        else:
            truth = rng.integers(0, k, n)
            # (k, n): each class's logits are contiguous, one Arrow column each
            logits = rng.standard_normal((k, n), dtype=np.float32) * np.float32(NOISE_SD)
            logits[truth, np.arange(n)] += np.float32(TRUE_CLASS_BOOST)
            other = (truth + rng.integers(1, k, n)) % k
            label = np.where(mislabelled, other, truth).astype(np.int64)
            arrays = [pa.array(label), *(pa.array(logits[j]) for j in range(k))]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        done += n


def generate(dataset: Dataset, targets: Sequence[Path], rows: int, seed: int) -> None:
    """Write ``dataset`` to each target path (``.csv`` streamed, ``.parquet`` in one call)."""
    schema = schema_for(dataset)
    csv_path = next((p for p in targets if p.suffix == ".csv"), None)
    parquet_path = next((p for p in targets if p.suffix == ".parquet"), None)
    held: list[pa.RecordBatch] = []
    tmp_csv = csv_path.with_name(csv_path.name + ".tmp") if csv_path else None
    with ExitStack() as stack:
        writer = None
        if tmp_csv is not None:
            sink = stack.enter_context(tmp_csv.open("wb"))
            sink.write((",".join(schema.names) + "\n").encode())  # unquoted, as pandas writes
            options = pacsv.WriteOptions(include_header=False)
            writer = stack.enter_context(pacsv.CSVWriter(sink, schema, write_options=options))
        for batch in chunks(dataset, rows, seed):
            if writer is not None:
                writer.write_batch(batch)
            if parquet_path is not None:
                held.append(batch)
    if csv_path is not None and tmp_csv is not None:
        tmp_csv.replace(csv_path)
    if parquet_path is not None:
        tmp_parquet = parquet_path.with_name(parquet_path.name + ".tmp")
        pq.write_table(pa.Table.from_batches(held, schema=schema), str(tmp_parquet))
        tmp_parquet.replace(parquet_path)


def selected(only: Sequence[str] | None) -> list[tuple[Dataset, list[str]]]:
    """Datasets and file names picked by ``--only`` (a file name or a dataset stem)."""
    picked: list[tuple[Dataset, list[str]]] = []
    unknown = set(only or ())
    for dataset in DATASETS:
        names = dataset.filenames()
        if only:
            wanted = [n for n in names if n in only or dataset.stem in only]
            unknown -= {dataset.stem, *wanted}
        else:
            wanted = names
        if wanted:
            picked.append((dataset, wanted))
    if unknown:
        known = ", ".join(n for d in DATASETS for n in (d.stem, *d.filenames()))
        raise SystemExit(f"unknown --only {sorted(unknown)}; choose from: {known}")
    return picked


def load_manifest(data_dir: Path) -> dict[str, dict[str, object]]:
    path = data_dir / MANIFEST
    if not path.exists():
        return {}
    loaded: dict[str, dict[str, object]] = json.loads(path.read_text())
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="a file name (cat10_1m.csv) or dataset stem (cat10_1m); repeatable",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every row count (0.01 for a smoke run)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument("--seed", type=int, default=BASE_SEED, help="base random seed")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")

    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(data_dir)
    for dataset, names in selected(args.only):
        rows = max(1, round(dataset.rows * args.scale))
        seed = args.seed + dataset.seed_offset
        todo: list[Path] = []
        for name in names:
            path = data_dir / name
            if path.exists() and not args.force:
                recorded = manifest.get(name, {})
                note = ""
                if recorded.get("rows") not in (None, rows) or recorded.get("seed") != seed:
                    note = f" (it holds {recorded.get('rows')} rows, seed {recorded.get('seed')};"
                    note += " pass --force to regenerate)"
                print(f"skip {path}: exists{note}")
                continue
            todo.append(path)
        if not todo:
            continue
        print(
            f"writing {', '.join(p.name for p in todo)}: {rows:,} rows x {dataset.classes} "
            f"classes ...",
            end="",
            flush=True,
        )
        start = time.perf_counter()
        generate(dataset, todo, rows, seed)
        elapsed = time.perf_counter() - start
        sizes = ", ".join(f"{p.stat().st_size / 1e6:,.1f} MB" for p in todo)
        print(f" {sizes} in {elapsed:.1f} s")
        for path in todo:
            manifest[path.name] = {
                "rows": rows,
                "classes": dataset.classes,
                "seed": seed,
                "scale": args.scale,
                "bytes": path.stat().st_size,
            }
        (data_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
