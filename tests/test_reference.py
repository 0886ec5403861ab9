"""xent agrees with independent implementations (scikit-learn, scipy) on the sample files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, log_softmax
from sklearn.metrics import log_loss

import xent_cli

from .conftest import SAMPLES


def test_digits_logits_match_scipy_and_sklearn():
    frame = pd.read_csv(SAMPLES / "digits_logits.csv")
    logits = frame[[f"logit_{k}" for k in range(10)]].to_numpy()
    labels = frame["label"].to_numpy()
    per_row = -log_softmax(logits, axis=1)[np.arange(len(labels)), labels]

    report = xent_cli.evaluate(SAMPLES / "digits_logits.csv")

    assert report.loss == pytest.approx(per_row.mean(), rel=1e-12)
    probs = np.exp(log_softmax(logits, axis=1))
    assert report.loss == pytest.approx(log_loss(labels, probs, labels=range(10)), rel=1e-9)
    for k, result in enumerate(report.classes):
        assert result.name == str(k)
        assert result.count == int((labels == k).sum())
        assert result.loss == pytest.approx(per_row[labels == k].mean(), rel=1e-12)
        predicted = logits[labels == k].argmax(axis=1)
        assert result.accuracy == pytest.approx((predicted == k).mean())


def test_jsonl_list_column_and_gzip_tsv_give_the_same_report_as_csv():
    reference = xent_cli.evaluate(SAMPLES / "digits_logits.csv").to_dict()
    for name in ("digits_logits.jsonl", "digits_logits.tsv.gz"):
        other = xent_cli.evaluate(SAMPLES / name).to_dict()
        assert other["loss"] == pytest.approx(reference["loss"], rel=1e-15)
        assert [c["loss"] for c in other["classes"]] == pytest.approx(
            [c["loss"] for c in reference["classes"]], rel=1e-15
        )


def test_iris_probabilities_match_sklearn():
    frame = pd.read_parquet(SAMPLES / "iris_probs.parquet")
    names = ["setosa", "versicolor", "virginica"]
    probs = frame[[f"prob_{n}" for n in names]].to_numpy()
    report = xent_cli.evaluate(SAMPLES / "iris_probs.parquet")
    assert report.kind == "probs"
    assert report.loss == pytest.approx(log_loss(frame["label"], probs, labels=names), rel=1e-9)


def test_binary_logits_match_sklearn():
    frame = pd.read_csv(SAMPLES / "breast_cancer_binary.csv")
    report = xent_cli.evaluate(SAMPLES / "breast_cancer_binary.csv")
    expected = log_loss(frame["label"], expit(frame["logit"].to_numpy()))
    assert report.mode == "binary"
    assert report.loss == pytest.approx(expected, rel=1e-9)


def test_multilabel_matches_sklearn_per_label():
    frame = pd.read_csv(SAMPLES / "digits_multilabel.csv")
    report = xent_cli.evaluate(SAMPLES / "digits_multilabel.csv", label="y_*")
    per_label = []
    for result in report.classes:
        y = frame[f"y_{result.name}"]
        p = expit(frame[f"logit_{result.name}"].to_numpy())
        per_label.append(log_loss(y, p))
        assert result.loss == pytest.approx(per_label[-1], rel=1e-9)
    assert report.loss == pytest.approx(np.mean(per_label), rel=1e-9)


def test_weighted_matches_sklearn_sample_weight():
    frame = pd.read_csv(SAMPLES / "digits_logits.csv")
    frame["w"] = np.random.default_rng(0).uniform(0, 3, len(frame))
    logits = frame[[f"logit_{k}" for k in range(10)]].to_numpy()
    probs = np.exp(log_softmax(logits, axis=1))
    expected = log_loss(frame["label"], probs, sample_weight=frame["w"], labels=range(10))
    report = xent_cli.evaluate(frame, weight="w")
    assert report.loss == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_parquet_matches_scipy(tmp_path, dtype):
    """300 classes in float32 (as models write them) or float64 columns, a few cells null: the
    matrix Arrow builds for wide rows gives scipy's losses, and rows with a null are skipped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(300)
    n, k = 500, 300
    logits = rng.normal(0.0, 4.0, (n, k)).astype(dtype)
    labels = rng.integers(0, k, n)
    holes = {7: 3, 123: 299}  # row: column of a null
    columns = {"label": pa.array(labels)}
    for j in range(k):
        mask = np.array([holes.get(i) == j for i in range(n)])
        columns[f"logit_{j}"] = pa.array(logits[:, j], mask=mask)
    pq.write_table(pa.table(columns), tmp_path / "wide.parquet", row_group_size=200)

    report = xent_cli.evaluate(tmp_path / "wide.parquet")

    keep = np.array([i not in holes for i in range(n)])
    wide = logits.astype(np.float64)[keep]
    per_row = -log_softmax(wide, axis=1)[np.arange(keep.sum()), labels[keep]]
    assert report.n_evaluated == n - len(holes)
    assert report.loss == pytest.approx(per_row.mean(), rel=1e-12)
    assert [w.code for w in report.warnings] == ["non-finite"]
