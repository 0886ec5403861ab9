"""Property tests (hypothesis) of the invariances a cross-entropy evaluator must respect.

Run through the public ``xent_cli.evaluate(DataFrame, ...)`` API and directly through the
scoring functions. Every test is derandomized (the same examples on every run) and keeps no
example database, so the suite is reproducible and leaves no files behind.
"""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.special
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import xent_cli
from xent_cli.errors import XentError
from xent_cli.io import base as readers
from xent_cli.io.frames import TableSource
from xent_cli.kernels.scoring import score_binary, score_categorical, score_soft_targets
from xent_cli.options import Kind


def _settings(max_examples: int) -> settings:
    return settings(
        derandomize=True,
        database=None,
        deadline=None,
        max_examples=max_examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- strategies ----------------------------------------------------------------------------


@st.composite
def gapped_logits(
    draw: st.DrawFn, bound: float = 50.0, max_k: int = 6, max_rows: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """(logits (n, k), labels (n,)): logits in [-bound, bound + 0.004], pairwise >= 0.006 apart
    within a row, so that no arg-max is a near-tie that rounding could flip."""
    k = draw(st.integers(2, max_k))
    n = draw(st.integers(1, max_rows))
    steps = round(bound * 100)
    grid = draw(
        st.lists(
            st.lists(st.integers(-steps, steps), min_size=k, max_size=k, unique=True),
            min_size=n,
            max_size=n,
        )
    )
    jitter = draw(st.lists(st.floats(0.0, 0.004), min_size=n * k, max_size=n * k))
    logits = np.array(grid, dtype=np.float64) / 100.0 + np.array(jitter).reshape(n, k)
    labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return logits, labels


def wide_floats(bound: float = 1e4) -> st.SearchStrategy[float]:
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False)


@st.composite
def wide_logits(draw: st.DrawFn, bound: float = 1e3, max_k: int = 5, max_rows: int = 20):
    """Arbitrary finite logits (ties and extremes allowed) with labels."""
    k = draw(st.integers(2, max_k))
    n = draw(st.integers(1, max_rows))
    values = draw(st.lists(wide_floats(bound), min_size=n * k, max_size=n * k))
    labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return np.array(values, dtype=np.float64).reshape(n, k), labels


# -- frames and report comparison ----------------------------------------------------------


def frame(scores: np.ndarray, labels: Any, prefix: str = "logit_", **extra: Any) -> pd.DataFrame:
    out = pd.DataFrame(scores, columns=[f"{prefix}{j}" for j in range(scores.shape[1])])
    out.insert(0, "label", labels)
    for name, values in extra.items():
        out[name] = values
    return out


def softmax64(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# The heuristic "these logits look like probabilities" depends on how the inputs look, not
# on the losses; invariances about losses ignore it.
LOOKS_LIKE = "probabilities-as-logits"


def assert_same(
    a: Any, b: Any, rel: float, skip: set[str] = frozenset(), path: str = "", abs_tol: float = 0.0
) -> None:
    """Recursive equality of to_dict() trees; floats to ``rel``; keys in ``skip`` ignored."""
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        keys = set(a) - skip
        assert keys == set(b) - skip, f"{path}: keys {sorted(keys ^ (set(b) - skip))}"
        for key in sorted(keys):
            assert_same(a[key], b[key], rel, skip, f"{path}.{key}", abs_tol)
    elif isinstance(a, list):
        assert isinstance(b, list), path
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, rel, skip, f"{path}[{i}]", abs_tol)
    elif isinstance(a, float) and not isinstance(a, bool):
        assert isinstance(b, float), f"{path}: {a!r} vs {b!r}"
        assert math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def report_dict(report: Any, drop_warnings: tuple[str, ...] = ()) -> dict[str, Any]:
    out = report.to_dict()
    out["warnings"] = [w for w in out["warnings"] if w["code"] not in drop_warnings]
    return out


# -- shift invariance ----------------------------------------------------------------------


def draw_shifts(data: Any, rows: int) -> np.ndarray:
    """One constant per row, to add to all of that row's logits."""
    return np.array(data.draw(st.lists(wide_floats(100.0), min_size=rows, max_size=rows)))


@_settings(80)
@given(gapped_logits(bound=50.0), st.data())
def test_shift_invariance_report(case, data):
    logits, labels = case
    shifts = draw_shifts(data, len(labels))
    base = xent_cli.evaluate(frame(logits, labels))
    moved = xent_cli.evaluate(frame(logits + shifts[:, None], labels))
    assert_same(report_dict(base, (LOOKS_LIKE,)), report_dict(moved, (LOOKS_LIKE,)), rel=1e-9)


@_settings(100)
@given(gapped_logits(bound=50.0), st.data())
def test_shift_invariance_scoring(case, data):
    logits, labels = case
    shifts = draw_shifts(data, len(labels))
    a = score_categorical(logits, labels, Kind.logits, 1e-15)
    b = score_categorical(logits + shifts[:, None], labels, Kind.logits, 1e-15)
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(b.predicted, a.predicted)
    np.testing.assert_allclose(b.p_true, a.p_true, rtol=1e-9, atol=0)
    soft = softmax64(logits)  # soft targets: shift-invariant as well
    np.testing.assert_allclose(
        score_soft_targets(logits + shifts[:, None], soft, Kind.logits, 0.0).loss,
        score_soft_targets(logits, soft, Kind.logits, 0.0).loss,
        rtol=1e-9,
    )


# -- permuting classes ---------------------------------------------------------------------


@_settings(80)
@given(gapped_logits(bound=50.0), st.data())
def test_permuting_classes_permutes_per_class_results(case, data):
    logits, labels = case
    k = logits.shape[1]
    perm = np.array(data.draw(st.permutations(range(k))))
    inverse = np.argsort(perm)
    # new column j holds old class perm[j]; an old label c is new label inverse[c]
    base = xent_cli.evaluate(frame(logits, labels)).to_dict()
    permuted = xent_cli.evaluate(frame(logits[:, perm], inverse[labels])).to_dict()
    assert_same(base, permuted, rel=1e-12, skip={"classes"})
    for j in range(k):
        assert permuted["classes"][j]["class"] == str(j)
        assert_same(base["classes"][perm[j]], permuted["classes"][j], rel=1e-12, skip={"class"})


@_settings(80)
@given(wide_logits(bound=1e4), st.data())
def test_permuting_classes_scoring(case, data):
    logits, labels = case
    perm = np.array(data.draw(st.permutations(range(logits.shape[1]))))
    inverse = np.argsort(perm)
    a = score_categorical(logits, labels, Kind.logits, 1e-15)
    b = score_categorical(logits[:, perm], inverse[labels], Kind.logits, 1e-15)
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(b.classes, inverse[a.classes])


# -- logits == probs == log-probs ----------------------------------------------------------


@_settings(80)
@given(gapped_logits(bound=5.0))
def test_logits_path_equals_probs_path(case):
    # |z| <= 5 keeps every probability >= e^-10 / K and every p_true <= 1 - e^-10 / K, so
    # -log(p) computed from a rounded probability keeps ~1e-11 relative precision.
    logits, labels = case
    by_logits = xent_cli.evaluate(frame(logits, labels), kind="logits", eps=0.0)
    probs = softmax64(logits)
    by_probs = xent_cli.evaluate(frame(probs, labels, "prob_"), kind="probs", eps=0.0)
    skip = {"kind", "kind_source", "columns", "signature"}
    assert_same(report_dict(by_logits, (LOOKS_LIKE,)), report_dict(by_probs), rel=1e-9, skip=skip)
    assert by_probs.warnings == []


@_settings(80)
@given(gapped_logits(bound=5.0))
@example((np.array([[0.0, 0.01, -0.01], [0.0, 0.01, -0.01]]), np.array([0, 0])))
def test_log_probs_path_equals_logits_path(case):
    logits, labels = case
    by_logits = xent_cli.evaluate(frame(logits, labels), kind="logits")
    log_probs = scipy.special.log_softmax(logits, axis=1)
    by_log = xent_cli.evaluate(frame(log_probs, labels, "logprob_"), kind="log-probs")
    skip = {"kind", "kind_source", "columns", "signature"}
    assert_same(report_dict(by_logits, (LOOKS_LIKE,)), report_dict(by_log), rel=1e-9, skip=skip)
    # the column prefix alone also says log-probs
    assert xent_cli.evaluate(frame(log_probs, labels, "logprob_")).kind == "log-probs"


@_settings(100)
@given(gapped_logits(bound=5.0))
def test_scoring_kinds_agree(case):
    logits, labels = case
    ref = score_categorical(logits, labels, Kind.logits, 0.0)
    probs = score_categorical(softmax64(logits), labels, Kind.probs, 0.0)
    logp = score_categorical(scipy.special.log_softmax(logits, axis=1), labels, Kind.log_probs, 0.0)
    for other in (probs, logp):
        np.testing.assert_allclose(other.loss, ref.loss, rtol=1e-9, atol=0)
        np.testing.assert_allclose(other.p_true, ref.p_true, rtol=1e-9, atol=0)
        np.testing.assert_array_equal(other.predicted, ref.predicted)
    # one-hot soft targets are the hard-label loss
    onehot = np.eye(logits.shape[1])[labels]
    for kind, scores in (
        (Kind.logits, logits),
        (Kind.probs, softmax64(logits)),
        (Kind.log_probs, scipy.special.log_softmax(logits, axis=1)),
    ):
        soft = score_soft_targets(scores, onehot, kind, 0.0)
        np.testing.assert_allclose(soft.loss, ref.loss, rtol=1e-9, atol=0)
        np.testing.assert_array_equal(soft.classes, labels)


@pytest.mark.parametrize("shape", ["3 rows x 2 classes", "binary 3 rows", "2x2, one row all -inf"])
def test_log_probs_through_evaluate_minimal(shape):
    # regression: engine._finite_rows once mixed an (n, k) mask with an (n,) row mask
    ln = math.log
    if shape == "3 rows x 2 classes":
        df = pd.DataFrame(
            {
                "label": [0, 1, 1],
                "logprob_0": [ln(0.5), ln(0.25), ln(0.1)],
                "logprob_1": [ln(0.5), ln(0.75), ln(0.9)],
            }
        )
        expected, evaluated = (ln(2.0) - ln(0.75) - ln(0.9)) / 3, 3
    elif shape == "binary 3 rows":
        df = pd.DataFrame({"label": [0, 1, 1], "logprob": [ln(0.5), ln(0.25), ln(0.1)]})
        expected, evaluated = (ln(2.0) - ln(0.25) - ln(0.1)) / 3, 3
    else:  # row 0 has no probability anywhere (skipped); row 1 is fine
        df = pd.DataFrame(
            {
                "label": [0, 1],
                "logprob_0": [-math.inf, ln(0.25)],
                "logprob_1": [-math.inf, ln(0.75)],
            }
        )
        expected, evaluated = -ln(0.75), 1
    report = xent_cli.evaluate(df)
    assert report.kind == "log-probs"
    assert report.n_evaluated == evaluated
    assert report.loss == pytest.approx(expected, rel=1e-12)


# -- binary == two-class categorical -------------------------------------------------------


def binary_labels(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 1), min_size=n, max_size=n)


@st.composite
def binary_case(draw: st.DrawFn, values: st.SearchStrategy[float]):
    n = draw(st.integers(1, 30))
    z = np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)
    return z, np.array(draw(binary_labels(n)))


BINARY_SKIP = {"mode", "kind_source", "columns", "signature"}


@_settings(100)
@given(binary_case(wide_floats(1e4)))
def test_binary_logits_equal_two_class_categorical(case):
    z, y = case
    binary = xent_cli.evaluate(pd.DataFrame({"label": y, "logit": z}))
    assert (binary.mode, binary.kind) == ("binary", "logits")
    two = xent_cli.evaluate(frame(np.column_stack([np.zeros_like(z), z]), y))
    assert two.mode == "categorical"
    assert_same(
        report_dict(binary, (LOOKS_LIKE,)),
        report_dict(two, (LOOKS_LIKE,)),
        rel=1e-12,
        skip=BINARY_SKIP,
    )


@_settings(100)
@given(binary_case(st.floats(0.0, 1.0)), st.sampled_from([1e-15, 0.0]))
def test_binary_probs_equal_two_class_categorical(case, eps):
    p, y = case
    binary = xent_cli.evaluate(pd.DataFrame({"label": y, "p": p}), kind="probs", eps=eps)
    assert binary.mode == "binary"
    two = xent_cli.evaluate(frame(np.column_stack([1.0 - p, p]), y, "prob_"), kind="probs", eps=eps)
    assert_same(report_dict(binary), report_dict(two), rel=1e-12, skip=BINARY_SKIP)


@_settings(100)
@given(binary_case(wide_floats(1e4)))
def test_score_binary_equals_two_class_categorical(case):
    z, y = case
    b = score_binary(z, y, Kind.logits, 1e-15)
    c = score_categorical(np.column_stack([np.zeros_like(z), z]), y, Kind.logits, 1e-15)
    np.testing.assert_allclose(b.loss, c.loss, rtol=1e-12, atol=0)
    np.testing.assert_allclose(b.p_true, c.p_true, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(b.predicted, c.predicted)


@_settings(100)
@given(binary_case(wide_floats(30.0)))
def test_score_binary_log_probs_equal_logits(case):
    # log sigmoid(z) = -log1p(exp(-z)) (stable for both signs); the log-probs path must
    # recover log(1 - sigmoid(z)) for negatives through log1mexp.
    z, y = case
    log_p = -np.logaddexp(0.0, -z)
    a = score_binary(z, y, Kind.logits, 0.0)
    b = score_binary(log_p, y, Kind.log_probs, 0.0)
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-9, atol=0)
    np.testing.assert_allclose(b.p_true, a.p_true, rtol=1e-9, atol=0)


# -- chunking ------------------------------------------------------------------------------


@st.composite
def messy_table(draw: st.DrawFn) -> pa.Table:
    """Up to 60 rows; one to four score columns; rows of every kind of value (wide logits,
    values in [0, 1], normalized probabilities, normalized log-probabilities), NaN scores,
    missing labels and optional weights. One score column means binary mode."""
    k = draw(st.integers(1, 4))
    n = draw(st.integers(1, 60))
    prefix = draw(st.sampled_from(["logit_", "score_"]))  # kind by name / by values
    rows = []
    for _ in range(n):
        regime = draw(st.sampled_from(["wide", "wide", "unit", "probs", "logprobs"]))
        if regime == "wide":
            row = draw(st.lists(wide_floats(1e4), min_size=k, max_size=k))
        elif regime == "unit":
            row = draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k))
        else:
            z = np.array([draw(st.floats(-8.0, 8.0)) for _ in range(k)])[None, :]
            row = list(softmax64(z)[0] if regime == "probs" else scipy.special.log_softmax(z)[0])
        if draw(st.integers(0, 9)) == 0:
            row[draw(st.integers(0, k - 1))] = math.nan
        rows.append(row)
    n_labels = max(k, 2)
    labels = draw(
        st.lists(st.one_of(st.integers(0, n_labels - 1), st.none()), min_size=n, max_size=n)
    )
    scores = np.array(rows, dtype=np.float64).reshape(n, k)
    columns = {"label": pa.array(labels, pa.int64())}
    for j in range(k):
        columns[f"{prefix}{j}"] = pa.array(scores[:, j])
    if draw(st.booleans()):
        columns["w"] = pa.array(draw(st.lists(st.floats(0.0, 5.0), min_size=n, max_size=n)))
    return pa.table(columns)


def outcome(table: pa.Table) -> tuple[str, Any]:
    options = {"weight": "w"} if "w" in table.column_names else {}
    try:
        return "ok", xent_cli.evaluate(table, **options).to_dict()
    except XentError as error:
        return "error", str(error)


@_settings(150)
@given(messy_table(), st.data())
def test_chunk_size_does_not_change_the_report(table, data):
    chunk = data.draw(st.integers(1, table.num_rows + 1), label="chunk")
    whole = outcome(table)
    with mock.patch.object(readers, "PARQUET_BATCH_ROWS", chunk):
        # the patch reaches TableSource: the table really streams in chunks of that size
        batches = list(TableSource(table, "<table>").batches(table.column_names, {}))
        assert len(batches) == math.ceil(table.num_rows / chunk)
        split = outcome(table)
    assert whole == split  # exact sums: the same report to the last bit


# -- weights -------------------------------------------------------------------------------

WEIGHT_SKIP = {"count", "n_rows", "n_evaluated", "n_skipped", "zero_probability", "warnings"}


@_settings(100)
@given(
    wide_logits(bound=1e3),
    st.data(),
    st.sampled_from(["logits", "probs"]),
    st.sampled_from([1e-15, 0.0]),
)
def test_integer_weights_equal_row_repetition(case, data, kind, eps):
    logits, labels = case
    n = len(labels)
    weights = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))
    assume(weights.sum() > 0)
    scores = logits if kind == "logits" else softmax64(logits)  # probs may underflow to 0
    prefix = "logit_" if kind == "logits" else "prob_"
    # with eps = 0 an underflowed probability is an infinite loss, also on weight-0 rows
    weighted = xent_cli.evaluate(frame(scores, labels, prefix, w=weights), weight="w", eps=eps)
    repeat = np.repeat(np.arange(n), weights)
    repeated = xent_cli.evaluate(frame(scores[repeat], labels[repeat], prefix), eps=eps)
    assert_same(
        report_dict(weighted),
        report_dict(repeated),
        rel=1e-12,
        abs_tol=1e-300,
        skip=WEIGHT_SKIP | {"columns", "signature"},
    )
    assert weighted.n_rows == n
    assert repeated.n_rows == weights.sum()


def test_zero_weight_row_with_infinite_loss_counts_as_absent():
    # regression: 0 * inf in ClassTotals.add once gave NaN (and a RuntimeWarning)
    probs = np.array([[0.0, 1.0], [0.5, 0.5]])
    labels = np.array([0, 1])
    weighted = xent_cli.evaluate(frame(probs, labels, "prob_", w=[0.0, 1.0]), weight="w", eps=0.0)
    dropped = xent_cli.evaluate(frame(probs[1:], labels[1:], "prob_"), eps=0.0)
    assert weighted.loss == dropped.loss == math.log(2.0)
    assert weighted.loss_sum == dropped.loss_sum


# -- arg-max -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 30),
    k=st.integers(1, 80),
    data=st.data(),
)
def test_argmax_rows_is_numpy_argmax_with_ties(rows, k, data):
    """The column scan picks the same class as ndarray.argmax (first of ties) in any layout."""
    from xent_cli.kernels.numerics import argmax_rows

    # few distinct values, so that ties are common; -inf as log-probabilities may hold
    cells = st.sampled_from([-np.inf, -2.0, -1.0, 0.0, 0.5, 1.0])
    values = np.array(data.draw(st.lists(cells, min_size=rows * k, max_size=rows * k)))
    values = values.reshape(rows, k)
    assume(np.isfinite(values.max(axis=1)).all())  # an all -inf row is never scored
    for layout in (np.ascontiguousarray(values), np.asfortranarray(values)):
        predicted, top = argmax_rows(layout)
        np.testing.assert_array_equal(predicted, values.argmax(axis=1))
        np.testing.assert_array_equal(top, values.max(axis=1))


# -- label encoding ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@example(labels=[0, 1, 2, 1], n_classes=3, wide=False)  # labels that are the indices already
@example(labels=[1, 2, 1], n_classes=3, wide=False)
@given(
    labels=st.lists(st.one_of(st.none(), st.integers(-3, 12)), min_size=1, max_size=40),
    n_classes=st.integers(1, 10),
    wide=st.booleans(),
)
def test_integer_labels_encode_as_their_dictionary_does(labels, n_classes, wide):
    """The table path for integer labels gives the codes and unknown values (in order of
    appearance) of the dictionary path; a span too wide for a table falls back to it."""
    from xent_cli.core.labels import ClassLookup, encode

    if wide:
        labels = [*labels, 10**9]
    array = pa.array(labels, pa.int64())
    lookup = ClassLookup([str(i) for i in range(n_classes)])
    codes, unknown = encode(array, lookup)
    want_codes, want_unknown = encode(array.dictionary_encode(), lookup)
    np.testing.assert_array_equal(codes, want_codes)
    assert unknown == want_unknown


@settings(max_examples=200, deadline=None)
@given(
    positive=st.integers(0, 9),
    negative=st.integers(0, 9),
    picks=st.lists(st.one_of(st.none(), st.booleans()), min_size=1, max_size=40),
)
def test_binary_integer_labels_encode_as_their_dictionary_does(positive, negative, picks):
    """Two integer label values, however far apart, give the codes of the dictionary path:
    the values between them are not shown to the lookup (it would take one as the negative)."""
    from xent_cli.core.labels import BinaryLookup, encode

    assume(positive != negative)
    labels = [None if p is None else positive if p else negative for p in picks]
    array = pa.array(labels, pa.int64())
    codes, unknown = encode(array, BinaryLookup(str(positive)))
    want_codes, want_unknown = encode(array.dictionary_encode(), BinaryLookup(str(positive)))
    np.testing.assert_array_equal(codes, want_codes)
    assert unknown == want_unknown == []


# -- per-class sums ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(
        st.tuples(
            st.integers(0, 1),
            st.one_of(st.floats(0, 50), st.just(np.inf)),
            st.floats(0, 1),
            st.booleans(),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_class_sums_are_exact(cells):
    """Per-class sums are the exact sums rounded once (an inf loss stays in its own class),
    and the overall total is rounded from the exact total, not from the rounded classes."""
    from fractions import Fraction

    from xent_cli.kernels.accumulate import ClassTotals

    classes = np.array([c[0] for c in cells], np.intp)
    loss = np.array([c[1] for c in cells])
    p_true = np.array([c[2] for c in cells])
    correct = np.array([c[3] for c in cells])
    totals = ClassTotals.zeros(2, weighted=False)
    totals.add(classes, loss, None, correct, p_true, np.zeros(len(cells), bool))
    sums = totals.finish()

    def exact(values: np.ndarray) -> float:
        if np.isinf(values).any():
            return math.inf
        return float(sum((Fraction(float(v)) for v in values), Fraction(0)))

    for k in (0, 1):
        mine = classes == k
        assert sums.count[k] == mine.sum()
        assert sums.correct[k] == (mine & correct).sum()
        assert sums.loss_sum[k] == exact(loss[mine])
        assert sums.p_true_sum[k] == exact(p_true[mine])
    assert sums.total_loss == exact(loss)
    assert sums.total_p_true == exact(p_true)
