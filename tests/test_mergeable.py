"""The mergeable-state protocol (xent_cli.kernels.mergeable) and every accumulator that follows
it: any split of the rows, each part filled apart and the parts merged in any order (as a
random tree, either side first), gives a state ``==`` to the whole's, whose ``to_state()``
writes the same JSON text; ``from_state`` of that JSON gives the state back; merging an
``empty_like()`` changes nothing; states of other settings refuse to merge.

Expectations are never figures: each accumulator is compared with itself filled in one go,
which the tests of each module check against independently computed values.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.special
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xent_cli
import xent_cli.metrics
from xent_cli.comparison.pairing import Entries, Pairs
from xent_cli.comparison.stats import PairedTotals
from xent_cli.core import diagnostics as dx
from xent_cli.core.engine import Scan
from xent_cli.core.report import build_report
from xent_cli.core.state import EvalState, SliceStates
from xent_cli.io.frames import TableSource
from xent_cli.kernels.accumulate import ClassTotals
from xent_cli.kernels.bootstrap import PoissonBootstrap
from xent_cli.kernels.exact import ExactSums
from xent_cli.kernels.mergeable import (
    FieldState,
    attached,
    counted,
    keyed,
    nested,
    reduced,
    setting,
)
from xent_cli.metrics import METRICS
from xent_cli.metrics.base import BatchScores, CoreTotals, Metric
from xent_cli.metrics.calibration import CalibrationState, Convention
from xent_cli.metrics.confidence import Confidences
from xent_cli.metrics.reliability import BinSums
from xent_cli.metrics.temperature import GRID, TemperatureSums
from xent_cli.options import CalibrationSpec, EceBinning, EceTarget, Mode, make_settings

from .conftest import SAMPLES, invoke

GOLDEN = Path(__file__).parent / "golden"
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)


def merged_in_any_order(parts: list[Any], order: random.Random) -> Any:
    """The parts merged as a random tree, each merge taking a random side first."""
    parts = list(parts)
    order.shuffle(parts)
    while len(parts) > 1:
        i = order.randrange(len(parts) - 1)
        left, right = parts[i], parts[i + 1]
        parts[i : i + 2] = [left.merge(right) if order.random() < 0.5 else right.merge(left)]
    return parts[0]


def check_protocol(
    n_rows: int,
    empty: Callable[[], Any],
    fill: Callable[[Any, int, int], None],
    cuts: list[int],
    order: random.Random,
) -> None:
    """The protocol's promises for rows 0..n_rows-1, ``fill(state, a, b)`` adding rows a..b-1."""
    whole = empty()
    fill(whole, 0, n_rows)
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < n_rows), n_rows]
    parts = []
    for a, b in itertools.pairwise(bounds):
        part = empty()
        fill(part, a, b)
        parts.append(part)
    merged = merged_in_any_order(parts, order)
    assert merged == whole
    text = json.dumps(whole.to_state(), allow_nan=False)
    assert json.dumps(merged.to_state(), allow_nan=False) == text
    loaded = type(whole).from_state(json.loads(text))
    assert loaded == whole
    assert json.dumps(loaded.to_state(), allow_nan=False) == text
    assert merged.fingerprint() == whole.fingerprint() == empty().fingerprint()
    nothing = whole.empty_like()
    assert nothing == empty()
    assert whole.merge(nothing) == whole
    assert json.dumps(nothing.merge(whole).to_state(), allow_nan=False) == text


# -- the rules, on a toy state ------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class _Leaf(FieldState):
    total: int = counted()


@dataclasses.dataclass(eq=False)
class _Toy(FieldState):
    STATE_HEADER: ClassVar[dict[str, str]] = {"kind": "toy"}

    hits: np.ndarray = counted()
    rows: int = counted(key="n")
    size: int = setting(int)
    leaf: _Leaf = nested(_Leaf)
    low: float = reduced(min, float("inf"))
    by_name: dict[str, _Leaf] = keyed(_Leaf)
    extra: _Leaf | None = nested(_Leaf, optional=True)
    note: str | None = attached()
    scratch: list[int] = dataclasses.field(default_factory=list, init=False)


def _toy(hits: list[int], rows: int, low: float, names: dict[str, int], **kw: Any) -> _Toy:
    leaves = {k: _Leaf(v) for k, v in names.items()}
    return _Toy(np.array(hits, np.int64), rows, 2, _Leaf(rows), low, leaves, **kw)


def test_the_rules_merge_compare_save_and_load():
    a = _toy([1, 0], 3, 0.5, {"x": 1}, note="plan")
    b = _toy([2, 5], 4, 0.25, {"x": 2, "y": 7})
    merged = a.merge(b)
    # by hand: counts add, the setting is kept, min of the lows, per-key merge, note kept
    assert merged.hits.tolist() == [3, 5]
    assert (merged.rows, merged.size, merged.leaf.total, merged.low) == (7, 2, 7, 0.25)
    assert {k: v.total for k, v in merged.by_name.items()} == {"x": 3, "y": 7}
    assert merged.extra is None
    assert merged.note == "plan"
    assert merged == b.merge(a)  # the note is not state: not compared
    assert a.hits.tolist() == [1, 0]  # the parts are unchanged
    state = merged.to_state()
    assert state == {
        "kind": "toy",
        "hits": [3, 5],
        "n": 7,
        "size": 2,
        "leaf": {"total": 7},
        "low": 0.25,
        "by_name": [["x", {"total": 3}], ["y", {"total": 7}]],
    }
    assert _Toy.from_state(json.loads(json.dumps(state))) == merged
    assert merged.fingerprint() == {"hits": 2, "size": 2, "leaf": {}, "extra": None}
    assert merged.empty_like().to_state() == {
        "kind": "toy",
        "hits": [0, 0],
        "n": 0,
        "size": 2,
        "leaf": {"total": 0},
        "low": float("inf"),
        "by_name": [],
    }


def test_states_of_other_settings_refuse_to_merge():
    a = _toy([1, 0], 3, 0.5, {})
    with pytest.raises(ValueError, match=r"_Toy\.size"):
        a.merge(dataclasses.replace(a, size=3))
    with pytest.raises(ValueError, match=r"_Toy\.hits: 2 entries with 3"):
        a.merge(_toy([1, 0, 0], 3, 0.5, {}))
    with pytest.raises(ValueError, match=r"_Toy\.extra: present in one state only"):
        a.merge(_toy([1, 0], 3, 0.5, {}, extra=_Leaf(1)))
    with pytest.raises(TypeError, match="cannot merge _Toy with _Leaf"):
        a.merge(_Leaf(1))  # type: ignore[arg-type]
    assert a != _Leaf(1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(kind="other"), "another xent version"),
        (lambda s: s.pop("size"), "'size' missing"),
        (lambda s: s.update(hits="3"), "list of counts"),
        (lambda s: s.update(leaf=[1]), "saved state"),
    ],
)
def test_bad_saved_states_are_value_errors(change, message):
    state = _toy([1, 0], 3, 0.5, {"x": 1}).to_state()
    change(state)
    with pytest.raises(ValueError, match=message):
        _Toy.from_state(state)


def test_a_field_without_a_rule_must_be_scratch():
    @dataclasses.dataclass(eq=False)
    class Forgotten(FieldState):
        total: int = counted()
        other: int = 0

    with pytest.raises(TypeError, match=r"Forgotten\.other declares no merge rule"):
        Forgotten(1).to_state()


def test_every_accumulator_follows_the_protocol():
    derived = [ClassTotals, BinSums, TemperatureSums, CalibrationState, EvalState, SliceStates,
               PairedTotals]  # fmt: skip
    for cls in derived:
        assert issubclass(cls, FieldState)
        assert cls.__eq__ is FieldState.__eq__, f"{cls.__name__}: @dataclass(eq=False)"
    for cls in (ExactSums, PoissonBootstrap, dx.Diagnostics, *derived):
        for method in ("empty_like", "merge", "fingerprint", "to_state", "from_state"):
            assert callable(getattr(cls, method)), f"{cls.__name__}.{method}"
    for metric in METRICS:
        assert metric.key
        assert callable(metric.load)


def test_kernels_refuse_other_settings_by_name():
    with pytest.raises(ValueError, match="different n_buckets"):
        ExactSums(2).merge(ExactSums(3))
    with pytest.raises(ValueError, match="different seed"):
        PoissonBootstrap(5, 1).merge(PoissonBootstrap(5, 2))
    with pytest.raises(ValueError, match="different limit"):
        dx.Diagnostics(3).merge(dx.Diagnostics(4))


def test_a_negative_sum_writes_its_shortest_digits_whatever_its_history():
    """-1 is the one digit -1 at position 0 (digit j weighs 2**(26 * (offset + j))), also after
    the window grew to hold 2**60 (saved in between) and the sum came back down."""
    grown = ExactSums(1)
    grown.add(None, np.array([2.0**60]))
    grown.to_state()  # folds 2**60 into the digits: the window now reaches digit 2
    grown.add(None, np.array([-(2.0**60)]))
    grown.add(None, np.array([-1.0]))
    plain = ExactSums(1)
    plain.add(None, np.array([-1.0]))
    for state in (grown.to_state(), plain.to_state()):
        assert (state["digit_offset"], state["n_digits"], state["digits"]) == (0, 1, [-1])


# -- every accumulator: any split, merged in any order -----------------------------------

finite = st.floats(-1e12, 1e12, allow_nan=False, allow_subnormal=True)
cuts = st.lists(st.integers(1, 59), max_size=5)
orders = st.randoms(use_true_random=False)


@PROPERTY
@given(
    st.lists(st.tuples(st.integers(0, 3), finite | st.sampled_from([np.inf, -np.inf])),
             min_size=1, max_size=60),
    cuts,
    orders,
)  # fmt: skip
def test_exact_sums(rows, cuts, order):
    buckets = np.array([r[0] for r in rows], np.intp)
    values = np.array([r[1] for r in rows])

    def fill(state: ExactSums, a: int, b: int) -> None:
        state.add(buckets[a:b], values[a:b])

    check_protocol(len(rows), lambda: ExactSums(4), fill, cuts, order)


def _class_rows(data: st.DataObject, n: int, k: int) -> dict[str, Any]:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    return {
        "classes": rng.integers(0, k, n).astype(np.intp),
        "loss": rng.exponential(1.0, n) * 10.0 ** rng.integers(-30, 3, n),
        "weight": rng.choice([0.0, 0.5, 1.0, 3.25], n),
        "correct": rng.random(n) < 0.6,
        "p_true": rng.random(n),
        "zero": rng.random(n) < 0.1,
    }


@PROPERTY
@given(st.integers(1, 60), st.booleans(), cuts, orders, st.data())
def test_class_totals(n, weighted, cuts, order, data):
    r = _class_rows(data, n, 3)

    def fill(state: ClassTotals, a: int, b: int) -> None:
        w = r["weight"][a:b] if weighted else None
        state.add(r["classes"][a:b], r["loss"][a:b], w, r["correct"][a:b], r["p_true"][a:b],
                  r["zero"][a:b])  # fmt: skip

    check_protocol(n, lambda: ClassTotals.zeros(3, weighted), fill, cuts, order)


@PROPERTY
@given(st.integers(1, 60), st.booleans(), st.booleans(), cuts, orders, st.data())
def test_bin_sums(n, weighted, soft, cuts, order, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    buckets = rng.integers(0, 5, n).astype(np.intp)
    p = rng.random(n)
    o = rng.random(n) if soft else (rng.random(n) < p).astype(np.float64)
    w = rng.choice([0.0, 0.5, 2.0], n)

    def fill(state: BinSums, a: int, b: int) -> None:
        state.add(buckets[a:b], p[a:b], o[a:b], w[a:b] if weighted else None, soft)

    check_protocol(n, lambda: BinSums.zeros(5, weighted), fill, cuts, order)


@PROPERTY
@given(st.integers(1, 60), st.booleans(), cuts, orders, st.data())
def test_temperature_sums(n, weighted, cuts, order, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    losses = [rng.exponential(1.0, n) for _ in GRID]
    w = rng.choice([0.0, 1.0, 2.5], n)

    def fill(state: TemperatureSums, a: int, b: int) -> None:
        state.add([loss[a:b] for loss in losses], w[a:b] if weighted else None)

    check_protocol(n, TemperatureSums.zeros, fill, cuts, order)


@PROPERTY
@given(
    st.integers(1, 60),
    st.booleans(),
    st.sampled_from([EceTarget.top, EceTarget.classwise]),
    st.sampled_from(list(EceBinning)),
    cuts,
    orders,
    st.data(),
)
def test_calibration_state(n, weighted, target, binning, cuts, order, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    k = 3
    class_p = rng.dirichlet(np.ones(k), n)
    class_y = np.eye(k)[rng.integers(0, k, n)]
    rows = Confidences(class_p.max(axis=1), rng.random(n) < 0.5, rng.random(n) * 2,
                       class_p, class_y)  # fmt: skip
    grid = [rng.exponential(1.0, n) for _ in GRID]
    w = rng.choice([0.0, 1.0, 2.5], n)
    spec = CalibrationSpec(target, 7, binning, decompose=True)
    convention = Convention.of(spec, Mode.categorical)

    def fill(state: CalibrationState, a: int, b: int) -> None:
        part = Confidences(rows.confidence[a:b], rows.observed[a:b].astype(np.float64),
                           rows.brier[a:b], class_p[a:b], class_y[a:b])  # fmt: skip
        state.add(convention, part, w[a:b] if weighted else None, [g[a:b] for g in grid])

    check_protocol(n, lambda: CalibrationState.empty(convention, k, weighted), fill, cuts, order)


@PROPERTY
@given(st.integers(1, 60), st.booleans(), cuts, orders, st.data())
def test_paired_totals(n, weighted, cuts, order, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    classes = rng.integers(0, 3, n)
    baseline, candidate = rng.exponential(1.0, n), rng.exponential(1.0, n)  # d of either sign
    w = rng.choice([0.0, 1.0, 2.5], n)

    def side(loss: np.ndarray, a: int, b: int) -> Entries:
        rows = np.arange(a, b)
        return Entries(rows, rows * 0, classes[a:b], classes[a:b], loss[a:b],
                       w[a:b] if weighted else None, None)  # fmt: skip

    def fill(state: PairedTotals, a: int, b: int) -> None:
        state.add(Pairs(side(baseline, a, b), side(candidate, a, b)))

    check_protocol(n, lambda: PairedTotals.zeros(3), fill, cuts, order)


@PROPERTY
@given(st.integers(1, 60), st.booleans(), cuts, orders, st.data())
def test_poisson_bootstrap(n, weighted, cuts, order, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    keys = rng.permutation(1000)[:n].astype(np.uint64)
    differences = rng.normal(0.0, 1.0, n)  # sums of either sign
    w = rng.choice([0.0, 1.0, 2.5], n)

    def fill(state: PoissonBootstrap, a: int, b: int) -> None:
        state.add(keys[a:b], differences[a:b], w[a:b] if weighted else None)

    check_protocol(n, lambda: PoissonBootstrap(17, 5), fill, cuts, order)


@PROPERTY
@given(st.integers(1, 60), st.integers(0, 4), cuts, orders, st.data())
def test_diagnostics(n, limit, cuts, order, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    codes = rng.choice([dx.NOT_NORMALIZED, dx.ZERO_PROBABILITY, dx.NON_FINITE, None], n)

    def fill(state: dx.Diagnostics, a: int, b: int) -> None:
        for code in rng.permutation([dx.NOT_NORMALIZED, dx.ZERO_PROBABILITY, dx.NON_FINITE]):
            rows = [r for r in range(a, b) if codes[r] == code]  # any order of codes
            state.add(str(code), rows, [f"id{r}" for r in rows])

    check_protocol(n, lambda: dx.Diagnostics(limit), fill, cuts, order)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, (n, 3))
    frame = pd.DataFrame({f"logit_{j}": logits[:, j] for j in range(3)})
    frame.insert(0, "label", rng.integers(0, 3, n).astype(float))
    frame.loc[rng.random(n) < 0.05, "label"] = None  # missing labels: warnings
    frame["w"] = rng.choice([0.0, 0.5, 1.0, 4.0], n)
    frame["region"] = rng.choice(["north", "south", "east", "west"], n)
    frame["age"] = rng.uniform(0.0, 90.0, n)
    return frame


@settings(derandomize=True, database=None, deadline=None, max_examples=12,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(
    st.sampled_from(["top", "classwise"]),
    st.booleans(),
    st.lists(st.integers(1, 199), max_size=4),
    orders,
)
def test_eval_states_with_slices_and_calibration(target, weighted, cuts, order):
    """EvalState with SliceStates (one EvalState per slice), CalibrationState (its bins,
    Brier sum, temperature sums), Diagnostics and ClassTotals, filled by real scans."""
    frame = _frame(200, seed=11)
    options: dict[str, Any] = {"kind": "logits", "by": "region", "calibration": True,
                               "ece_target": target, "decompose": True}  # fmt: skip
    if weighted:
        options["weight"] = "w"
    plan = Scan([TableSource(pa.Table.from_pandas(frame))], make_settings(**options)).plan

    def fill(state: EvalState, a: int, b: int) -> None:
        table = pa.Table.from_pandas(frame.iloc[a:b], preserve_index=False)
        scan = Scan([TableSource(table)], plan.settings, first_row=a, plan=plan)
        for batch in scan.batches():
            state.add(batch)

    check_protocol(len(frame), lambda: EvalState.empty(plan), fill, cuts, order)
    whole = EvalState.empty(plan)
    fill(whole, 0, len(frame))
    assert whole.slices is not None
    assert len(whole.slices.states) == 4
    assert whole.calibration is not None
    assert whole.calibration.temperature is not None
    per_slice = [s.calibration for s in whole.slices.states.values()]
    assert all((c is None) == (target == "classwise") for c in per_slice)


# -- saved states of the previous format -------------------------------------------------


def test_states_saved_before_the_protocol_merge_as_before(tmp_path):
    """Two states written by ``xent eval --save-state`` before the protocol (slices in the
    order first seen, not sorted) merge into the report of one run over both shards."""
    table = pq.read_table(SAMPLES / "iris_probs.parquet")
    shards = [tmp_path / "iris_a.parquet", tmp_path / "iris_b.parquet"]
    pq.write_table(table.slice(0, 20), shards[0])  # how the saved states' shards were made
    pq.write_table(table.slice(20), shards[1])
    saved = [GOLDEN / "iris_a.state.json", GOLDEN / "iris_b.state.json"]
    first_seen = [k for k, _ in json.loads(saved[0].read_text())["state"]["slices"]["slices"]]
    assert first_seen != sorted(first_seen)  # the old order: a state of the previous format
    merged = invoke("merge", *saved, "-f", "json")
    assert merged.exit_code == 0, merged.output
    whole = invoke("eval", *shards, "--by", "label", "--calibration", "--decompose", "-f", "json")
    assert whole.exit_code == 0, whole.output
    got, want = json.loads(merged.stdout), json.loads(whole.stdout)
    assert got.pop("files") == ["iris_a.parquet", "iris_b.parquet"]
    want.pop("files")
    assert json.dumps(got) == json.dumps(want)
    assert "calibration" in got
    assert len(got["slices"]["groups"]) == 3


def test_a_state_saves_the_same_text_however_the_rows_were_split(tmp_path):
    """--save-state of one run and the merge of two shards' states: the same state text."""
    table = pq.read_table(SAMPLES / "iris_probs.parquet")
    shards = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    pq.write_table(table.slice(0, 20), shards[0])
    pq.write_table(table.slice(20), shards[1])
    options = ["--by", "label", "--calibration", "-f", "json"]
    paths = []
    for name, inputs in (("whole", shards), ("a", shards[:1]), ("b", shards[1:])):
        path = tmp_path / f"{name}.json"
        assert invoke("eval", *inputs, *options, "--save-state", path).exit_code == 0
        paths.append(path)
    whole, a, b = (xent_cli.Partial.from_json(p.read_text()) for p in paths)
    assert b.state.merge(a.state) == whole.state  # no warnings: rows need no shift
    assert a.merge(b).to_json() == whole.to_json()
    assert (
        build_report(whole.plan, a.merge(b).state, ["x"], "x").to_dict()
        == build_report(whole.plan, whole.state, ["x"], "x").to_dict()
    )


# -- a new metric is one object: nothing in the core names it ---------------------------


@dataclasses.dataclass(eq=False)
class _Worst(FieldState):
    loss: float = reduced(max, 0.0, convert=float)  # nats; losses are >= 0
    entries: int = counted(default=0)


@dataclasses.dataclass(frozen=True)
class _WorstResult:
    loss: float

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss}


class _WorstLoss(Metric[bool, Any, _Worst, _WorstResult]):
    """A toy add-on: the largest loss of any entry (a slice's too)."""

    key = "worst_loss"

    def configure(self, settings: Any, mode: Any) -> bool:
        return True

    def fingerprint(self, settings: Any) -> Any:
        return True

    def inputs(self, config: bool, batch: BatchScores) -> Any:
        return batch.scored.loss

    def empty(self, config: bool, n_classes: int, weighted: bool) -> _Worst:
        return _Worst()

    def load(self, state: dict[str, Any]) -> _Worst:
        return _Worst.from_state(state)

    def add(self, state: _Worst, config: bool, inputs: Any, weight: Any) -> None:
        state.loss = max(state.loss, float(inputs.max()))
        state.entries += len(inputs)

    def finish(self, state: _Worst, config: bool, totals: CoreTotals) -> _WorstResult:
        return _WorstResult(state.loss / totals.log_base)

    def per_slice(self, config: bool) -> bool:
        return config

    def slice_columns(self, inputs: Any) -> tuple[Any, ...]:
        return (inputs,)

    def slice_inputs(self, columns: tuple[Any, ...]) -> Any:
        return columns[0]

    def slice_figures(self, state: _Worst, config: bool, totals: CoreTotals) -> dict[str, Any]:
        return {"worst_loss": state.loss / totals.log_base}


def test_a_registered_metric_runs_through_state_slices_saved_states_and_report(monkeypatch):
    """Registering a metric object is all it takes: its figure is in the report and in each
    slice's row, its state in the saved state, and merged states give the same figures."""
    monkeypatch.setattr(xent_cli.metrics, "METRICS", (*METRICS, _WorstLoss()))
    frame = _frame(300, seed=5)
    options = {"kind": "logits", "by": "region", "base": "2"}
    report = xent_cli.evaluate(frame, **options).to_dict()
    # independently: -log_softmax(z)[label] by scipy over the labelled rows, in bits
    labelled = frame[frame["label"].notna()]
    logits = labelled[[f"logit_{j}" for j in range(3)]].to_numpy()
    losses = -scipy.special.log_softmax(logits, axis=1)[
        np.arange(len(labelled)), labelled["label"].astype(int)
    ] / np.log(2)
    assert report["worst_loss"]["loss"] == pytest.approx(losses.max(), rel=1e-12)
    for group in report["slices"]["groups"]:
        mine = labelled["region"].to_numpy() == group["key"]["region"]
        assert group["worst_loss"] == pytest.approx(losses[mine].max(), rel=1e-12)
    halves = [xent_cli.partial(frame.iloc[:120], **options),
              xent_cli.partial(frame.iloc[120:], first_row=120, **options)]  # fmt: skip
    saved = json.loads(halves[0].to_json())
    assert saved["state"]["worst_loss"]["entries"] > 0
    assert saved["fingerprint"]["worst_loss"] is True
    merged = xent_cli.Partial.from_json(halves[0].merge(halves[1]).to_json())
    got, want = merged.finish().to_dict(), dict(report)
    assert len(got.pop("files")) == 2
    want.pop("files")
    assert got == want
