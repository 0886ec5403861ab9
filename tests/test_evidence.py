"""Decisions taken from evidence in the file, where a refusal used to stand (issue 21): a
column whose name says scores is never a row key; labels that match the numbers ending the
score columns' names name those classes; one-sided ids are counted on both sides."""

from __future__ import annotations

import json

import mpmath
import pytest

from .conftest import eval_json, invoke


def _bce(logit: float, label: int) -> float:
    """-log sigmoid(z) = log(1 + e^-z) for label 1, log(1 + e^z) for 0, in 50 digits."""
    with mpmath.workdps(50):
        z = mpmath.mpf(logit)
        return float(mpmath.log1p(mpmath.exp(-z if label == 1 else z)))


INTEGER_LOGITS = "label,logit\n1,30.0\n0,-50.0\n1,300.0\n"


def test_integer_valued_logits_named_logit_are_scores(write):
    """printf 'label,logit\\n1,30.0\\n0,-50.0\\n1,300.0\\n' > tb.csv; xent rows tb.csv"""
    path = write("tb.csv", INTEGER_LOGITS)
    result = invoke("rows", path, "-f", "json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = [_bce(30, 1), _bce(-50, 0), _bce(300, 1)]
    assert [r["loss"] for r in rows] == pytest.approx(expected, rel=1e-12, abs=1e-300)
    report = eval_json(path)
    assert report["kind"] == "logits"
    assert report["kind_source"] == "column name 'logit'"
    assert report["loss"] == pytest.approx(sum(expected) / 3, rel=1e-12)


@pytest.mark.parametrize("name", ["score", "y_score", "prediction", "prob", "y_pred", "cat_proba"])
def test_a_name_that_says_scores_is_believed(write, name):
    """Distinct integers in a score-named column of a binary file: still the scores."""
    text = f"label,{name}\n1,3\n0,-2\n1,5\n0,-7\n"
    report = eval_json(write("x.csv", text), "--kind", "logits")
    expected = [_bce(3, 1), _bce(-2, 0), _bce(5, 1), _bce(-7, 0)]
    assert report["loss"] == pytest.approx(sum(expected) / 4, rel=1e-12)


def test_an_unnamed_integer_key_is_still_refused(write):
    """Nothing names 'a' a score: the key heuristics judge it, and the refusal stands."""
    text = "label,a,b,c\n0,11,0.2,0.8\n1,52,0.7,0.3\n1,37,0.4,0.6\n0,94,0.9,0.1\n"
    result = invoke("eval", write("x.csv", text))
    assert result.exit_code == 2
    assert "column 'a' holds distinct integers, like a row key" in result.stderr


@pytest.mark.parametrize("name", ["doc", "group", "session", "fold", "position"])
def test_a_group_column_is_never_a_score(write, name):
    """A column naming the group a row belongs to (repeated small integers, which pass the
    key heuristics) is not taken for a second score column: binary on 'logit'."""
    text = f"label,{name},logit\n0,0,0.9\n1,3,0.3\n1,0,-1.2\n0,3,2.0\n1,1,0.5\n"
    report = eval_json(write("x.csv", text))
    assert report["mode"] == "binary"
    expected = [_bce(0.9, 0), _bce(0.3, 1), _bce(-1.2, 1), _bce(2.0, 0), _bce(0.5, 1)]
    assert report["loss"] == pytest.approx(sum(expected) / 5, rel=1e-12)


UCI = "label,p1,p2,p3\n1,0.7,0.2,0.1\n2,0.1,0.8,0.1\n3,0.2,0.2,0.6\n1,0.5,0.3,0.2\n"


def test_labels_that_end_the_column_names_name_the_classes(write):
    """A UCI file read with R: labels 1,2,3 against columns p1,p2,p3."""
    path = write("uci.csv", UCI)
    report = eval_json(path)
    assert [c["class"] for c in report["classes"]] == ["1", "2", "3"]
    assert report["columns"]["classes"] == "numbers in the column names"
    p_true = [0.7, 0.8, 0.6, 0.5]
    assert report["loss"] == pytest.approx(
        float(sum(-mpmath.log(p) for p in p_true) / 4), rel=1e-12
    )
    table = invoke("eval", path)
    assert table.exit_code == 0
    assert "classes: numbers in the column names" in table.stdout


def test_without_that_evidence_the_refusal_stands(write):
    text = "label,a,b,c\n1,0.7,0.2,0.1\n2,0.1,0.8,0.1\n3,0.2,0.2,0.6\n"
    result = invoke("eval", write("x.csv", text))
    assert result.exit_code == 2
    assert "are the labels 1-based? Then pass --classes 1,2,3" in result.stderr
    text = "label,p1,p2,p3\n0,0.7,0.2,0.1\n1,0.1,0.8,0.1\n2,0.2,0.2,0.6\n"
    result = invoke("eval", write("y.csv", text))
    assert result.exit_code == 2
    assert "label 0 not among the classes" in result.stderr
    assert "--classes 0,1,2" in result.stderr


def test_prefixed_class_names_are_unchanged(write):
    """``class_1, class_2`` were already named by their prefix: no header note."""
    text = "label,class_1,class_2\n1,0.7,0.3\n2,0.4,0.6\n"
    report = eval_json(write("x.csv", text))
    assert "classes" not in report["columns"]
    assert [c["class"] for c in report["classes"]] == ["1", "2"]


def test_one_sided_ids_are_counted_on_both_sides(write):
    base = write("base.csv", "id,label,p0,p1\n1,0,0.8,0.2\n2,1,0.3,0.7\n9,1,0.4,0.6\n")
    cand = write(
        "cand.csv", "id,label,p0,p1\n1,0,0.7,0.3\n2,1,0.2,0.8\n10,1,0.4,0.6\n11,0,0.5,0.5\n"
    )
    result = invoke("compare", base, cand, "--id", "id")
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert first == (
        "xent: error: 1 id only in the baseline ('9') and 2 ids only in the candidate "
        "('10', '11'): --id 'id' must name the same rows in both files"
    )
    assert "--on-mismatch intersect" in result.stderr


def test_many_one_sided_ids_name_the_first_few(write):
    base = "id,label,p0,p1\n" + "".join(f"b{i},0,0.6,0.4\n" for i in range(10))
    cand = "id,label,p0,p1\n" + "".join(f"c{i},0,0.6,0.4\n" for i in range(5))
    result = invoke("compare", write("b.csv", base), write("c.csv", cand), "--id", "id")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "xent: error: 10 ids only in the baseline ('b0', 'b1', 'b2', ...) and 5 ids only in "
        "the candidate ('c0', 'c1', 'c2', ...): --id 'id' must name the same rows in both files"
    )


@pytest.mark.parametrize("labels", [["zzz", "a"], [None, "a"], ["a", "zzz"]])
def test_binary_positive_from_the_column_name_for_any_split(tmp_path, labels):
    """Labels that are not 0/1 and one column logit_a: 'a' is the positive class whether or
    not the first file's rows hold an 'a' (found by the fuzz test: split at row 1, the run
    stopped asking for --positive, or scored 'a' as the negative class)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    logits = [0.3, -1.2]
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.table({"label": labels, "logit_a": logits}), whole)
    parts = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for i, part in enumerate(parts):
        pq.write_table(pa.table({"label": labels[i : i + 1], "logit_a": logits[i : i + 1]}), part)
    one = eval_json(whole)
    two = eval_json(*parts)
    one.pop("files")
    two.pop("files")
    assert one == two
    scored = [(z, y) for z, y in zip(logits, labels, strict=True) if y is not None]
    expected = [_bce(z, 1 if y == "a" else 0) for z, y in scored]
    assert one["loss"] == pytest.approx(sum(expected) / len(expected), rel=1e-12)
