"""The command line as users and CI jobs use it: exit codes, warnings, formats, streams.

Expected losses are computed in each test with ``math`` from the formula, never taken from
xent's own output.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SAMPLES, eval_json, invoke


def logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


LOGITS_CSV = "label,logit_a,logit_b,logit_c\na,2.0,1.0,0.0\nb,0.5,1.5,-1.0\nc,0.0,3.0,1.0\n"
LOGITS_ROWS = [("a", [2.0, 1.0, 0.0]), ("b", [0.5, 1.5, -1.0]), ("c", [0.0, 3.0, 1.0])]


def expected_logit_losses() -> list[float]:
    index = {"a": 0, "b": 1, "c": 2}
    return [logsumexp(z) - z[index[y]] for y, z in LOGITS_ROWS]


# -- the main job ----------------------------------------------------------------------------


def test_eval_table_on_logits(write):
    path = write("preds.csv", LOGITS_CSV)
    result = invoke("eval", path)
    assert result.exit_code == 0, result.output
    losses = expected_logit_losses()
    assert f"{sum(losses) / 3:.4f}" in result.stdout
    assert "kind: logits" in result.stdout
    assert result.stderr == ""


def test_table_prints_class_names_as_they_are(write, monkeypatch):
    """Class names are data, not rich markup or emoji codes."""
    monkeypatch.setenv("COLUMNS", "160")  # the header on its three lines
    text = "label,logit_[red]cat,logit_dog:smile:\n[red]cat,1.0,0.5\ndog:smile:,0.2,2.0\n"
    result = invoke("eval", write("markup.csv", text))
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.stdout.splitlines()[5:7]]
    assert names == ["[red]cat", "dog:smile:"]


def test_eval_json_numbers_and_keys(write):
    path = write("preds.csv", LOGITS_CSV)
    report = eval_json(path)
    losses = expected_logit_losses()
    assert report["loss"] == pytest.approx(sum(losses) / 3, rel=1e-12)
    assert report["loss_sum"] == pytest.approx(sum(losses), rel=1e-12)
    assert report["perplexity"] == pytest.approx(math.exp(sum(losses) / 3), rel=1e-12)
    assert report["accuracy"] == pytest.approx(2 / 3)  # row c: argmax is b
    for key in ("version", "files", "mode", "kind", "base", "eps", "n_rows", "n_evaluated"):
        assert key in report
    assert (report["mode"], report["kind"], report["base"]) == ("categorical", "logits", "e")
    assert (report["n_rows"], report["n_evaluated"], report["n_skipped"]) == (3, 3, 0)
    classes = {c["class"]: c for c in report["classes"]}
    assert list(classes) == ["a", "b", "c"]
    assert classes["c"]["loss"] == pytest.approx(losses[2], rel=1e-12)
    assert classes["c"]["accuracy"] == 0.0
    assert classes["a"]["mean_p_true"] == pytest.approx(math.exp(-losses[0]), rel=1e-12)
    assert sum(c["share"] for c in report["classes"]) == pytest.approx(1.0)
    assert report["warnings"] == []


@pytest.mark.parametrize(
    ("base", "divisor"), [("e", 1.0), ("2", math.log(2)), ("10", math.log(10))]
)
def test_base_changes_the_unit(write, base, divisor):
    report = eval_json(write("preds.csv", LOGITS_CSV), "--base", base)
    nats = sum(expected_logit_losses()) / 3
    assert report["loss"] == pytest.approx(nats / divisor, rel=1e-12)
    assert report["perplexity"] == pytest.approx(math.exp(nats), rel=1e-12)


def test_stdin_pipeline(write):
    report = eval_json("-", input=LOGITS_CSV)
    assert report["loss"] == pytest.approx(sum(expected_logit_losses()) / 3, rel=1e-12)
    assert report["files"] == ["<stdin>"]


def test_stdin_jsonl_needs_input_format():
    text = '{"label": 0, "logits": [1.0, 0.0]}\n{"label": 1, "logits": [0.0, 2.0]}\n'
    report = eval_json("-", "--input-format", "jsonl", input=text)
    expected = (logsumexp([1.0, 0.0]) - 1.0 + logsumexp([0.0, 2.0]) - 2.0) / 2
    assert report["loss"] == pytest.approx(expected, rel=1e-12)


def test_several_files_and_a_directory_are_one_table(tmp_path):
    lines = LOGITS_CSV.splitlines()
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "1.csv").write_text("\n".join(lines[:2]) + "\n")
    (folder / "2.csv").write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    (folder / "notes.txt").write_text("not data")
    expected = sum(expected_logit_losses()) / 3
    assert eval_json(folder)["loss"] == pytest.approx(expected, rel=1e-12)
    both = eval_json(folder / "1.csv", folder / "2.csv")
    assert both["loss"] == pytest.approx(expected, rel=1e-12)
    assert both["n_rows"] == 3


def test_binary_probabilities_and_positive_value(write):
    path = write("b.csv", "outcome,prob\nyes,0.9\nno,0.2\nyes,0.4\n")
    report = eval_json(path, "--label", "outcome", "--positive", "yes")
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.4)) / 3
    assert report["mode"] == "binary"
    assert report["kind"] == "probs"
    assert report["loss"] == pytest.approx(expected, rel=1e-12)
    assert [c["class"] for c in report["classes"]] == ["no", "yes"]


@pytest.mark.parametrize("options", [(), ("--positive", "1")])
def test_binary_integer_labels_with_a_gap(write, options):
    """Labels 1 and 3 are two values: 2, between them but absent, is not a third."""
    rows = [(1, 0.5), (3, -0.2), (3, 1.0), (1, 2.0)]
    text = "label,logit\n" + "".join(f"{y},{z}\n" for y, z in rows)
    report = eval_json(write("gap.csv", text), *options)
    expected = [math.log1p(math.exp(-z if y == 1 else z)) for y, z in rows]
    assert report["loss"] == pytest.approx(sum(expected) / 4, rel=1e-12)
    assert [c["class"] for c in report["classes"]] == ["3", "1"]


def test_binary_needs_positive_for_text_labels(write):
    result = invoke("eval", write("b.csv", "label,prob\nyes,0.9\nno,0.2\n"))
    assert result.exit_code == 2
    assert "--positive" in result.stderr


def test_multilabel_pairs_columns_by_name(write):
    text = "y_cat,y_dog,logit_dog,logit_cat\n1,0,-1.0,2.0\n0,1,0.5,-0.5\n"
    report = eval_json(write("m.csv", text), "--label", "y_*")

    def bce(z: float, y: int) -> float:
        return math.log1p(math.exp(-z)) if y else math.log1p(math.exp(z))

    cells = [bce(2.0, 1), bce(-1.0, 0), bce(-0.5, 0), bce(0.5, 1)]
    assert report["mode"] == "multilabel"
    assert report["loss"] == pytest.approx(sum(cells) / 4, rel=1e-12)
    cat = next(c for c in report["classes"] if c["class"] == "cat")
    assert cat["loss"] == pytest.approx((bce(2.0, 1) + bce(-0.5, 0)) / 2, rel=1e-12)


def test_soft_targets(write):
    text = "logit_a,logit_b,t_a,t_b\n1.0,0.0,0.7,0.3\n0.0,2.0,0.0,1.0\n"
    report = eval_json(write("s.csv", text), "--targets", "t_*", "--scores", "logit_*")
    lse1, lse2 = logsumexp([1.0, 0.0]), logsumexp([0.0, 2.0])
    row1 = -(0.7 * (1.0 - lse1) + 0.3 * (0.0 - lse1))
    row2 = -(1.0 * (2.0 - lse2))
    assert report["loss"] == pytest.approx((row1 + row2) / 2, rel=1e-12)


def test_weights_give_weighted_mean(write):
    text = "label,logit_0,logit_1,w\n0,1.0,0.0,3\n1,1.0,0.0,1\n"
    report = eval_json(write("w.csv", text), "--weight", "w")
    l0, l1 = logsumexp([1.0, 0.0]) - 1.0, logsumexp([1.0, 0.0]) - 0.0
    assert report["loss"] == pytest.approx((3 * l0 + l1) / 4, rel=1e-12)
    assert report["loss_sum"] == pytest.approx(3 * l0 + l1, rel=1e-12)


def test_integer_labels_match_named_classes_by_position(write):
    text = "label,prob_cat,prob_dog\n0,0.8,0.2\n1,0.3,0.7\n"
    report = eval_json(write("p.csv", text))
    assert report["loss"] == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2, rel=1e-12)


def test_float_labels_match_integer_classes(write):
    report = eval_json(write("f.csv", "label,logit_0,logit_1\n1.0,0.0,1.0\n0.0,1.0,0.0\n"))
    assert report["n_evaluated"] == 2
    assert report["accuracy"] == 1.0


# -- exit codes ------------------------------------------------------------------------------


def test_max_loss_gate(write):
    path = write("preds.csv", LOGITS_CSV)
    loss = sum(expected_logit_losses()) / 3
    assert invoke("eval", path, "--max-loss", loss + 1e-6).exit_code == 0
    failed = invoke("eval", path, "--max-loss", loss - 1e-6)
    assert failed.exit_code == 1
    assert "--max-loss" in failed.stderr
    assert failed.stdout  # the report is still printed


def test_strict_gate_fails_on_any_warning(write):
    path = write("p.csv", "label,prob_a,prob_b\na,0.5,0.6\nb,0.1,0.9\n")
    assert invoke("eval", path).exit_code == 0
    assert invoke("eval", path, "--strict").exit_code == 1
    clean = write("c.csv", "label,prob_a,prob_b\na,0.4,0.6\nb,0.1,0.9\n")
    assert invoke("eval", clean, "--strict").exit_code == 0


EXIT_2_CASES = {
    "unknown option": (["--frobnicate"], None),
    "bad choice": (["--kind", "probabilities"], None),
    "bad eps": (["--eps", "2"], None),
    "missing file": (["missing.csv"], "missing.csv"),
    "column not found": (["--label", "truth"], "truth"),
    "unknown label": (["--scores", "logit_a,logit_b"], "not among the classes"),
    "probs outside [0, 1]": (["--kind", "probs"], "outside [0, 1]"),
}


@pytest.mark.parametrize("case", sorted(EXIT_2_CASES))
def test_usage_and_input_errors_exit_2_with_one_line(write, case):
    args, needle = EXIT_2_CASES[case]
    path = write("preds.csv", LOGITS_CSV)
    args = [a if a != "missing.csv" else str(path.parent / a) for a in args]
    if "missing.csv" not in " ".join(args):
        args = [path, *args]
    result = invoke("eval", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 2, lines
    assert lines[0].startswith("xent: error: ")
    assert "Traceback" not in result.stderr
    assert "╭" not in result.stderr  # no boxed panel
    if needle:
        assert needle in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("label,logit_0,logit_1\n", "no data rows"),
        ("label,logit_0,logit_1\n0,nan,1\n1,1,inf\n", "skipped"),
    ],
)
def test_no_rows_is_an_input_error(write, text, needle):
    result = invoke("eval", write("x.csv", text))
    assert result.exit_code == 2
    assert needle in result.stderr.splitlines()[0]


def test_one_based_labels_get_a_hint(write):
    text = "label,logit_0,logit_1,logit_2\n1,0,1,2\n3,0,1,2\n2,0,1,2\n"
    result = invoke("eval", write("x.csv", text))
    assert result.exit_code == 2
    assert "1-based" in result.stderr


# -- warnings --------------------------------------------------------------------------------


def warning(report: dict, code: str) -> dict:
    return next(w for w in report["warnings"] if w["code"] == code)


def test_every_warning_code_reaches_stderr_and_json(write):
    text = (
        "id,label,prob_a,prob_b\n"
        "r0,a,0.0,1.0\n"  # zero-probability
        "r1,b,nan,0.5\n"  # non-finite
        "r2,,0.5,0.5\n"  # missing-label
        "r3,a,0.6,0.6\n"  # not-normalized
        "r4,b,0.3,0.7\n"
    )
    path = write("w.csv", text)
    result = invoke("eval", path, "--id", "id", "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert warning(report, "zero-probability")["rows"] == [0]
    assert warning(report, "zero-probability")["ids"] == ["r0"]
    assert warning(report, "non-finite")["rows"] == [1]
    assert warning(report, "missing-label")["rows"] == [2]
    assert warning(report, "not-normalized")["rows"] == [3]
    assert report["n_skipped"] == 2
    expected = (-math.log(1e-15) - math.log(0.6) - math.log(0.7)) / 3
    assert report["loss"] == pytest.approx(expected, rel=1e-12)
    for code in ("zero-probability", "non-finite", "missing-label", "not-normalized"):
        assert f"warning: {code}:" in result.stderr


def test_probabilities_as_logits(write):
    path = write("p.csv", "label,logit_a,logit_b\na,0.9,0.1\nb,0.2,0.8\n")
    report = eval_json(path)
    assert warning(report, "probabilities-as-logits")["count"] == 2
    plain = write("q.csv", "label,a,b\na,0.9,0.1\nb,0.2,0.8\n")
    assert eval_json(plain)["kind"] == "probs"
    assert eval_json(plain)["warnings"] == []


def test_renormalize_rescales(write):
    path = write("p.csv", "label,prob_a,prob_b\na,0.6,0.6\n")
    assert eval_json(path, "--renormalize")["loss"] == pytest.approx(math.log(2), rel=1e-12)
    assert eval_json(path)["loss"] == pytest.approx(-math.log(0.6), rel=1e-12)


def test_eps_zero_gives_infinity_as_strict_json(write):
    path = write("p.csv", "label,prob_a,prob_b\na,0.0,1.0\nb,0.5,0.5\n")
    result = invoke("eval", path, "--eps", "0", "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)  # strict: would fail on a bare Infinity
    assert report["loss"] == "inf"
    assert warning(report, "zero-probability")["count"] == 1
    assert "Infinity" not in result.stdout


def test_top_warnings_limits_listed_rows_not_the_count(write):
    rows = "".join("a,nan,1\n" for _ in range(30))
    path = write("p.csv", "label,logit_a,logit_b\na,1,0\n" + rows)
    report = eval_json(path, "--top-warnings", "3")
    record = warning(report, "non-finite")
    assert record["count"] == 30
    assert record["rows"] == [1, 2, 3]


# -- other formats ---------------------------------------------------------------------------


def test_csv_output_has_an_overall_row(write):
    result = invoke("eval", write("preds.csv", LOGITS_CSV), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["scope"] for r in rows] == ["class", "class", "class", "overall"]
    overall = float(rows[-1]["loss"])
    assert overall == pytest.approx(sum(expected_logit_losses()) / 3, rel=1e-12)


def test_markdown_output(write):
    result = invoke("eval", write("preds.csv", LOGITS_CSV), "--format", "markdown")
    assert "| class | count | loss |" in result.stdout
    assert "| **overall** |" in result.stdout


def test_output_file_written_atomically(write, tmp_path):
    target = tmp_path / "report.json"
    result = invoke("eval", write("preds.csv", LOGITS_CSV), "-f", "json", "-o", target)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(target.read_text())["n_rows"] == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- xent rows -------------------------------------------------------------------------------


def test_rows_csv_and_top(write):
    path = write("preds.csv", LOGITS_CSV)
    result = invoke("rows", path)
    assert result.exit_code == 0
    records = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(records[0]) == ["row", "id", "label", "predicted", "p_true", "loss"]
    losses = expected_logit_losses()
    assert [float(r["loss"]) for r in records] == pytest.approx(losses, rel=1e-12)
    top = invoke("rows", path, "--top", "2", "--format", "json")
    lines = [json.loads(line) for line in top.stdout.splitlines()]
    order = sorted(range(3), key=lambda i: -losses[i])[:2]
    assert [r["row"] for r in lines] == order
    assert lines[0]["label"] == "abc"[order[0]]


def test_rows_with_ids(write):
    text = "name,label,logit_0,logit_1\nx,0,2,0\ny,1,2,0\n"
    result = invoke("rows", write("p.csv", text), "--id", "name", "--top", "1")
    records = list(csv.DictReader(io.StringIO(result.stdout)))
    assert records[0]["id"] == "y"
    assert records[0]["predicted"] == "0"


@pytest.mark.parametrize("command", ["eval", "rows"])
def test_csv_output_quotes_a_carriage_return_in_a_class_name(tmp_path, command):
    """Python's csv writer quotes only the characters of its line terminator ("\n"): a class
    named "b\rc" split its line for any CSV reader."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    names = ["a", "b\rc", "d,e"]
    columns = {"label": names * 2}
    columns |= {f"logit_{n}": [float(i == j) for i in range(6)] for j, n in enumerate(names)}
    pq.write_table(pa.table(columns), path)
    result = invoke(command, path, "--format", "csv")
    assert result.exit_code == 0
    records = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    if command == "eval":
        assert [r["class"] for r in records] == [*names, ""]
    else:
        assert [r["label"] for r in records] == names * 2
        assert [r["predicted"] for r in records] == [*names, "a", "a", "a"]


@pytest.mark.parametrize(
    ("command", "fmt"), [("eval", "table"), ("eval", "markdown"), ("rows", "table")]
)
def test_tables_show_line_breaks_in_class_names_as_escapes(tmp_path, command, fmt):
    """One line per class (or row) in the text formats, whatever a class is called."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    names = ["a", "b\nc", "d\re", "f\tg"]
    columns = {"label": names}
    columns |= {f"logit_{n}": [float(i == j) for i in range(4)] for j, n in enumerate(names)}
    pq.write_table(pa.table(columns), path)
    result = invoke(command, path, "--format", fmt)
    assert result.exit_code == 0
    lines = result.stdout.split("\n")
    assert "\r" not in result.stdout
    assert "\t" not in result.stdout
    for shown in ["b\\nc", "d\\re", "f\\tg"]:
        # (the header lists the score columns, escaped the same way)
        (hit,) = [line for line in lines if shown in line and "scores" not in line]
        assert hit.count(shown) == (2 if command == "rows" else 1), result.stdout  # + predicted


# -- samples agree with the documented layouts -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "mode", "kind"),
    [
        ("digits_logits.csv", [], "categorical", "logits"),
        ("digits_logits.tsv.gz", [], "categorical", "logits"),
        ("digits_logits.jsonl", [], "categorical", "logits"),
        ("iris_probs.parquet", [], "categorical", "probs"),
        ("breast_cancer_binary.csv", [], "binary", "logits"),
        ("digits_multilabel.csv", ["--label", "y_*"], "multilabel", "logits"),
    ],
)
def test_sample_files(name, args, mode, kind):
    report = eval_json(SAMPLES / name, *args)
    assert (report["mode"], report["kind"]) == (mode, kind)
    assert report["warnings"] == []
    assert 0 < report["loss"] < 1


def test_problem_sample_has_each_problem():
    report = eval_json(SAMPLES / "iris_problems.csv")
    codes = {w["code"]: w["rows"] for w in report["warnings"]}
    assert codes == {"non-finite": [1], "zero-probability": [0], "not-normalized": [2]}


# -- real processes --------------------------------------------------------------------------


def run_xent(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xent_cli", *args], capture_output=True, text=True, **kwargs
    )


def test_help_and_version_do_not_import_heavy_modules():
    code = (
        "import sys\n"
        "from xent_cli.cli.commands import app\n"
        "for args in (['--help'], ['--version'], ['eval', '--help']):\n"
        "    try:\n"
        "        app(args, prog_name='xent')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_version():
    result = run_xent("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("xent 0.")


def test_version_answers_before_typer_loads():
    import xent_cli

    code = (
        "import sys\n"
        "sys.argv = ['xent', '--version']\n"
        "from xent_cli.launch import main\n"
        "main()\n"
        "print(sorted(m for m in ('typer', 'rich', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [f"xent {xent_cli.__version__}", "[]"]
    # the same text as the full command line's --version
    from typer.testing import CliRunner

    from xent_cli.cli.commands import app

    assert (
        CliRunner().invoke(app, ["--version"]).stdout.splitlines()[0] == out.stdout.splitlines()[0]
    )


def test_closed_pipe_exits_quietly(tmp_path: Path):
    big = tmp_path / "big.csv"
    big.write_text("label,logit_0,logit_1\n" + "0,1.5,0.5\n1,0.2,0.3\n" * 50_000)
    pipeline = f"{sys.executable} -m xent_cli rows {big} | head -n 2"
    result = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True)
    assert result.stdout.splitlines()[0] == "row,id,label,predicted,p_true,loss"
    assert "Traceback" not in result.stderr
    assert "Error" not in result.stderr


@pytest.mark.parametrize("compression", ["gzip", "bz2", "zstd"])
def test_compressed_text_inputs(tmp_path, compression):
    import pyarrow as pa

    suffix = {"gzip": ".gz", "bz2": ".bz2", "zstd": ".zst"}[compression]
    path = tmp_path / f"preds.csv{suffix}"
    with pa.CompressedOutputStream(str(path), compression) as stream:
        stream.write(LOGITS_CSV.encode())
    report = eval_json(path)
    assert report["loss"] == pytest.approx(sum(expected_logit_losses()) / 3, rel=1e-12)
    jsonl = tmp_path / f"preds.jsonl{suffix}"
    with pa.CompressedOutputStream(str(jsonl), compression) as stream:
        for label, logits in LOGITS_ROWS:
            stream.write(
                json.dumps({"label": label, **dict(zip("abc", logits, strict=True))}).encode()
                + b"\n"
            )
    report = eval_json(jsonl, "--scores", "a,b,c")
    assert report["loss"] == pytest.approx(sum(expected_logit_losses()) / 3, rel=1e-12)


def test_one_based_labels_of_named_classes_get_a_hint(write):
    text = "label,p_cat,p_dog,p_bird\n2,0.1,0.7,0.2\n3,0.05,0.05,0.9\n1,0.6,0.3,0.1\n"
    result = invoke("eval", write("x.csv", text))
    assert result.exit_code == 2
    assert "1-based" in result.stderr
    assert "cat, dog, bird" in result.stderr


def test_a_class_may_be_named_like_a_missing_value(write):
    """Labels "na" and "none" are missing, unless a class has that name (found by fuzzing)."""
    text = (
        "label,prob_na,prob_none,prob_a\nna,0.5,0.25,0.25\nnone,0.25,0.5,0.25\nNULL,0.2,0.3,0.5\n"
    )
    report = eval_json(write("na.csv", text))
    assert report["n_evaluated"] == 2
    assert [w["code"] for w in report["warnings"]] == ["missing-label"]
    assert report["loss"] == pytest.approx(-math.log(0.5), rel=1e-13)


def test_a_warning_stays_one_line_when_an_id_holds_a_line_break(write):
    path = write("p.csv", 'id,label,p_0,p_1\n"a\nb",0,0.5,0.6\nc,1,0.2,0.8\n')
    result = invoke("eval", path, "--id", "id", "-f", "json")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "xent: warning: not-normalized: 1 row of probabilities does not sum to 1 (off by more "
        "than 1e-3): scored as given; --renormalize rescales them (ids a\\nb)"
    ]
    assert json.loads(result.stdout)["warnings"][0]["ids"] == ["a\nb"]  # the data, exactly
