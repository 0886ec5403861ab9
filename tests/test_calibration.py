"""--calibration: ECE, MCE, Brier, reliability bins and the temperature decomposition.

Every expected number is computed here by an independent route: plain-Python bin loops for
each convention (comparisons against the edges, no searchsorted), scikit-learn's
``brier_score_loss`` and ``calibration_curve``, scipy's ``logsumexp`` for the temperature
grid, and torchmetrics' published docstring examples re-derived by hand.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import expit, logsumexp, softmax

from xent_cli import evaluate
from xent_cli.core.engine import Scan
from xent_cli.core.report import build_report
from xent_cli.io.frames import TableSource
from xent_cli.metrics.reliability import N_FINE, fine_bin, fine_edges
from xent_cli.metrics.temperature import GRID
from xent_cli.options import make_settings

from .conftest import invoke

# ---------------------------------------------------------------- independent reference


def ref_bins(p, o, w, n_bins: int, rule: str) -> list[tuple[float, float, float]]:
    """(weight, mean p, observed) per non-empty bin, by explicit edge comparisons.

    rule "right": (lo, hi], p = 0 in the first; "left": [lo, hi), p = 1 in the last;
    "own": [lo, hi), p = 1 alone in an extra bin.
    """
    edges = [i * (1.0 / n_bins) for i in range(n_bins + 1)]  # numpy.linspace's edges
    edges[-1] = 1.0
    out = []
    groups: list[list[int]] = [[] for _ in range(n_bins + 1)]
    for i, x in enumerate(p):
        for b in range(n_bins):
            lo, hi = edges[b], edges[b + 1]
            if rule == "right" and (lo < x <= hi or (b == 0 and x == 0.0)):
                groups[b].append(i)
                break
            if rule == "left" and (lo <= x < hi or (b == n_bins - 1 and x == 1.0)):
                groups[b].append(i)
                break
            if rule == "own" and lo <= x < hi:
                groups[b].append(i)
                break
        else:
            assert rule == "own"
            assert x == 1.0
            groups[n_bins].append(i)
    for members in groups:
        weight = sum(w[i] for i in members)
        if members and weight > 0:
            mean_p = sum(w[i] * p[i] for i in members) / weight
            observed = sum(w[i] * o[i] for i in members) / weight
            out.append((weight, mean_p, observed))
    return out


def ref_ece(bins, total: float) -> tuple[float, float]:
    return (
        sum(wt * abs(mp - ob) for wt, mp, ob in bins) / total,
        max(abs(mp - ob) for _, mp, ob in bins),
    )


def calibration_of(frame: pd.DataFrame, **options: Any) -> dict[str, Any]:
    report = evaluate(frame, calibration=True, **options).to_dict()
    return report["calibration"]


def _categorical(n: int, k: int, seed: int, *, quantized: bool = False) -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(0, 2, (n, k))
    logits[np.arange(n), labels] += 1.5
    probs = softmax(logits, axis=1)
    if quantized:  # probabilities on bin edges (multiples of 0.1) to exercise the edge rules
        probs = np.zeros((n, k))
        probs[:, 0] = rng.choice([0.0, 0.1, 0.2, 0.5, 0.6, 0.9, 1.0], n)
        probs[:, 1] = 1.0 - probs[:, 0]
    return labels, logits, probs


def _frame(labels, scores, prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame({"label": labels})
    for j in range(scores.shape[1]):
        frame[f"{prefix}_{j}"] = scores[:, j]
    return frame


# ---------------------------------------------------------------- published examples


def test_torchmetrics_binary_example():
    """torchmetrics' binary_calibration_error docstring: 2 bins, ECE 0.2900, MCE 0.3167.
    By hand: bin [0, .5): two 0.25s never positive, gap .25; bin [.5, 1]: .55, .75, .75
    all positive, gap 1 - 2.05/3; ECE = (2 * .25 + 3 * (1 - 2.05/3)) / 5."""
    p = [0.25, 0.25, 0.55, 0.75, 0.75]
    y = [0, 0, 1, 1, 1]
    frame = pd.DataFrame({"label": y, "prob": p})
    for preset in ("torchmetrics", None):
        cal = calibration_of(frame, mode="binary", ece_bins=2, ece_preset=preset)
        assert cal["target"] == "positive"
        assert cal["ece"] == pytest.approx((2 * 0.25 + 3 * (1 - 2.05 / 3)) / 5, abs=1e-15)
        assert cal["ece"] == pytest.approx(0.2900, abs=5e-5)
        assert cal["mce"] == pytest.approx(1 - 2.05 / 3, abs=1e-15)
        assert cal["mce"] == pytest.approx(0.3167, abs=5e-5)


def test_torchmetrics_multiclass_example():
    """multiclass_calibration_error docstring: 3 bins, ECE 0.2000, MCE 0.2333. Top-label
    confidences .55 (wrong), .55 (wrong), .60 (right), .90 (right): bin [1/3, 2/3) holds
    three with accuracy 1/3 and mean 1.7/3; bin [2/3, 1] one with gap 0.1."""
    preds = np.array(
        [[0.25, 0.20, 0.55], [0.55, 0.05, 0.40], [0.10, 0.30, 0.60], [0.90, 0.05, 0.05]]
    )
    frame = _frame([0, 1, 2, 0], preds, "prob")
    cal = calibration_of(frame, ece_bins=3, ece_preset="torchmetrics")
    gap = 1.7 / 3 - 1 / 3
    assert cal["ece"] == pytest.approx((3 * gap + 0.1) / 4, abs=1e-15)
    assert cal["ece"] == pytest.approx(0.2000, abs=5e-5)
    assert cal["mce"] == pytest.approx(gap, abs=1e-15)
    assert cal["mce"] == pytest.approx(0.2333, abs=5e-5)
    assert [b["count"] for b in cal["bins"]] == [3, 1]


def test_sklearn_brier_example():
    from sklearn.metrics import brier_score_loss

    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.9, 0.8, 0.3])
    frame = pd.DataFrame({"label": y, "prob": p})
    cal = calibration_of(frame, mode="binary")
    assert cal["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    assert cal["brier"] == pytest.approx(0.0375, abs=1e-12)


def test_sklearn_calibration_curve_on_a_bundled_dataset_model():
    from sklearn.calibration import calibration_curve
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=0)
    model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    p = model.predict_proba(x_test)[:, 1]
    frame = pd.DataFrame({"label": y_test, "prob": p})
    for n_bins in (5, 10):
        prob_true, prob_pred = calibration_curve(y_test, p, n_bins=n_bins, strategy="uniform")
        cal = calibration_of(frame, mode="binary", ece_preset="sklearn", ece_bins=n_bins)
        assert cal["preset"] == "sklearn"
        assert [b["observed"] for b in cal["bins"]] == pytest.approx(prob_true, abs=1e-14)
        assert [b["mean_p"] for b in cal["bins"]] == pytest.approx(prob_pred, abs=1e-14)
    assert calibration_of(frame, mode="binary", ece_preset="sklearn")["n_bins"] == 5
    assert cal["brier"] == pytest.approx(brier_score_loss(y_test, p), abs=1e-15)
    # the logits of the same model give the same figures (sigmoid vs. predict_proba)
    logits = model.decision_function(x_test)
    by_logits = calibration_of(
        pd.DataFrame({"label": y_test, "logit": logits}), mode="binary", ece_preset="sklearn"
    )
    by_probs = calibration_of(frame, mode="binary", ece_preset="sklearn")
    assert by_logits["ece"] == pytest.approx(by_probs["ece"], abs=1e-12)


# ---------------------------------------------------------------- each convention


@pytest.mark.parametrize(
    ("preset", "bins", "rule"),
    [(None, 15, "right"), ("sklearn", 5, "right"), ("netcal", 10, "left"),
     ("torchmetrics", 15, "own"), ("torchmetrics", 10, "own"), ("netcal", 7, "left")],
)  # fmt: skip
@pytest.mark.parametrize("quantized", [False, True])
def test_each_preset_matches_a_plain_bin_loop(preset, bins, rule, quantized):
    labels, _, probs = _categorical(400, 2 if quantized else 4, seed=3, quantized=quantized)
    frame = _frame(labels, probs, "prob")
    options: dict[str, Any] = {"ece_preset": preset}
    if bins != {None: 15, "sklearn": 5, "netcal": 10, "torchmetrics": 15}[preset]:
        options["ece_bins"] = bins
    cal = calibration_of(frame, **options)
    assert cal["n_bins"] == bins
    predicted = probs.argmax(axis=1)
    top = probs.max(axis=1)
    correct = (predicted == labels).astype(float)
    expected = ref_bins(top.tolist(), correct.tolist(), [1.0] * len(top), bins, rule)
    ece, mce = ref_ece(expected, len(top))
    assert [b["count"] for b in cal["bins"]] == [int(w) for w, _, _ in expected]
    assert [b["mean_p"] for b in cal["bins"]] == pytest.approx([m for _, m, _ in expected])
    assert cal["ece"] == pytest.approx(ece, abs=1e-14)
    assert cal["mce"] == pytest.approx(mce, abs=1e-14)
    onehot = np.eye(probs.shape[1])[labels]
    assert cal["brier"] == pytest.approx(((probs - onehot) ** 2).sum(axis=1).mean(), abs=1e-14)


def test_edge_rules_place_a_probability_on_an_edge_differently():
    """p = 0.5 with 2 bins: (lo, hi] puts it low, [lo, hi) high; p = 1 alone (torchmetrics)."""
    frame = pd.DataFrame({"label": [1, 0, 1], "prob": [0.5, 0.5, 1.0]})
    right = calibration_of(frame, mode="binary", ece_bins=2)
    left = calibration_of(frame, mode="binary", ece_bins=2, ece_preset="netcal")
    own = calibration_of(frame, mode="binary", ece_bins=2, ece_preset="torchmetrics")
    assert [(b["lo"], b["hi"], b["count"]) for b in right["bins"]] == [(0, 0.5, 2), (0.5, 1, 1)]
    assert [(b["lo"], b["hi"], b["count"]) for b in left["bins"]] == [(0.5, 1.0, 3)]
    assert [(b["lo"], b["hi"], b["count"]) for b in own["bins"]] == [(0.5, 1, 2), (1, 1, 1)]


def test_weighted_bins_and_brier():
    labels, _, probs = _categorical(300, 3, seed=5)
    rng = np.random.default_rng(1)
    weight = rng.choice([0.0, 0.5, 1.0, 2.5], len(labels))
    frame = _frame(labels, probs, "prob").assign(w=weight)
    cal = calibration_of(frame, weight="w", ece_bins=10)
    top = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(float)
    expected = ref_bins(top.tolist(), correct.tolist(), weight.tolist(), 10, "right")
    ece, mce = ref_ece(expected, weight.sum())
    assert cal["ece"] == pytest.approx(ece, abs=1e-14)
    assert cal["mce"] == pytest.approx(mce, abs=1e-14)
    assert [b["weight"] for b in cal["bins"]] == pytest.approx([w for w, _, _ in expected])
    onehot = np.eye(3)[labels]
    brier = ((probs - onehot) ** 2).sum(axis=1)
    assert cal["brier"] == pytest.approx((weight * brier).sum() / weight.sum(), abs=1e-14)


def test_classwise_is_the_mean_of_one_vs_rest_eces():
    labels, _, probs = _categorical(500, 4, seed=11)
    cal = calibration_of(_frame(labels, probs, "prob"), ece_target="classwise", ece_bins=8)
    eces, mces = [], []
    for c in range(4):
        p_c = probs[:, c].tolist()
        o_c = (labels == c).astype(float).tolist()
        ece, mce = ref_ece(ref_bins(p_c, o_c, [1.0] * len(p_c), 8, "right"), len(p_c))
        eces.append(ece)
        mces.append(mce)
    assert [c["ece"] for c in cal["per_class"]] == pytest.approx(eces, abs=1e-14)
    assert cal["ece"] == pytest.approx(np.mean(eces), abs=1e-14)
    assert cal["mce"] == pytest.approx(max(mces), abs=1e-14)
    assert sum(b["count"] for b in cal["bins"]) == 4 * 500  # pooled one-vs-rest bins


def test_binary_top_and_multilabel_positive():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 2, 400)
    y = (rng.random(400) < expit(z * 0.7)).astype(int)
    p = expit(z)
    frame = pd.DataFrame({"label": y, "logit": z})
    top = calibration_of(frame, mode="binary", ece_target="top", ece_bins=6)
    conf = np.maximum(p, 1 - p)
    hit = ((z > 0).astype(int) == y).astype(float)
    ece, _ = ref_ece(ref_bins(conf.tolist(), hit.tolist(), [1.0] * 400, 6, "right"), 400)
    assert top["ece"] == pytest.approx(ece, abs=1e-14)
    assert top["brier"] == pytest.approx(((p - y) ** 2).mean(), abs=1e-14)
    # multilabel: the cells of three label columns, pooled
    cells = rng.normal(0, 2, (200, 3))
    truth = (rng.random((200, 3)) < expit(cells)).astype(int)
    ml = pd.DataFrame({f"y_{j}": truth[:, j] for j in range(3)})
    for j in range(3):
        ml[f"logit_{j}"] = cells[:, j]
    cal = calibration_of(ml, mode="multilabel", label="y_*", ece_target="positive", ece_bins=5)
    pc, yc = expit(cells).ravel(), truth.ravel().astype(float)
    ece, _ = ref_ece(ref_bins(pc.tolist(), yc.tolist(), [1.0] * pc.size, 5, "right"), pc.size)
    assert cal["ece"] == pytest.approx(ece, abs=1e-14)
    assert cal["brier"] == pytest.approx(((pc - yc) ** 2).mean(), abs=1e-14)


def test_logits_probabilities_and_log_probabilities_agree():
    labels, logits, probs = _categorical(600, 5, seed=8)
    log_probs = logits - logsumexp(logits, axis=1, keepdims=True)
    results = [
        calibration_of(_frame(labels, logits, "logit"), ece_target=t)
        for t in ("top", "classwise")
    ] + [
        calibration_of(_frame(labels, probs, "prob"), ece_target=t) for t in ("top", "classwise")
    ] + [
        calibration_of(_frame(labels, log_probs, "logprob"), ece_target=t)
        for t in ("top", "classwise")
    ]  # fmt: skip
    for a, b in itertools.combinations(results[0::2], 2):
        assert a["ece"] == pytest.approx(b["ece"], abs=1e-12)
        assert a["brier"] == pytest.approx(b["brier"], abs=1e-12)
    for a, b in itertools.combinations(results[1::2], 2):
        assert a["ece"] == pytest.approx(b["ece"], abs=1e-12)


# ---------------------------------------------------------------- equal-mass bins


def _octave_fine_bin(p: float) -> int:
    """The fine histogram's bin by frexp: 128 bins per octave of min(p, 1 - p)."""
    q = min(p, 1.0 - p)
    if q < 2.0**-41:
        key = 0
    else:
        mantissa, exponent = math.frexp(q)  # q = m 2^e, m in [0.5, 1)
        key = (exponent - 1 + 41) * 128 + int((2 * mantissa - 1) * 128)
    return key if p <= 0.5 else 2 * 40 * 128 - key


def test_fine_bins_by_an_independent_route():
    rng = np.random.default_rng(4)
    p = np.concatenate(
        [rng.random(3000), rng.random(300) ** 40, 1 - rng.random(300) ** 40, [0, 0.5, 1]]
    )
    assert fine_bin(p).tolist() == [_octave_fine_bin(x) for x in p.tolist()]
    edges = fine_edges()
    assert len(edges) == N_FINE + 1
    assert np.all(np.diff(edges) >= 0)


def test_equal_mass_bins_follow_the_midpoint_rule():
    rng = np.random.default_rng(6)
    n = 2000
    p = rng.beta(0.5, 0.5, n)
    y = (rng.random(n) < p).astype(int)
    cal = calibration_of(pd.DataFrame({"label": y, "prob": p}), mode="binary",
                         ece_binning="mass", ece_bins=10)  # fmt: skip
    # reference: fine bins by frexp, then each fine bin to the coarse bin of its mass midpoint
    fine = np.array([_octave_fine_bin(x) for x in p.tolist()])
    mass = np.bincount(fine, minlength=N_FINE).astype(float)
    before = np.cumsum(mass) - mass
    coarse_of_fine = np.minimum(np.floor(10 * (before + mass / 2) / n), 9).astype(int)
    coarse = coarse_of_fine[fine]
    expected = []
    for c in sorted(set(coarse.tolist())):
        members = coarse == c
        expected.append((members.sum(), p[members].mean(), y[members].mean()))
    assert [b["count"] for b in cal["bins"]] == [e[0] for e in expected]
    assert [b["mean_p"] for b in cal["bins"]] == pytest.approx([e[1] for e in expected])
    ece = sum(cnt * abs(mp - ob) for cnt, mp, ob in expected) / n
    assert cal["ece"] == pytest.approx(ece, abs=1e-14)
    assert all(abs(b["count"] - n / 10) <= n / 50 for b in cal["bins"])  # about equal mass
    assert cal["binning"] == "mass"


# ---------------------------------------------------------------- temperature scan


def test_temperature_grid_losses_and_decomposition():
    labels, logits, _ = _categorical(800, 6, seed=9)
    logits = logits * 2.5  # overconfident: the best temperature is above 1
    report = evaluate(_frame(labels, logits, "logit"), decompose=True).to_dict()
    temp = report["calibration"]["temperature"]
    rows = np.arange(len(labels))

    def loss_at(t: float) -> float:
        z = logits / t
        return float((logsumexp(z, axis=1) - z[rows, labels]).mean())

    losses = {entry["t"]: entry["loss"] for entry in temp["losses"]}
    assert sorted(losses) == sorted([*GRID, 1.0])
    for t in (0.25, 0.5, 1.0, 2.0, 4.0, GRID[20]):
        assert losses[t] == pytest.approx(loss_at(t), rel=1e-12)
    best = min(losses, key=losses.get)
    assert temp["best"] == best > 1
    assert temp["loss_at_best"] == pytest.approx(loss_at(best), rel=1e-12)
    assert temp["calibration_loss"] == pytest.approx(report["loss"] - loss_at(best), rel=1e-9)
    assert temp["calibration_loss"] > 0
    # a calibrated model (labels drawn from its own softmax) gains ~nothing
    rng = np.random.default_rng(0)
    probs = softmax(logits / 2.5, axis=1)
    drawn = np.array([rng.choice(6, p=row) for row in probs])
    own = evaluate(_frame(drawn, logits / 2.5, "logit"), decompose=True).to_dict()
    assert own["calibration"]["temperature"]["calibration_loss"] < 0.02 * own["loss"]


def test_temperature_of_binary_probabilities_and_bits():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 3, 500)
    y = (rng.random(500) < expit(z / 2)).astype(int)
    report = evaluate(
        pd.DataFrame({"label": y, "prob": expit(z)}), mode="binary", decompose=True, base="2"
    ).to_dict()
    temp = report["calibration"]["temperature"]

    def bits_at(t: float) -> float:
        zt = z / t
        return float((np.logaddexp(0, zt) - y * zt).mean() / math.log(2))

    assert temp["best"] == pytest.approx(2.0, rel=0.1)
    assert temp["loss_at_best"] == pytest.approx(bits_at(temp["best"]), rel=1e-9)


# ---------------------------------------------------------------- exact and mergeable


def _state(frame: pd.DataFrame, first_row: int, **options: Any):
    scan = Scan(
        [TableSource(pa.Table.from_pandas(frame, preserve_index=False))],
        make_settings(kind="probs", **options),
        first_row=first_row,
    )
    return scan.plan, scan.state()


@settings(derandomize=True, database=None, deadline=None, max_examples=25,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(
    cuts=st.lists(st.integers(1, 249), max_size=5, unique=True),
    order=st.randoms(use_true_random=False),
    binning=st.sampled_from(["width", "mass"]),
    target=st.sampled_from(["top", "classwise"]),
    weighted=st.booleans(),
)
def test_any_split_merged_in_any_order_gives_identical_calibration(
    cuts, order, binning, target, weighted
):
    labels, _, probs = _categorical(250, 3, seed=12)
    frame = _frame(labels, probs, "prob")
    options: dict[str, Any] = {"calibration": True, "ece_binning": binning,
                               "ece_target": target, "decompose": True}  # fmt: skip
    if weighted:
        frame["w"] = np.random.default_rng(0).choice([0.0, 0.25, 1.0, 7.5], len(frame))
        options["weight"] = "w"
    plan, whole = _state(frame, 0, **options)
    bounds = [0, *sorted(cuts), len(frame)]
    parts = [_state(frame.iloc[a:b], a, **options)[1] for a, b in itertools.pairwise(bounds)]
    order.shuffle(parts)
    while len(parts) > 1:
        i = order.randrange(len(parts) - 1)
        parts[i : i + 2] = [parts[i].merge(parts[i + 1])]
    assert parts[0].calibration == whole.calibration
    expected = build_report(plan, whole, ["x"], "x").to_dict()["calibration"]
    assert build_report(plan, parts[0], ["x"], "x").to_dict()["calibration"] == expected


def test_cli_save_state_and_merge_give_the_same_calibration(tmp_path):
    labels, logits, _ = _categorical(3000, 4, seed=1)
    frame = _frame(labels, logits, "logit")
    frame.iloc[:1700].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[1700:].to_parquet(tmp_path / "b.parquet", row_group_size=300)
    frame.to_csv(tmp_path / "all.csv", index=False)
    args = ["--calibration", "--ece-binning", "mass", "--decompose", "--format", "json"]
    one = invoke("eval", tmp_path / "all.csv", *args)
    assert one.exit_code == 0, one.output
    for name in ("a.csv", "b.parquet"):
        saved = invoke("eval", tmp_path / name, *args, "--save-state", tmp_path / f"{name}.state")
        assert saved.exit_code == 0, saved.output
    merged = invoke("merge", tmp_path / "b.parquet.state", tmp_path / "a.csv.state",
                    "--format", "json")  # fmt: skip
    assert merged.exit_code == 0, merged.output
    a, b = json.loads(one.stdout), json.loads(merged.stdout)
    assert a["calibration"] == b["calibration"]
    # another convention cannot be merged with these
    other = invoke("eval", tmp_path / "a.csv", "--calibration", "--save-state",
                   tmp_path / "other.state")  # fmt: skip
    assert other.exit_code == 0
    refused = invoke("merge", tmp_path / "other.state", tmp_path / "b.parquet.state")
    assert refused.exit_code == 2
    assert "calibration" in refused.stderr


# ---------------------------------------------------------------- command line


def test_cli_shows_the_convention_in_every_format(tmp_path):
    labels, _, probs = _categorical(200, 3, seed=2)
    path = tmp_path / "p.csv"
    _frame(labels, probs, "prob").to_csv(path, index=False)
    table = invoke("eval", path, "--calibration")
    assert table.exit_code == 0, table.output
    assert "ECE" in table.stdout
    assert "15 equal-width bins (lo, hi]" in table.stdout
    markdown = invoke("eval", path, "--ece-preset", "netcal", "--format", "markdown")
    assert "10 equal-width bins \\[lo, hi), last bin closed at 1 (netcal preset)" in markdown.stdout
    data = json.loads(invoke("eval", path, "--ece-bins", "4", "--format", "json").stdout)
    assert data["calibration"]["n_bins"] == 4  # any --ece-* option turns calibration on
    assert "calibration" not in json.loads(invoke("eval", path, "--format", "json").stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ece-target", "positive"], "--ece-target positive needs one positive class"),
        (["--ece-bins", "0"], "--ece-bins"),
        (["--ece-binning", "quantile"], "--ece-binning"),
        (["--ece-preset", "pycalib"], "--ece-preset"),
    ],
)
def test_cli_bad_calibration_options_exit_2(tmp_path, args, message):
    labels, _, probs = _categorical(50, 3, seed=2)
    path = tmp_path / "p.csv"
    _frame(labels, probs, "prob").to_csv(path, index=False)
    result = invoke("eval", path, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_top_probability_and_brier_keep_their_precision_on_confident_rows():
    """Per-row top p and Brier from the loss kernel's sums, against mpmath at 60 digits:
    a confident right row's Brier of 8e-44 keeps its relative precision."""
    import mpmath

    from xent_cli.kernels.scoring import score_categorical, score_categorical_logits_parts
    from xent_cli.metrics.confidence import confidences
    from xent_cli.options import EceTarget, Kind, Mode

    mpmath.mp.dps = 60
    logits = np.array([[50.0, 0.0, -3.0], [0.0, 50.0, -3.0], [1.0, 2.0, 3.0], [-1, 30, 29.5]])
    labels = np.array([0, 0, 2, 2])
    scored, parts = score_categorical_logits_parts(logits, labels)
    fused = confidences(Mode.categorical, Kind.logits, EceTarget.top, logits, labels, None,
                        scored, parts)  # fmt: skip
    plain = confidences(Mode.categorical, Kind.logits, EceTarget.top, logits, labels, None,
                        score_categorical(logits, labels, Kind.logits, 0.0))  # fmt: skip
    for i, (row, label) in enumerate(zip(logits.tolist(), labels.tolist(), strict=True)):
        e = [mpmath.exp(mpmath.mpf(v)) for v in row]
        total = sum(e)
        brier = sum((x / total - (1 if j == label else 0)) ** 2 for j, x in enumerate(e))
        assert fused.brier[i] == pytest.approx(float(brier), rel=1e-13)
        assert fused.confidence[i] == pytest.approx(float(max(e) / total), rel=1e-15)
    # without the kernel's sums handed over, they are recomputed: the same numbers
    assert plain.brier.tolist() == fused.brier.tolist()
    assert plain.confidence.tolist() == fused.confidence.tolist()


# ---------------------------------------------------------------- per slice


def test_each_slice_has_its_ece_and_brier_like_a_groupby(tmp_path):
    rng = np.random.default_rng(21)
    n = 3000
    p = rng.random(n)
    y = (rng.random(n) < p**1.3).astype(int)
    frame = pd.DataFrame({"label": y, "prob": p, "src": rng.choice(["a", "b", "c"], n)})
    frame.loc[:5, "src"] = "tiny"
    report = evaluate(frame, mode="binary", calibration=True, by="src", ece_bins=5).to_dict()
    groups = {g["key"]["src"]: g for g in report["slices"]["groups"]}
    for name, sub in frame.groupby("src"):
        bins = ref_bins(sub.prob.tolist(), sub.label.tolist(), [1.0] * len(sub), 5, "right")
        ece, mce = ref_ece(bins, len(sub))
        assert groups[name]["ece"] == pytest.approx(ece, abs=1e-14)
        assert groups[name]["mce"] == pytest.approx(mce, abs=1e-14)
        brier = ((sub.prob - sub.label) ** 2).mean()
        assert groups[name]["brier"] == pytest.approx(brier, abs=1e-14)
    # the same figures from a CSV copy, two saved states merged, and in the table
    frame.iloc[:1000].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[1000:].to_parquet(tmp_path / "b.parquet", row_group_size=128)
    args = ["--mode", "binary", "--by", "src", "--ece-bins", "5", "--format", "json"]
    for name in ("a.csv", "b.parquet"):
        saved = invoke("eval", tmp_path / name, *args, "--save-state", tmp_path / f"{name}.st")
        assert saved.exit_code == 0, saved.output
    merged = invoke("merge", tmp_path / "a.csv.st", tmp_path / "b.parquet.st", "--format", "json")
    assert merged.exit_code == 0, merged.output
    assert json.loads(merged.stdout)["slices"]["groups"] == report["slices"]["groups"]
    frame.to_csv(tmp_path / "all.csv", index=False)
    table = invoke("eval", tmp_path / "all.csv", "--mode", "binary", "--by", "src",
                   "--calibration")  # fmt: skip
    assert "ECE" in table.stdout.split("slices")[-1]
