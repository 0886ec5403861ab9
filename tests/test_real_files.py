"""Files as real tools write them (issue 10), and the report's surface around them.

Every expected loss here is computed independently: by hand with ``math``, or with
scikit-learn's ``log_loss`` on the same numbers; never copied from xent's output.

* index and key columns (pandas ``to_csv()``'s unnamed index, ``__index_level_0__`` from
  ``to_parquet()`` after a filter, R's ``write.csv()`` row names, polars' and duckdb's row
  numbers) are never scores; a guessed score column that counts rows, is constant or holds
  distinct integers stops the run unless the labels decide;
* labels equal to whole column names (``class_0``, ``new_york``);
* a binary score column named after the positive class (``prob_benign``);
* label and score columns paired by name without ``--label`` (``y_even`` + ``logit_even``);
* narrow terminals and ``--max-classes``; ``-o`` formats by extension; ``--max-loss``
  checks; ``--positive`` where it has no effect; the gate in the JSON.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss

from .conftest import SAMPLES, eval_json, invoke

pd = pytest.importorskip("pandas")


def nll(p: float) -> float:
    return -math.log(p)


def one_error(result) -> str:
    """The error line of an exit-2 result: one line (plus an optional hint), no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("xent: warning:")]
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith("xent: error: ")
    if len(lines) == 2:
        assert lines[1].startswith("  hint: ")
    assert result.stdout == ""
    return result.stderr


def iris_like(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Probabilities for three classes named by columns without a score prefix."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([2.0, 2.0, 2.0], n)
    return pd.DataFrame(
        {
            "label": rng.integers(0, 3, n),
            "setosa": p[:, 0],
            "versicolor": p[:, 1],
            "virginica": p[:, 2],
        }
    )


NAMES = ["setosa", "versicolor", "virginica"]


def sk_loss(frame: pd.DataFrame) -> float:
    """scikit-learn's log loss of a frame from iris_like (integer or name labels)."""
    labels = frame["label"]
    if labels.dtype == object or isinstance(labels.dtype, pd.StringDtype):
        labels = labels.map(NAMES.index)
    return float(log_loss(labels.to_numpy(), frame[NAMES].to_numpy(), labels=[0, 1, 2]))


# -- 1. index and key columns ------------------------------------------------------------------


def test_issue_example_unnamed_index_column(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # the header's settings on one line
    path = tmp_path / "idx.csv"
    path.write_text(",label,a,b,c\n0,a,0.7,0.2,0.1\n1,b,0.1,0.8,0.1\n2,c,0.2,0.2,0.6\n")
    report = eval_json(path)
    expected = (nll(0.7) + nll(0.8) + nll(0.6)) / 3  # 0.3635
    assert report["loss"] == pytest.approx(expected, rel=1e-12)
    assert round(report["loss"], 4) == 0.3635
    assert report["kind"] == "probs"
    assert [c["class"] for c in report["classes"]] == ["a", "b", "c"]
    assert report["columns"]["scores"] == ["a", "b", "c"]
    table = invoke("eval", path).stdout
    assert "scores: a, b, c" in table.splitlines()[2]


@pytest.mark.parametrize("labels", ["integers", "names"])
@pytest.mark.parametrize("index", [True, False])
def test_pandas_to_csv_with_and_without_index(tmp_path, labels, index):
    frame = iris_like()
    if labels == "names":
        frame["label"] = [NAMES[i] for i in frame["label"]]
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=index)
    report = eval_json(path)
    assert report["loss"] == pytest.approx(sk_loss(frame), rel=1e-12)
    assert report["columns"]["scores"] == NAMES


def test_pandas_shuffled_index_is_not_a_score(tmp_path):
    """After a shuffle the unnamed index is no counter: it is left out by its name."""
    frame = iris_like().sample(frac=1.0, random_state=1)
    path = tmp_path / "p.csv"
    frame.to_csv(path)
    assert eval_json(path)["loss"] == pytest.approx(sk_loss(frame), rel=1e-12)


def test_pandas_to_parquet_after_a_filter_writes_index_level_0(tmp_path):
    frame = iris_like()
    kept = frame[frame["setosa"] < 0.6]
    path = tmp_path / "p.parquet"
    kept.to_parquet(path)
    import pyarrow.parquet as pq

    assert "__index_level_0__" in pq.ParquetFile(path).schema_arrow.names
    report = eval_json(path)
    assert report["n_rows"] == len(kept)
    assert report["loss"] == pytest.approx(sk_loss(kept), rel=1e-12)
    assert report["columns"]["scores"] == NAMES


def test_pandas_named_index_in_parquet_metadata_is_not_a_score(tmp_path):
    """An index named like any column ('image') is known from pandas' Parquet metadata."""
    frame = iris_like()
    frame.index = pd.Index(np.arange(1000, 1000 + len(frame))[::-1], name="image")
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    report = eval_json(path)
    assert report["loss"] == pytest.approx(sk_loss(frame), rel=1e-12)
    assert report["columns"]["scores"] == NAMES


def test_r_write_csv_row_names(tmp_path):
    """R's write.csv(): quoted header with "" over the row names "1", "2", ..."""
    path = tmp_path / "r.csv"
    path.write_text(
        '"","label","a","b","c"\n'
        '"1","a",0.7,0.2,0.1\n'
        '"2","b",0.1,0.8,0.1\n'
        '"3","c",0.2,0.2,0.6\n'
        '"4","a",0.5,0.25,0.25\n'
    )
    report = eval_json(path)
    expected = (nll(0.7) + nll(0.8) + nll(0.6) + nll(0.5)) / 4
    assert report["loss"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_polars_with_row_index(tmp_path, fmt):
    pl = pytest.importorskip("polars")
    frame = iris_like()
    table = pl.from_pandas(frame).with_row_index()
    path = tmp_path / f"p.{fmt}"
    table.write_csv(path) if fmt == "csv" else table.write_parquet(path)
    report = eval_json(path)
    assert report["loss"] == pytest.approx(sk_loss(frame), rel=1e-12)
    assert report["columns"]["scores"] == NAMES


def test_duckdb_row_number_counter_needs_scores_or_name_labels(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    frame = iris_like()
    path = tmp_path / "d.csv"
    query = "select row_number() over () as n, * from frame"
    duckdb.sql(query).write_csv(str(path))
    # integer labels match classes by position, so a counter in front would shift them all
    stderr = one_error(invoke("eval", path))
    assert "'n' counts rows (1, 2, 3" in stderr
    assert "--scores setosa,versicolor,virginica" in stderr
    report = eval_json(path, "--scores", "setosa,versicolor,virginica")
    assert report["loss"] == pytest.approx(sk_loss(frame), rel=1e-12)
    # labels that name the columns decide: the counter is not one of them
    named = frame.assign(label=[NAMES[i] for i in frame["label"]])
    duckdb.sql("select row_number() over () as n, * from named").write_csv(str(path))
    report = eval_json(path)
    assert report["loss"] == pytest.approx(sk_loss(named), rel=1e-12)
    assert report["columns"]["scores"] == NAMES


@pytest.mark.parametrize(
    ("column", "values", "why"),
    [
        ("sample_no", lambda n: np.arange(n), "counts rows (0, 1, 2"),
        ("k", lambda n: np.full(n, 3), "is constant (3)"),  # (a 'fold' is left out by name)
        (
            "image",
            lambda n: np.random.default_rng(5).permutation(n) * 7 + 100,
            "holds distinct integers",
        ),
    ],
)
def test_guessed_scores_that_look_like_something_else_stop_the_run(tmp_path, column, values, why):
    frame = iris_like()
    frame.insert(0, column, values(len(frame)))
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    stderr = one_error(invoke("eval", path))
    assert f"column {column!r} {why}" in stderr
    assert "--scores" in stderr
    assert invoke("rows", path).exit_code == 2  # one plan for every command
    report = eval_json(path, "--scores", ",".join(NAMES))
    assert report["loss"] == pytest.approx(sk_loss(frame), rel=1e-12)


def test_prior_model_with_constant_scores_is_evaluated(tmp_path):
    """Every column constant (a model that always predicts the prior) is no reason to stop."""
    frame = iris_like()
    for name, p in zip(NAMES, (0.5, 0.3, 0.2), strict=True):
        frame[name] = p
    path = tmp_path / "prior.csv"
    frame.to_csv(path, index=False)
    assert eval_json(path)["loss"] == pytest.approx(sk_loss(frame), rel=1e-12)


def test_the_decision_does_not_depend_on_batching(tmp_path):
    """100k rows (two Parquet row groups, many CSV chunks): the sample decides once."""
    frame = iris_like(100_000, seed=3)
    frame.insert(0, "n", np.arange(len(frame)))
    frame["label"] = [NAMES[i] for i in frame["label"]]
    csv_path, pq_path = tmp_path / "p.csv", tmp_path / "p.parquet"
    frame.to_csv(csv_path, index=False)
    frame.to_parquet(pq_path, index=False, row_group_size=65_536)
    expected = sk_loss(frame)
    for path in (csv_path, pq_path):
        report = eval_json(path)
        assert report["columns"]["scores"] == NAMES
        assert report["loss"] == pytest.approx(expected, rel=1e-9)


# -- 2. labels that are whole column names -----------------------------------------------------


def test_issue_example_class_prefix(tmp_path):
    path = tmp_path / "cp.csv"
    path.write_text("label,class_a,class_b\nclass_a,0.7,0.3\nclass_b,0.2,0.8\n")
    report = eval_json(path)
    assert report["loss"] == pytest.approx((nll(0.7) + nll(0.8)) / 2, rel=1e-12)
    assert [c["class"] for c in report["classes"]] == ["a", "b"]


def test_sklearn_wine_target_names(tmp_path):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    data = load_wine()
    model = LogisticRegression(max_iter=5000).fit(data.data, data.target)
    p = model.predict_proba(data.data)
    frame = pd.DataFrame(p, columns=list(data.target_names))  # class_0, class_1, class_2
    frame.insert(0, "label", data.target_names[data.target])
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    expected = log_loss(data.target, p)
    assert eval_json(path)["loss"] == pytest.approx(expected, rel=1e-9)
    explicit = eval_json(path, "--scores", "class_0,class_1,class_2")
    assert explicit["loss"] == pytest.approx(expected, rel=1e-9)
    globbed = eval_json(path, "--scores", "class_*")
    assert globbed["loss"] == pytest.approx(expected, rel=1e-9)
    # the stripped names still match too
    frame["label"] = data.target.astype(str)
    frame.to_csv(path, index=False)
    assert eval_json(path)["loss"] == pytest.approx(expected, rel=1e-9)


def test_shared_word_prefix_new_york_new_jersey(tmp_path):
    path = tmp_path / "ny.csv"
    path.write_text("label,new_york,new_jersey\nnew_york,0.9,0.1\nnew_jersey,0.4,0.6\n")
    report = eval_json(path)
    assert report["loss"] == pytest.approx((nll(0.9) + nll(0.6)) / 2, rel=1e-12)


# -- 6. binary: the score column names the positive class --------------------------------------


def breast_cancer_frame() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    p_benign = model.fit(data.data, data.target).predict_proba(data.data)[:, 1]
    names = data.target_names[data.target]  # "malignant" (0) / "benign" (1)
    return pd.DataFrame({"diagnosis": names}), data.target, p_benign


@pytest.mark.parametrize("column", ["prob_benign", "p_benign", "benign", "benign_prob"])
def test_binary_positive_class_from_the_score_column_name(tmp_path, column):
    frame, y, p = breast_cancer_frame()
    frame[column] = p
    path = tmp_path / "bc.csv"
    frame.to_csv(path, index=False)
    report = eval_json(path, "--label", "diagnosis")
    assert report["mode"] == "binary"
    assert report["loss"] == pytest.approx(log_loss(y, p), rel=1e-9)
    assert [c["class"] for c in report["classes"]][1] == "benign"
    assert not [w for w in report["warnings"] if w["code"] == "ignored-option"]


def test_binary_positive_option_still_wins(tmp_path):
    frame, y, p = breast_cancer_frame()
    frame["prob_benign"] = 1.0 - p  # read as P(malignant) by the option
    path = tmp_path / "bc.csv"
    frame.to_csv(path, index=False)
    report = eval_json(path, "--label", "diagnosis", "--positive", "malignant")
    assert report["loss"] == pytest.approx(log_loss(1 - y, 1.0 - p), rel=1e-9)


def test_binary_01_labels_keep_1_as_positive(tmp_path):
    _, y, p = breast_cancer_frame()
    path = tmp_path / "bc.csv"
    pd.DataFrame({"label": y, "prob_benign": p}).to_csv(path, index=False)
    assert eval_json(path)["loss"] == pytest.approx(log_loss(y, p), rel=1e-9)


def test_binary_labels_that_do_not_name_the_column_still_ask_for_positive(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("label,prob_benign\nyes,0.9\nno,0.2\n")
    assert "--positive" in one_error(invoke("eval", path))


# -- 8. label and score columns paired by name ------------------------------------------------


def test_multilabel_sample_without_label_option():
    path = SAMPLES / "digits_multilabel.csv"
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    cells = []
    for row in rows:
        for name in ("even", "large", "prime"):
            z, y = float(row[f"logit_{name}"]), int(row[f"y_{name}"])
            cells.append(max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z))))
    report = eval_json(path)
    assert report["mode"] == "multilabel"
    assert report["loss"] == pytest.approx(math.fsum(cells) / len(cells), rel=1e-12)
    assert report["columns"]["label"] == ["y_even", "y_large", "y_prime"]
    assert report == eval_json(path, "--label", "y_*")


def test_multilabel_pairs_in_score_order_whatever_the_label_order(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("y_dog,y_cat,logit_cat,logit_dog\n1,0,-1.0,2.0\n0,1,0.5,-0.5\n")

    def bce(z: float, y: int) -> float:
        return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))

    cells = [bce(-1.0, 0), bce(2.0, 1), bce(0.5, 1), bce(-0.5, 0)]
    report = eval_json(path)
    assert report["loss"] == pytest.approx(sum(cells) / 4, rel=1e-12)
    assert {c["class"]: c["count"] for c in report["classes"]} == {"cat": 2, "dog": 2}


def test_two_label_prefixes_that_both_pair_are_ambiguous(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("y_a,y_b,t_a,t_b,logit_a,logit_b\n1,0,1,0,0.5,-0.5\n")
    assert "no label column" in one_error(invoke("eval", path))


# -- 9. narrow terminals, --max-classes -------------------------------------------------------

NUMBER_CELL = re.compile(r"^(-|\d+|\d+\.\d{4}|\d\.\d{3}e-\d+|\d+\.\d%|inf|nan)$")


def many_classes(tmp_path: Path, k: int = 100, n: int = 1500) -> tuple[Path, np.ndarray]:
    """k classes with long names; returns the file and each class's loss sum (by numpy)."""
    rng = np.random.default_rng(11)
    z = rng.normal(size=(n, k)).round(3)
    y = rng.integers(0, k, n)
    names = [f"a_rather_long_class_name_{j}" for j in range(k)]
    frame = pd.DataFrame(z, columns=[f"logit_{c}" for c in names])
    frame.insert(0, "label", [names[i] for i in y])
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    top = z.max(axis=1, keepdims=True)
    losses = (top[:, 0] + np.log(np.exp(z - top).sum(axis=1))) - z[np.arange(n), y]
    return path, np.bincount(y, weights=losses, minlength=k)


def test_max_classes_shows_the_largest_shares_then_a_line(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # wide enough for the whole class names
    path, sums = many_classes(tmp_path)
    text = invoke("eval", path).stdout
    lines = text.splitlines()
    assert "... 60 more classes: see --format csv or --max-classes 0" in lines
    rows = [ln.split()[0] for ln in lines if ln.startswith("a_rather")]
    expected = [f"a_rather_long_class_name_{j}" for j in np.argsort(-sums, kind="stable")[:40]]
    assert rows == expected
    assert lines.index("... 60 more classes: see --format csv or --max-classes 0") < next(
        i for i, ln in enumerate(lines) if ln.startswith("overall")
    )
    everything = invoke("eval", path, "--max-classes", "0").stdout
    assert len([ln for ln in everything.splitlines() if ln.startswith("a_rather")]) == 100
    assert "more classes" not in everything
    assert len(eval_json(path)["classes"]) == 100  # JSON: always every class
    markdown = invoke("eval", path, "-f", "markdown", "--max-classes", "5").stdout
    assert markdown.count("| a_rather") == 5
    assert "*... 95 more classes: see --format csv or --max-classes 0*" in markdown
    assert "| **overall** |" in markdown


@pytest.mark.parametrize("width", [20, 30, 40, 50, 60, 70, 100])
def test_narrow_tables_fit_and_never_split_numbers(tmp_path, monkeypatch, width):
    from xent_cli import evaluate
    from xent_cli.render.report import render_table

    path, _ = many_classes(tmp_path, k=12, n=300)
    monkeypatch.chdir(tmp_path)
    report = evaluate(path.name)
    text = render_table(report, width=width, max_classes=5)
    lines = text.splitlines()
    for line in lines:
        assert len(line) <= width, (width, line)
    rule = [i for i, ln in enumerate(lines) if set(ln) == {"─"}]
    body = [*lines[rule[0] + 1 : rule[1]], lines[rule[1] + 1]]
    for line in body:
        if line.startswith("..."):
            continue
        cells = [c for c in line.split()[1:] if not set(c) <= set("█▏▎▍▌▋▊▉")]  # share bar
        assert cells, line
        assert all(NUMBER_CELL.match(c) for c in cells), line
    overall = lines[rule[1] + 1].split()
    assert overall[0] == "overall"
    assert f"{report.loss:.4f}" in overall
    if width < 40:
        assert any("…" in ln for ln in body)  # class names shortened, not wrapped


def test_table_on_a_narrow_terminal(tmp_path):
    """Through the CLI on a 40-column pseudo-terminal: every line fits."""
    import fcntl
    import pty
    import struct
    import termios

    path, _ = many_classes(tmp_path, k=12, n=300)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["NO_COLOR"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "xent_cli", "eval", path.name, "--no-progress"],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 1 << 16)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=60)
    os.close(leader)
    assert process.returncode == 0
    lines = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    assert any(ln.startswith("overall") for ln in lines)
    for line in lines:
        assert len(line) <= 40, line


# -- 10. -o takes the format from its extension -----------------------------------------------


def test_output_format_from_extension(tmp_path):
    source = SAMPLES / "iris_probs.parquet"
    for name in ("r.json", "r.csv", "r.md", "r.txt", "r.markdown", "r.report"):
        result = invoke("eval", source, "-o", tmp_path / name)
        assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_rows"] == 45
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert rows[-1]["scope"] == "overall"
    assert (tmp_path / "r.md").read_text().startswith("**xent** ")
    assert (tmp_path / "r.markdown").read_text().startswith("**xent** ")
    assert (tmp_path / "r.txt").read_text().startswith("files: ")
    assert (tmp_path / "r.report").read_text().startswith("files: ")  # unknown: table
    # --format, when given, wins
    assert invoke("eval", source, "-o", tmp_path / "x.json", "-f", "csv").exit_code == 0
    assert (tmp_path / "x.json").read_text().startswith("scope,")


def test_output_into_a_missing_folder_fails_before_the_run(tmp_path):
    target = tmp_path / "missing" / "r.json"
    result = invoke("eval", tmp_path / "no_such_input.csv", "-o", target)
    stderr = one_error(result)
    assert "missing" in stderr
    assert "does not exist" in stderr
    assert "no_such_input" not in stderr  # the input was not even opened
    assert not target.parent.exists()


# -- 11. --max-loss must be a loss --------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "-1", "-inf", "-1e-9"])
def test_max_loss_nan_or_negative_is_a_usage_error(value):
    result = invoke("eval", SAMPLES / "iris_probs.parquet", f"--max-loss={value}")
    assert "--max-loss" in one_error(result)


def test_max_loss_inf_and_zero(tmp_path):
    source = SAMPLES / "iris_probs.parquet"
    assert invoke("eval", source, "--max-loss", "inf").exit_code == 0
    assert invoke("eval", source, "--max-loss", "0").exit_code == 1


# -- 12. --positive where it has no effect ------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "options", "mode"),
    [
        ("iris_probs.parquet", (), "categorical"),
        ("digits_multilabel.csv", ("--label", "y_*"), "multilabel"),
    ],
)
def test_positive_outside_binary_mode_warns(source, options, mode):
    plain = eval_json(SAMPLES / source, *options)
    result = invoke("eval", SAMPLES / source, *options, "--positive", "1", "-f", "json")
    assert result.exit_code == 0
    assert f"--positive has no effect in {mode} mode" in result.stderr
    assert result.stderr.startswith("xent: warning: ignored-option: ")
    report = json.loads(result.stdout)
    assert [w["code"] for w in report["warnings"]] == ["ignored-option"]
    assert report["loss"] == plain["loss"]
    rows = invoke("rows", SAMPLES / source, *options, "--positive", "1")
    assert "ignored-option" in rows.stderr


def test_positive_in_binary_mode_does_not_warn():
    result = invoke("eval", SAMPLES / "breast_cancer_binary.csv", "--positive", "1")
    assert result.exit_code == 0
    assert "ignored-option" not in result.stderr


# -- 13. the gate in the JSON ---------------------------------------------------------------------


def test_gate_in_json(tmp_path):
    source = SAMPLES / "iris_probs.parquet"
    passed = eval_json(source)
    assert passed["gate"] == {"max_loss": None, "strict": False, "passed": True, "reasons": []}
    result = invoke("eval", source, "--max-loss", "0.1", "-f", "json")
    assert result.exit_code == 1
    gate = json.loads(result.stdout)["gate"]
    loss = json.loads(result.stdout)["loss"]
    assert loss > 0.1
    assert gate["max_loss"] == 0.1
    assert gate["passed"] is False
    assert gate["strict"] is False
    assert gate["reasons"] == [f"loss {loss:.6g} nats exceeds --max-loss 0.1"]
    assert f"xent: gate failed: {gate['reasons'][0]}" in result.stderr
    problems = invoke("eval", SAMPLES / "iris_problems.csv", "--strict", "-o", tmp_path / "r.json")
    assert problems.exit_code == 1
    gate = json.loads((tmp_path / "r.json").read_text())["gate"]
    assert gate["strict"] is True
    assert gate["passed"] is False
    assert re.fullmatch(r"\d+ warning\(s\) under --strict", gate["reasons"][0])


def test_python_api_report_carries_a_passing_gate():
    from xent_cli import evaluate

    report = evaluate(SAMPLES / "iris_probs.parquet")
    assert report.to_dict()["gate"]["passed"] is True
