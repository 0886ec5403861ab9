"""Baseline (c): a careful hand-written pyarrow + numpy evaluation.

``python pyarrow_numpy.py FILE`` reads a CSV (``pyarrow.csv.read_csv``) or Parquet
(``pyarrow.parquet.read_table``) file of predictions (``label`` plus ``logit_*`` columns, or a
single ``logit`` column for binary), computes each row's cross-entropy with a hand-rolled,
max-shifted logsumexp (or ``numpy.logaddexp`` for the binary sigmoid BCE), sums per class with
``numpy.bincount``, and prints the mean and per-class mean loss as one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def main(path: str) -> None:
    table = pq.read_table(path) if path.endswith(".parquet") else pacsv.read_csv(path)
    labels = table.column("label").to_numpy().astype(np.intp)
    names = [n for n in table.column_names if n.startswith("logit")]
    n = table.num_rows
    if names == ["logit"]:
        z = table.column("logit").to_numpy().astype(np.float64)
        loss = np.logaddexp(0.0, np.where(labels == 1, -z, z))
        k = 2
    else:
        k = len(names)
        logits = np.empty((n, k), dtype=np.float64)
        for j, name in enumerate(names):
            logits[:, j] = table.column(name).to_numpy()
        del table
        top = logits.max(axis=1)
        true = logits[np.arange(n), labels]
        logits -= top[:, None]
        np.exp(logits, out=logits)
        loss = top + np.log(logits.sum(axis=1)) - true
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=loss, minlength=k)
    result = {
        "loss": float(loss.mean()),
        "per_class": {str(c): float(sums[c] / counts[c]) for c in range(k) if counts[c]},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
