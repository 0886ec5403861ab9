"""Peer (e): the same evaluation as a polars pipeline.

``python polars_eval.py FILE`` scans a CSV or Parquet file of predictions (``label`` plus
``logit_*`` columns, or a single ``logit`` column for binary) with polars' lazy API
(``scan_csv``/``scan_parquet``, multi-threaded), computes each row's cross-entropy in float64
with horizontal expressions -- a max-shifted log-sum-exp over the logit columns minus the
true class's logit (the sum of ``when(label == j).then(logit_j).otherwise(0)``), or the
softplus form of the sigmoid BCE for binary -- and prints the mean loss and the per-class
mean loss (``group_by``) as one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys

import polars as pl


def main(path: str) -> None:
    frame = pl.scan_parquet(path) if path.endswith(".parquet") else pl.scan_csv(path)
    names = [n for n in frame.collect_schema().names() if n.startswith("logit")]
    frame = frame.with_columns(pl.col(names).cast(pl.Float64))
    label = pl.col("label")
    if names == ["logit"]:
        z = pl.col("logit")
        loss = pl.max_horizontal(z, 0.0) - z * label + (-z.abs()).exp().log1p()
    else:
        # the row max as a column of its own: referred to by name, 1000 terms plan in a blink
        frame = frame.with_columns(pl.max_horizontal(names).alias("top"))
        top = pl.col("top")
        total = pl.sum_horizontal([(pl.col(n) - top).exp() for n in names])
        # the true logit as a sum of one logit and zeros (exact): 3-6x faster than picking
        # it from concat_list(...).list.get(label), which builds a list per row
        true = pl.sum_horizontal(
            [pl.when(label == j).then(pl.col(n)).otherwise(0.0) for j, n in enumerate(names)]
        )
        loss = top + total.log() - true
    per_class = (
        frame.select(label, loss.alias("loss"))
        .group_by("label")
        .agg(pl.col("loss").sum().alias("sum"), pl.len().alias("n"))
        .collect()
    )
    sums = dict(zip(per_class["label"].to_list(), per_class["sum"].to_list(), strict=True))
    counts = dict(zip(per_class["label"].to_list(), per_class["n"].to_list(), strict=True))
    result = {
        "loss": sum(sums.values()) / sum(counts.values()),
        "per_class": {str(k): sums[k] / counts[k] for k in sorted(sums)},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
