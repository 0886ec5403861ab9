"""Wide rows and list-valued layouts (issue 10, items 3 and 4).

Wide rows: a CSV / TSV / JSON Lines line of 262,144 float64 scores (twice a Llama-3
vocabulary, megabytes a line) is read in every text format, with the loss computed here by
scipy's ``log_softmax``; bad wide lines are xent's own one-line errors. The reader for files of
thousands of columns (:mod:`xent_cli.io.widetext`) is also checked against Arrow's own reader on
the same small files: both must give the same report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import log_softmax

import xent_cli
from xent_cli.io import sources as readers
from xent_cli.io import text as text_source
from xent_cli.io import widetext

from .conftest import invoke

VOCABULARY = 262_144


def logits(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(0.0, 3.0, (n, k)), 4), rng.integers(0, k, n)


def expected_loss(z: np.ndarray, y: np.ndarray) -> float:
    return float(-log_softmax(z, axis=1)[np.arange(len(y)), y].mean())


def write_text(path: Path, z: np.ndarray, y: np.ndarray) -> Path:
    """``label`` then one ``logit_j`` column per class (CSV or TSV by suffix), or JSON Lines
    ``{"label": y, "logits": [...]}``."""
    with path.open("w", encoding="utf-8") as out:
        if path.suffix == ".jsonl":
            for row, label in zip(z, y, strict=True):
                out.write(json.dumps({"label": int(label), "logits": row.tolist()}) + "\n")
            return path
        d = "\t" if path.suffix == ".tsv" else ","
        out.write("label" + d + d.join(f"logit_{j}" for j in range(z.shape[1])) + "\n")
        for row, label in zip(z, y, strict=True):
            out.write(f"{label}{d}" + d.join(map(repr, row.tolist())) + "\n")
    return path


# -- 256k classes in every text format ------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl"])
def test_256k_classes_api(tmp_path: Path, suffix: str) -> None:
    z, y = logits(3, VOCABULARY, seed=len(suffix))
    path = write_text(tmp_path / f"vocab{suffix}", z, y)
    assert path.stat().st_size / 3 > 1.5e6  # longer than any line xent read before
    report = xent_cli.evaluate(path)
    assert report.n_rows == 3
    assert report.loss == pytest.approx(expected_loss(z, y), rel=1e-12)


def test_256k_classes_cli_csv(tmp_path: Path) -> None:
    z, y = logits(3, VOCABULARY)
    path = write_text(tmp_path / "vocab.csv", z, y)
    result = invoke("eval", path, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    overall = result.stdout.strip().splitlines()[-1].split(",")
    header = result.stdout.splitlines()[0].split(",")
    row = dict(zip(header, overall, strict=True))
    assert row["scope"] == "overall"
    assert float(row["count"]) == 3
    assert float(row["loss"]) == pytest.approx(expected_loss(z, y), rel=1e-12)


def test_wide_rows_on_stdin_compressed(tmp_path: Path) -> None:
    import gzip

    z, y = logits(4, 20_000, seed=5)
    data = write_text(tmp_path / "w.csv", z, y).read_bytes()
    result = invoke("eval", "-", "--format", "json", input=gzip.compress(data))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["loss"] == pytest.approx(expected_loss(z, y), rel=1e-12)


# -- the wide reader agrees with Arrow's on the same files ---------------------------------------

CASES = {
    "plain": "label,logit_a,logit_b,logit_c\na,1,2,3\nc,0.5,-1,2\nb,1e3,1e3,999\n",
    "crlf, blank lines and a last line without end": (
        "label,logit_a,logit_b,logit_c\r\na,1,2,3\r\n\r\nc,0.5,-1,2\r\n\nb,1,1,0"
    ),
    "quoted labels holding the delimiter": (
        'label,"p_a,b","p_""q""",p_z\n"a,b",0.2,0.3,0.5\n"""q""",0.6,0.3,0.1\nz,0.1,0.1,0.8\n'
    ),
    "nulls and NaN spellings in scores": "label,a,b,c\na,1,,3\nb,NA,2,3\nc,1,2,nan\na,0,0,0\n",
    "weight between the score columns and an id": (
        "id,logit_a,logit_b,w,label\nr1,1,2,0.5,a\nr2,0,3,2,b\nr3,2,2,1,b\n"
    ),
    "tabs": "label\tlogit_a\tlogit_b\na\t1\t2\nb\t0\t3\n",
    "soft targets next to the scores": (
        "logit_a,logit_b,t_a,t_b\n1,2,0.25,0.75\n0,3,1,0\n2,2,0.5,0.5\n"
    ),
}
OPTIONS = {
    "weight between the score columns and an id": ("--weight", "w", "--id", "id"),
    "soft targets next to the scores": ("--scores", "logit_*", "--targets", "t_*"),
    "nulls and NaN spellings in scores": ("--scores", "a,b,c"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_wide_reader_gives_arrows_report(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = ".tsv" if name == "tabs" else ".csv"
    path = tmp_path / f"f{suffix}"
    path.write_bytes(CASES[name].encode())
    args = ("eval", path, "--format", "json", *OPTIONS.get(name, ()))
    narrow = invoke(*args)
    monkeypatch.setattr(widetext, "WIDE_TEXT_COLUMNS", 2)
    wide = invoke(*args)
    assert (wide.exit_code, wide.stderr) == (narrow.exit_code, narrow.stderr)
    assert narrow.exit_code == 0, narrow.stderr
    assert json.loads(wide.stdout) == json.loads(narrow.stdout)


def test_wide_reader_packs_score_columns(tmp_path: Path) -> None:
    """Thousands of score columns arrive as one list column, not thousands of arrays."""
    z, y = logits(5, 5000, seed=2)
    source = readers.open_source(str(write_text(tmp_path / "w.csv", z, y)))
    names = source.schema.names
    assert len(names) == 5001
    assert str(source.schema.field("logit_0").type) == "double"
    types = dict.fromkeys(names[1:], readers.pa.float64())
    (batch,) = source.batches(names, types)
    assert batch.num_columns == 2  # the label, and the 5000 scores packed
    from xent_cli.io.matrices import float_matrix

    assert np.array_equal(float_matrix(batch, names[1:], "w.csv"), z)
    assert np.array_equal(float_matrix(batch, names[3:1:-1], "w.csv"), z[:, [2, 1]])


# -- errors in wide rows are one line each, with the line ---------------------------------------


def wide_lines(k: int, rows: list[list[str]]) -> str:
    header = "label," + ",".join(f"logit_{j}" for j in range(k))
    return "\n".join([header, *(",".join(r) for r in rows)]) + "\n"


def _error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith("xent: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert all(len(line) < 400 for line in lines)
    return lines[0]


K = 5000
ROW = ["0", *(["0.5"] * K)]


def test_wide_row_with_a_non_number(tmp_path: Path) -> None:
    bad = ROW.copy()
    bad[1 + 4321] = "oops"
    path = tmp_path / "w.csv"
    path.write_text(wide_lines(K, [ROW, ROW, bad, ROW]))
    line = _error(invoke("eval", path))
    assert "'logit_4321'" in line
    assert "invalid value 'oops'" in line
    assert "(in line 4)" in line


def test_wide_row_with_too_few_fields(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text(wide_lines(K, [ROW, ROW[:-2], ROW]))
    line = _error(invoke("eval", path))
    assert f"Expected {K + 1} columns, got {K - 1}" in line
    assert "(in line 3)" in line


def test_wide_row_with_a_quoted_delimiter_in_a_score(tmp_path: Path) -> None:
    bad = ROW.copy()
    bad[7] = '"1,5"'
    path = tmp_path / "w.csv"
    path.write_text(wide_lines(K, [ROW, bad]))
    line = _error(invoke("eval", path))
    assert "'logit_6'" in line
    assert "1,5" in line


def test_line_longer_than_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_source, "MAX_LINE_BYTES", 1 << 20)
    monkeypatch.setattr(text_source.TextSource, "_block_size", lambda self: 1 << 18)
    z, y = logits(3, 400_000 // 8)  # lines of ~0.4 MB, then one of ~2.4 MB
    text = write_text(tmp_path / "w.jsonl", z, y).read_text()
    huge = json.dumps({"label": 0, "logits": [0.123456789] * 200_000})
    path = tmp_path / "long.jsonl"
    path.write_text(text + huge + "\n" + text)
    line = _error(invoke("eval", path))
    assert "line 4 is longer than 1 MiB" in line


def test_first_line_longer_than_the_peek(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_source, "MAX_PEEK_BYTES", 1 << 20)
    path = tmp_path / "one.csv"
    path.write_bytes(b"label" + b",x" * (1 << 20))
    line = _error(invoke("eval", path))
    assert "line 1 is longer than 1 MiB" in line


def test_json_errors_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"label":0,"logits":[1,2]}\n\n{"label":1,"logits":[0,3]}\n{"label":1,"logits":[0,\n'
    )
    line = _error(invoke("eval", path))
    assert "(in line 4)" in line
    assert "in row" not in line


# -- list-valued layouts (item 4): soft targets, multilabel labels, --classes -----------------


def categorical_loss(z: np.ndarray, y: np.ndarray) -> float:
    return float(-log_softmax(z, axis=1)[np.arange(len(y)), y].mean())


def soft_loss(z: np.ndarray, t: np.ndarray) -> float:
    return float(-(t * log_softmax(z, axis=1)).sum(axis=1).mean())


def multilabel_loss(z: np.ndarray, y: np.ndarray) -> float:
    from scipy.special import log_expit

    return float(-(y * log_expit(z) + (1 - y) * log_expit(-z)).mean())


def soft_targets(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.dirichlet(np.ones(k), n)
    t[0] = np.eye(k)[1]  # a one-hot row: 0 * log q is 0
    return t


def api_report(source: object, **options: object) -> object:
    return xent_cli.evaluate(source, **options)


def test_soft_targets_list_with_list_scores_jsonl_by_pandas(tmp_path: Path) -> None:
    import pandas as pd

    z, _ = logits(30, 5, seed=11)
    t = soft_targets(30, 5, seed=12)
    path = tmp_path / "soft.jsonl"
    frame = pd.DataFrame({"logits": list(z), "soft_labels": list(t)})
    frame.to_json(path, orient="records", lines=True)  # rounds to 10 digits: read them back
    written = [json.loads(line) for line in path.read_text().splitlines()]
    z = np.array([w["logits"] for w in written])
    t = np.array([w["soft_labels"] for w in written])
    result = invoke("eval", path, "--targets", "soft_labels", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["loss"] == pytest.approx(soft_loss(z, t), rel=1e-12)
    assert report["columns"]["targets"] == ["soft_labels"]
    assert report["mode"] == "categorical"


def test_soft_targets_list_with_score_columns_parquet(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    z, _ = logits(25, 4, seed=13)
    t = soft_targets(25, 4, seed=14)
    table = readers.pa.table(
        {
            **{f"logit_{j}": z[:, j] for j in range(4)},
            "soft": readers.pa.array(list(t), readers.pa.list_(readers.pa.float32())),
        }
    )
    path = tmp_path / "soft.parquet"
    pq.write_table(table, path)
    want = soft_loss(z, t.astype(np.float32).astype(np.float64))
    assert api_report(path, targets="soft").loss == pytest.approx(want, rel=1e-12)


def test_soft_targets_jsonl_whose_first_rows_are_integers(tmp_path: Path) -> None:
    """[1, 0, 0] first (inferred as integers), then [0.5, 0.25, 0.25]."""
    z, _ = logits(3, 3, seed=15)
    t = np.array([[1.0, 0, 0], [0.5, 0.25, 0.25], [0, 0, 1]])
    lines = []
    for row, target in zip(z, t, strict=True):
        soft = [int(v) if v.is_integer() else v for v in target.tolist()]
        lines.append(json.dumps({"logits": row.tolist(), "t": soft}))
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert api_report(path, targets="t").loss == pytest.approx(soft_loss(z, t), rel=1e-12)


def test_multilabel_label_lists(tmp_path: Path) -> None:
    import polars as pl

    rng = np.random.default_rng(16)
    z = np.round(rng.normal(0, 2, (40, 6)), 3)
    y = rng.integers(0, 2, (40, 6))
    want = multilabel_loss(z, y)
    frame = pl.DataFrame({"labels": y.tolist(), "logits": z.tolist()})
    parquet = tmp_path / "ml.parquet"
    frame.write_parquet(parquet)
    jsonl = tmp_path / "ml.jsonl"
    frame.write_ndjson(jsonl)
    for source in (parquet, jsonl):
        result = invoke("eval", source, "--format", "json")
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["mode"] == "multilabel"
        assert report["loss"] == pytest.approx(want, rel=1e-12)
        assert [c["class"] for c in report["classes"]] == [str(j) for j in range(6)]
        per_label = [multilabel_loss(z[:, [j]], y[:, [j]]) for j in range(6)]
        assert [c["loss"] for c in report["classes"]] == pytest.approx(per_label, rel=1e-12)
    names = "toxic,obscene,insult,threat,hate,spam"
    report = api_report(
        frame.with_columns(pl.col("labels").cast(pl.List(pl.Boolean))), classes=names
    )
    assert [c.name for c in report.classes] == names.split(",")
    assert report.loss == pytest.approx(want, rel=1e-12)


def test_multilabel_label_list_with_score_columns() -> None:
    import pyarrow as pa

    rng = np.random.default_rng(17)
    p = np.round(rng.uniform(0.01, 0.99, (20, 3)), 4)
    y = rng.integers(0, 2, (20, 3))
    table = pa.table({"labels": y.tolist(), **{f"prob_{c}": p[:, j] for j, c in enumerate("abc")}})
    report = api_report(table)
    want = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    assert report.mode == "multilabel"
    assert report.loss == pytest.approx(want, rel=1e-12)
    assert [c.name for c in report.classes] == ["a", "b", "c"]


def test_classes_name_a_list_column_for_enum_labels() -> None:
    import polars as pl

    names = ["cat", "dog", "bird", "fish"]
    z, y = logits(50, 4, seed=18)
    labels = pl.Series([names[i] for i in y], dtype=pl.Enum(names))
    frame = pl.DataFrame({"label": labels, "logits": z.tolist()})
    report = api_report(frame, classes=",".join(names))
    assert report.loss == pytest.approx(categorical_loss(z, y), rel=1e-12)
    assert [c.name for c in report.classes] == names
    counts = [int((y == j).sum()) for j in range(4)]
    assert [c.count for c in report.classes] == counts
    with pytest.raises(xent_cli.XentError, match="not among the classes") as error:
        api_report(frame)
    assert "--classes" in (error.value.hint or "")
    categorical = frame.with_columns(pl.col("label").cast(pl.String).cast(pl.Categorical))
    assert api_report(categorical, classes=",".join(names)).loss == pytest.approx(
        categorical_loss(z, y), rel=1e-12
    )


def test_classes_for_one_based_labels(tmp_path: Path) -> None:
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(19)
    p = rng.dirichlet(np.ones(3), 30)
    y = rng.integers(1, 4, 30)
    path = tmp_path / "p.csv"
    lines = ["label,p1,p2,p3"] + [
        f"{t}," + ",".join(map(repr, row.tolist())) for t, row in zip(y, p, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    # the columns' names end in the label values: the classes are 1, 2, 3 without --classes
    for args in ((), ("--classes", "1,2,3")):
        result = invoke("eval", path, *args, "--format", "json")
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["loss"] == pytest.approx(log_loss(y, p, labels=[1, 2, 3]), rel=1e-12)
        assert [c["class"] for c in report["classes"]] == ["1", "2", "3"]
    renamed = tmp_path / "q.csv"  # columns without numbers: 1-based labels are refused
    renamed.write_text(path.read_text().replace("p1,p2,p3", "a,b,c", 1))
    without = invoke("eval", renamed)
    assert without.exit_code == 2
    assert "--classes 1,2,3" in without.stderr


def test_enum_dictionary_with_unused_categories() -> None:
    """A category no row has is not an unknown class (a polars Enum, a pandas Categorical)."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "label": pd.Categorical(["a", "b", "a"], categories=["a", "b", "zebra"]),
            "prob_a": [0.8, 0.3, 0.6],
            "prob_b": [0.2, 0.7, 0.4],
        }
    )
    want = -np.mean(np.log([0.8, 0.7, 0.6]))
    assert api_report(frame).loss == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    ("rows", "args", "pattern"),
    [
        (
            [{"label": 0, "logits": [1, 2, 3]}],
            ("--classes", "a,b"),
            "holds 3 scores per row but --classes names 2 classes",
        ),
        ([{"label": 0, "logits": [1, 2, 3]}], ("--classes", "a,b,a"), "named twice"),
        ([{"label": 0, "logit_a": 1, "logit_b": 2}], ("--classes", "x"), "names 1 classes but"),
        ([{"label": 0, "logit": 1}], ("--classes", "x,y"), "binary mode"),
        (
            [{"logits": [1, 2, 3], "t": [0.5, 0.5]}],
            ("--targets", "t"),
            "'t' holds 2 targets per row but there are 3 scores",
        ),
        (
            [{"logits": [1, 2, 3], "t": [0.5, 0.5, 0]}, {"logits": [1, 2, 3], "t": [1]}],
            ("--targets", "t"),
            "different lengths",
        ),
        (
            [{"labels": [0, 1], "logits": [1, 2, 3]}],
            (),
            "'labels' holds 2 labels per row but there are 3 scores",
        ),
        ([{"labels": [0, 2, 1], "logits": [1, 2, 3]}], (), "must hold 0/1"),
        ([{"labels": ["a", "b"], "logits": [1, 2]}], (), "lists of string"),
        ([{"label": [0, 1], "logits": [1, 2]}], ("--mode", "categorical"), "not one value"),
        ([{"label": 0, "logits": [1, 2]}], ("--mode", "multilabel"), "needs a list of labels"),
    ],
)
def test_list_layout_errors(tmp_path: Path, rows: list, args: tuple, pattern: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    line = _error(invoke("eval", path, *args))
    assert pattern in line, line
