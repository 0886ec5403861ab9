"""Baseline (b): what users hand-write with pandas + scipy.

``python pandas_scipy.py FILE`` reads a CSV or Parquet file of predictions (``label`` plus
``logit_*`` columns, or a single ``logit`` column for binary), computes each row's
cross-entropy -- ``scipy.special.log_softmax`` over the logits, or the sigmoid BCE via
``numpy.logaddexp`` for binary -- and prints the mean loss and the per-class mean loss
(``groupby``) as one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
from scipy.special import log_softmax


def main(path: str) -> None:
    df = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    labels = df["label"].to_numpy()
    logit_columns = [c for c in df.columns if c.startswith("logit")]
    if logit_columns == ["logit"]:
        z = df["logit"].to_numpy(dtype=np.float64)
        loss = np.logaddexp(0.0, np.where(labels == 1, -z, z))
    else:
        logp = log_softmax(df[logit_columns].to_numpy(dtype=np.float64), axis=1)
        loss = -logp[np.arange(len(df)), labels]
    per_class = pd.Series(loss).groupby(labels).mean()
    result = {
        "loss": float(loss.mean()),
        "per_class": {str(k): float(v) for k, v in per_class.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
