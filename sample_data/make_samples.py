"""Generate the sample prediction files shipped in ``sample_data/``.

Each file holds model outputs on a held-out test split of one of the small
datasets bundled with scikit-learn (no downloads needed):

* ``digits_logits.csv``         -- 10-class logits (``decision_function``) on digits
* ``digits_logits.tsv.gz``      -- the same table, tab-separated and gzip-compressed
* ``digits_logits.jsonl``       -- the same logits as JSON Lines with a list column
* ``digits_multilabel.csv``     -- 3 binary labels derived from digits, one logit each
* ``iris_probs.parquet``        -- 3-class probabilities (``predict_proba``) on iris
* ``iris_problems.csv``         -- iris probabilities with three deliberately broken rows
* ``breast_cancer_binary.csv``  -- binary logits (1 = malignant) on breast cancer

Everything is deterministic (``random_state=0``, fixed splits, gzip mtime 0),
so re-running the script reproduces the files byte for byte with the same
library versions.

scikit-learn is an optional extra needed only by this script::

    pip install scikit-learn
    python sample_data/make_samples.py
"""

from __future__ import annotations

import gzip
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

OUT_DIR = Path(__file__).resolve().parent
SEED = 0
TEST_SIZE = 0.3
IRIS_CLASSES = ("setosa", "versicolor", "virginica")


def _split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return ``x_train, x_test, y_train, y_test`` with the shared split settings."""
    from sklearn.model_selection import train_test_split

    return tuple(train_test_split(x, y, test_size=TEST_SIZE, random_state=SEED, stratify=y))


def _model() -> Any:
    """StandardScaler + LogisticRegression pipeline (scaling ensures convergence)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=SEED))


def _write_csv(df: pd.DataFrame, name: str, **kwargs: Any) -> Path:
    """Write ``df`` as CSV (shortest round-trip float repr, ``\\n`` line endings)."""
    path = OUT_DIR / name
    df.to_csv(path, index=False, lineterminator="\n", **kwargs)
    return path


def _accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(truth)))


def make_digits() -> pd.DataFrame:
    """10-class digits logits: ``id``, ``label``, ``logit_0`` .. ``logit_9``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x_train, x_test, y_train, y_test = _split(data.data, data.target)
    model = _model().fit(x_train, y_train)
    logits = np.asarray(model.decision_function(x_test), dtype=np.float64)
    acc = _accuracy(logits.argmax(axis=1), y_test)
    assert acc > 0.9, f"digits accuracy too low: {acc}"
    print(f"digits: {len(y_test)} test rows, accuracy {acc:.4f}")

    df = pd.DataFrame(
        {
            "id": [f"digit-{i:04d}" for i in range(len(y_test))],
            "label": y_test.astype(np.int64),
        }
    )
    for k in range(logits.shape[1]):
        df[f"logit_{k}"] = logits[:, k]
    return df


def write_digits(df: pd.DataFrame) -> list[Path]:
    """Write the digits logits as CSV, gzipped TSV and JSON Lines."""
    csv_path = _write_csv(df, "digits_logits.csv")

    tsv_path = OUT_DIR / "digits_logits.tsv.gz"
    tsv_bytes = df.to_csv(index=False, sep="\t", lineterminator="\n").encode("utf-8")
    with (
        open(tsv_path, "wb") as raw,
        gzip.GzipFile(filename="digits_logits.tsv", mode="wb", fileobj=raw, mtime=0) as gz,
    ):
        gz.write(tsv_bytes)

    jsonl_path = OUT_DIR / "digits_logits.jsonl"
    logit_cols = [f"logit_{k}" for k in range(10)]
    with open(jsonl_path, "w", encoding="utf-8", newline="\n") as fh:
        for label, row in zip(
            df["label"].tolist(), df[logit_cols].to_numpy().tolist(), strict=True
        ):
            # json uses float repr, i.e. the shortest string that round-trips.
            fh.write(json.dumps({"label": int(label), "logits": row}) + "\n")
    return [csv_path, tsv_path, jsonl_path]


def make_digits_multilabel() -> Path:
    """Three binary labels from digits (even, >= 5, prime), one model per label."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x_train, x_test, d_train, d_test = _split(data.data, data.target)
    derived = {
        "even": lambda d: d % 2 == 0,
        "large": lambda d: d >= 5,
        "prime": lambda d: np.isin(d, [2, 3, 5, 7]),
    }
    labels: dict[str, np.ndarray] = {}
    logits: dict[str, np.ndarray] = {}
    for name, rule in derived.items():
        y_train = rule(d_train).astype(np.int64)
        y_test = rule(d_test).astype(np.int64)
        model = _model().fit(x_train, y_train)
        score = np.asarray(model.decision_function(x_test), dtype=np.float64)
        acc = _accuracy((score > 0).astype(np.int64), y_test)
        assert acc > 0.8, f"multilabel '{name}' accuracy too low: {acc}"
        print(f"digits multilabel {name}: accuracy {acc:.4f}")
        labels[f"y_{name}"] = y_test
        logits[f"logit_{name}"] = score
    return _write_csv(pd.DataFrame({**labels, **logits}), "digits_multilabel.csv")


def make_iris() -> pd.DataFrame:
    """Iris probabilities: ``label`` (class name) and ``prob_<class>`` columns."""
    from sklearn.datasets import load_iris

    data = load_iris()
    assert tuple(data.target_names) == IRIS_CLASSES
    x_train, x_test, y_train, y_test = _split(data.data, data.target)
    model = _model().fit(x_train, y_train)
    probs = np.asarray(model.predict_proba(x_test), dtype=np.float64)
    acc = _accuracy(probs.argmax(axis=1), y_test)
    assert acc > 0.85, f"iris accuracy too low: {acc}"
    print(f"iris: {len(y_test)} test rows, accuracy {acc:.4f}")

    df = pd.DataFrame({"label": [IRIS_CLASSES[k] for k in y_test]})
    for k, name in enumerate(IRIS_CLASSES):
        df[f"prob_{name}"] = probs[:, k]
    return df


def write_iris(df: pd.DataFrame) -> list[Path]:
    """Write clean iris probabilities (parquet) and a deliberately broken CSV."""
    parquet_path = OUT_DIR / "iris_probs.parquet"
    df.to_parquet(parquet_path, engine="pyarrow", index=False)

    bad = df.copy()
    prob_cols = [f"prob_{name}" for name in IRIS_CLASSES]
    # Row 0: true class gets probability exactly 0.0; its mass moves to the
    # most likely other class so the row still sums to 1.
    true_col = f"prob_{bad.at[0, 'label']}"
    other = max((c for c in prob_cols if c != true_col), key=lambda c: bad.at[0, c])
    bad.at[0, other] = bad.at[0, other] + bad.at[0, true_col]
    bad.at[0, true_col] = 0.0
    # Row 1: one probability is missing (written as an empty field).
    bad.at[1, prob_cols[1]] = np.nan
    # Row 2: 0.2 extra mass on its least likely class, so the row sums to 1.2 while
    # every value stays inside [0, 1] (a plausible bug: a forgotten renormalization).
    least = min(prob_cols, key=lambda c: bad.at[2, c])
    bad.at[2, least] = bad.at[2, least] + 0.2
    problems_path = _write_csv(bad, "iris_problems.csv")
    return [parquet_path, problems_path]


def make_breast_cancer() -> Path:
    """Binary logits with ``label`` 1 = malignant (sklearn uses 0 = malignant)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    assert data.target_names[0] == "malignant"
    y = (1 - data.target).astype(np.int64)  # invert: 1 = malignant, 0 = benign
    x_train, x_test, y_train, y_test = _split(data.data, y)
    model = _model().fit(x_train, y_train)
    # decision_function scores classes_[1], which is 1 = malignant here.
    assert list(model.classes_) == [0, 1]
    logit = np.asarray(model.decision_function(x_test), dtype=np.float64)
    acc = _accuracy((logit > 0).astype(np.int64), y_test)
    assert acc > 0.9, f"breast cancer accuracy too low (sign flipped?): {acc}"
    print(f"breast cancer: {len(y_test)} test rows, accuracy {acc:.4f}")
    df = pd.DataFrame({"label": y_test, "logit": logit})
    return _write_csv(df, "breast_cancer_binary.csv")


def main() -> int:
    try:
        import sklearn  # noqa: F401
        from sklearn.exceptions import ConvergenceWarning
    except ImportError:
        print(
            "make_samples.py needs scikit-learn, which is an optional extra.\n"
            "Install it with:  pip install scikit-learn",
            file=sys.stderr,
        )
        return 1

    written: list[Path] = []
    with warnings.catch_warnings():
        # A non-converged model would make the samples misleading: fail loudly.
        warnings.simplefilter("error", ConvergenceWarning)
        written += write_digits(make_digits())
        written.append(make_digits_multilabel())
        written += write_iris(make_iris())
        written.append(make_breast_cancer())

    for path in sorted(written):
        print(f"wrote {path.relative_to(OUT_DIR.parent)} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
