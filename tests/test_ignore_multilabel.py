"""--ignore-label VALUE in multilabel files: per cell. A cell whose label is VALUE is not
scored; the row's other cells are. Every expectation is computed here with numpy or
scikit-learn (a masked binary cross-entropy, ``log_loss`` per label on the kept cells)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import log_loss

from .conftest import eval_json, invoke

PAD = -100
L = 3
NAMES = [f"c{j}" for j in range(L)]


def _data(seed: int, n: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logits (n, L), 0/1/PAD labels with some padding, one row all padding (row 3), a
    slice key and weights."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (n, L))
    y = (rng.random((n, L)) < 0.4).astype(np.int64)
    y[rng.random((n, L)) < 0.25] = PAD
    y[(y == PAD).all(axis=1), 0] = 0
    y[3] = PAD
    y[4] = [1, 0, 1]  # at least one row with nothing ignored
    group = rng.choice(["a", "b"], n)
    weight = rng.uniform(0.1, 2.0, n)
    return z, y, group, weight


def _bce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """torch's BCEWithLogitsLoss(reduction='none'), written as log(1 + e^z) - z y."""
    return np.logaddexp(0.0, z) - z * y


def _masked_mean(losses: np.ndarray, kept: np.ndarray, w: np.ndarray | None = None) -> float:
    weights = np.broadcast_to(np.ones(len(losses)) if w is None else w, losses.T.shape).T
    return float((losses * weights)[kept].sum() / weights[kept].sum())


def _label_columns_table(z, y, group=None, weight=None) -> pa.Table:
    cols = {f"y_{n}": y[:, j] for j, n in enumerate(NAMES)}
    cols.update({f"logit_{n}": z[:, j] for j, n in enumerate(NAMES)})
    if group is not None:
        cols["g"] = group
    if weight is not None:
        cols["w"] = weight
    return pa.table(cols)


def _csv_text(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True):
        writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
    return out.getvalue()


def _without_files(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "files"}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_logits_label_columns(tmp_path: Path, fmt: str) -> None:
    z, y, _, _ = _data(1)
    table = _label_columns_table(z, y)
    path = tmp_path / f"m.{fmt}"
    if fmt == "csv":
        path.write_text(_csv_text(table))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    else:
        pq.write_table(table, path)
    report = eval_json(path, "--ignore-label", str(PAD))
    kept = y != PAD
    assert report["mode"] == "multilabel"
    assert report["loss"] == pytest.approx(_masked_mean(_bce(z, y), kept), rel=1e-12)
    assert report["n_ignored"] == int((~kept).sum())
    assert report["n_ignored_rows"] == int((~kept.any(axis=1)).sum()) == 1
    assert report["n_evaluated"] == len(y) - 1
    assert report["n_skipped"] == 0
    assert report["warnings"] == []
    for j, cls in enumerate(report["classes"]):
        k = kept[:, j]
        p = 1.0 / (1.0 + np.exp(-z[k, j]))
        assert cls["class"] == NAMES[j]
        assert cls["count"] == int(k.sum())
        assert cls["loss"] == pytest.approx(log_loss(y[k, j], p, labels=[0, 1]), rel=1e-9)
        assert cls["accuracy"] == pytest.approx(np.mean((z[k, j] > 0) == (y[k, j] == 1)))
    assert report["accuracy"] == pytest.approx(np.mean(((z > 0) == (y == 1))[kept]))


def test_probs_list_column_jsonl_and_parquet(tmp_path: Path) -> None:
    """One list column of 0/1 (and PAD) labels, probabilities; an ignored cell's score is
    never range-checked (a padded position may hold anything)."""
    z, y, _, _ = _data(2)
    p = 1.0 / (1.0 + np.exp(-z))
    shown = np.where(y == PAD, 7.5, p)  # out of [0, 1]: would be an error if it were scored
    rows = [{"labels": y[i].tolist(), "probs": shown[i].tolist()} for i in range(len(y))]
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    args = ("--kind", "probs", "--classes", ",".join(NAMES), "--ignore-label", "-100")
    from_jsonl = eval_json(jsonl, *args)
    from_parquet = eval_json(parquet, *args)
    kept = y != PAD
    assert from_jsonl["loss"] == pytest.approx(log_loss(y[kept], p[kept]), rel=1e-9)
    assert from_jsonl["n_ignored"] == int((~kept).sum())
    assert [c["count"] for c in from_jsonl["classes"]] == kept.sum(axis=0).tolist()
    assert _without_files(from_jsonl) == _without_files(from_parquet)


def test_spellings_nulls_and_skips(write) -> None:
    """-100, -100.0 and "-100" are one value; a missing cell still skips its row (with a
    warning), a non-finite score in an ignored cell does not; a row of PAD only is ignored
    (neither evaluated nor skipped)."""
    text = (
        "y_a,y_b,prob_a,prob_b\n"
        "1,0,0.8,0.3\n"  # scored
        "-100,1,nan,0.6\n"  # NaN in the ignored cell: b is scored
        "-100.0,-100,0.5,0.5\n"  # all ignored
        "0,,0.2,0.2\n"  # missing cell: skipped, warned
        '"-100",0,0.9,0.0\n'  # a is ignored; b: p = 0 for a 0 is fine
        "1,-100,0.0,0.9\n"  # a: p = 0 for a 1: a zero-probability cell
    )
    path = write("m.csv", text)
    report = eval_json(path, "--ignore-label", "-100")
    assert (report["n_rows"], report["n_evaluated"], report["n_skipped"]) == (6, 4, 1)
    assert (report["n_ignored"], report["n_ignored_rows"]) == (5, 1)
    assert {w["code"]: w["rows"] for w in report["warnings"]} == {
        "missing-label": [3],
        "zero-probability": [5],
    }
    eps = 1e-15
    cells = [(0.8, 1), (0.3, 0), (0.6, 1), (0.0, 0), (0.0, 1)]
    expected = np.mean([-np.log(max(p if y else 1 - p, eps)) for p, y in cells])
    assert report["loss"] == pytest.approx(expected, rel=1e-12)
    assert [c["count"] for c in report["classes"]] == [2, 3]
    table = invoke("eval", path, "--ignore-label", "-100")
    assert "rows: 6 (4 evaluated, 1 skipped, 1 ignored; 5 cells ignored)" in table.stdout


def test_rows_lists_scored_cells_only(write) -> None:
    """``xent rows``: one line per scored cell, as without ignoring; ignored cells have none."""
    path = write("m.csv", "y_a,y_b,logit_a,logit_b\n1,-100,2.0,5.0\n-100,-100,1,1\n0,1,-1.0,0.5\n")
    result = invoke("rows", path, "--ignore-label", "-100", "-f", "csv")
    assert result.exit_code == 0, result.output
    got = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["row"], r["label"]) for r in got] == [("0", "a=1"), ("2", "a=0"), ("2", "b=1")]
    expected = _bce(np.array([2.0, -1.0, 0.5]), np.array([1, 0, 1]))
    assert [float(r["loss"]) for r in got] == pytest.approx(expected, rel=1e-12)


def test_calibration_on_kept_cells(tmp_path: Path) -> None:
    """Brier score and a one-bin positive-class ECE over the kept cells (weighted)."""
    z, y, _, w = _data(3)
    path = tmp_path / "m.parquet"
    pq.write_table(_label_columns_table(z, y, weight=w), path)
    report = eval_json(
        path, "--ignore-label", "-100", "--weight", "w", "--calibration",
        "--ece-target", "positive", "--ece-bins", "1",
    )  # fmt: skip
    kept = y != PAD
    p = 1.0 / (1.0 + np.exp(-z))
    cw = np.broadcast_to(w[:, None], z.shape)[kept]
    brier = np.sum(cw * (p[kept] - y[kept]) ** 2) / cw.sum()
    ece = abs(np.sum(cw * p[kept]) - np.sum(cw * y[kept])) / cw.sum()
    assert report["calibration"]["brier"] == pytest.approx(brier, rel=1e-9)
    assert report["calibration"]["ece"] == pytest.approx(ece, rel=1e-9)
    assert report["loss"] == pytest.approx(_masked_mean(_bce(z, y), kept, w), rel=1e-12)
    classwise = eval_json(
        path, "--ignore-label", "-100", "--calibration", "--ece-target", "classwise",
        "--ece-bins", "1", "--decompose",
    )  # fmt: skip
    for j, cls in enumerate(classwise["calibration"]["per_class"]):
        k = kept[:, j]
        assert cls["ece"] == pytest.approx(abs(p[k, j].mean() - y[k, j].mean()), rel=1e-9)


def test_slices(tmp_path: Path) -> None:
    z, y, group, _ = _data(4)
    path = tmp_path / "m.parquet"
    pq.write_table(_label_columns_table(z, y, group), path)
    report = eval_json(path, "--ignore-label", "-100", "--by", "g")
    kept = y != PAD
    losses = _bce(z, y)
    for entry in report["slices"]["groups"]:
        rows = group == entry["key"]["g"]
        assert entry["count"] == int(kept[rows].any(axis=1).sum())
        assert entry["loss"] == pytest.approx(_masked_mean(losses[rows], kept[rows]), rel=1e-12)


@pytest.mark.parametrize("cut", [1, 3, 4, 40, 79])
def test_saved_states_merge_to_the_same_report(tmp_path: Path, cut: int) -> None:
    """Any split (here: before, at and after the all-PAD row 3) merges to an equal report."""
    z, y, group, w = _data(5)
    table = _label_columns_table(z, y, group, w)
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole)
    options = ["--ignore-label", "-100", "--by", "g", "--weight", "w", "--calibration"]
    states = []
    for i, part in enumerate((table.slice(0, cut), table.slice(cut))):
        path = tmp_path / f"p{i}.parquet"
        pq.write_table(part, path)
        state = tmp_path / f"p{i}.state"
        result = invoke("eval", path, *options, "--save-state", state)
        assert result.exit_code == 0, result.output
        states.append(state)
    merged = json.loads(invoke("merge", *states, "-f", "json").stdout)
    one = eval_json(whole, *options)
    merged.pop("files")
    one.pop("files")
    assert merged == one
    assert one["n_ignored"] == int((y == PAD).sum())
    assert one["n_ignored_rows"] == 1


def test_compare_pairs_kept_cells(tmp_path: Path) -> None:
    z, y, _, _ = _data(6)
    z2 = z + np.random.default_rng(7).normal(0.0, 0.5, z.shape)
    base, cand = tmp_path / "b.parquet", tmp_path / "c.parquet"
    pq.write_table(_label_columns_table(z, y), base)
    pq.write_table(_label_columns_table(z2, y), cand)
    result = invoke("compare", base, cand, "--ignore-label", "-100", "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    kept = y != PAD
    diff = (_bce(z2, y) - _bce(z, y))[kept]
    assert report["join"]["n_joined"] == int(kept.sum())
    assert report["delta"] == pytest.approx(diff.mean(), rel=1e-9)
    assert report["loss_baseline"] == pytest.approx(_bce(z, y)[kept].mean(), rel=1e-12)
    assert report["distribution"]["n"] == int(kept.sum())


def test_nothing_to_ignore_changes_nothing(tmp_path: Path) -> None:
    """A file without VALUE: the report of a plain run, plus the two counts at 0."""
    z, y, _, _ = _data(8)
    y = np.where(y == PAD, 0, y)
    path = tmp_path / "m.parquet"
    pq.write_table(_label_columns_table(z, y), path)
    plain = eval_json(path, "--calibration")
    ignoring = eval_json(path, "--calibration", "--ignore-label", "-100")
    assert (ignoring.pop("n_ignored"), ignoring.pop("n_ignored_rows")) == (0, 0)
    assert ignoring == plain


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("y_a,y_b,logit_a,logit_b\n1,2,0,0\n", (), "multilabel label columns must hold 0/1"),
        (
            "y_a,y_b,logit_a,logit_b\n-100,-100,0,0\n",
            (),
            "no rows to evaluate: all 1 rows were skipped or ignored (1 ignored)",
        ),
        (
            '{"labels": [1, -100, 0], "logits": [0, 0]}\n',
            ("--mode", "multilabel"),
            "labels per row",
        ),
    ],
)
def test_bad_input_is_one_line(write, text: str, args: tuple[str, ...], message: str) -> None:
    name = "m.jsonl" if text.startswith("{") else "m.csv"
    result = invoke("eval", write(name, text), "--ignore-label", "-100", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("xent: error: ")
    assert message in lines[0]
    assert len(lines) <= 2  # the error, and maybe its hint
    assert "Traceback" not in result.output


def test_padded_scores_do_not_decide_the_kind(write) -> None:
    """Probabilities in columns that do not name their kind, every row padded with a score
    outside [0, 1] (or NaN): the kind is read from the kept cells (probs), not from padding."""
    text = "y_a,y_b,a,b\n1,-100,0.8,nan\n-100,1,-7.0,0.6\n0,-100,0.3,-100\n"
    report = eval_json(write("m.csv", text), "--label", "y_a,y_b", "--scores", "a,b",
                       "--ignore-label", "-100")  # fmt: skip
    assert (report["kind"], report["kind_source"]) == ("probs", "values")
    assert report["loss"] == pytest.approx(log_loss([1, 1, 0], [0.8, 0.6, 0.3]), rel=1e-9)
