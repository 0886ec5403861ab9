"""Files as other tools write them, and inputs other than files (issue 10, items 5 and 7).

Item 5: ``numpy.savetxt(header=...)`` writes its header as a comment (``# label,logit_0,...``);
a file without a header is said to be one. Item 7: JSON Lines on standard input is recognised
by its first byte; the Python API takes polars DataFrames, Arrow tables and readers, and any
object with ``__arrow_c_stream__``. Expected losses come from scipy's ``log_softmax``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import log_softmax

from .conftest import invoke


def data(n: int = 40, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 2.0, (n, k)), rng.integers(0, k, n)


def expected(z: np.ndarray, y: np.ndarray) -> float:
    return float(-log_softmax(z, axis=1)[np.arange(len(y)), y].mean())


def loss_of(*args: object, input: bytes | str | None = None) -> float:
    result = invoke("eval", *args, "--format", "json", input=input)
    assert result.exit_code == 0, result.stderr
    return float(json.loads(result.stdout)["loss"])


# -- item 5: numpy.savetxt headers ------------------------------------------------------------


def header(k: int, delimiter: str = ",") -> str:
    return delimiter.join(["label", *(f"logit_{j}" for j in range(k))])


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".csv", {}),  # '# label,logit_0,...', numbers as %.18e
        (".csv", {"comments": "#", "fmt": "%.10g"}),
        (".tsv", {}),
        (".csv", {"header_lines": ["model: resnet50, epoch 3"]}),  # header='...\nlabel,...'
    ],
)
def test_numpy_savetxt_header(tmp_path: Path, suffix: str, options: dict) -> None:
    z, y = data()
    delimiter = "\t" if suffix == ".tsv" else ","
    extra = options.pop("header_lines", [])
    path = tmp_path / f"preds{suffix}"
    text = "\n".join([*extra, header(z.shape[1], delimiter)])
    np.savetxt(path, np.column_stack([y, z]), delimiter=delimiter, header=text, **options)
    assert path.read_text().startswith("#")
    written = np.loadtxt(path, delimiter=delimiter)  # the numbers as written, read by numpy
    want = expected(written[:, 1:], written[:, 0].astype(int))
    assert loss_of(path) == pytest.approx(want, rel=1e-12)
    lines = path.read_bytes()
    assert loss_of("-", "--input-format", suffix[1:], input=lines) == pytest.approx(want, rel=1e-12)


def test_comment_lines_before_a_header(tmp_path: Path) -> None:
    z, y = data(seed=1)
    buffer = io.StringIO()
    np.savetxt(buffer, np.column_stack([y, z]), delimiter=",", fmt="%.17g")
    path = tmp_path / "preds.csv"
    path.write_text("# exported by a tool\n# on a day\n" + header(4) + "\n" + buffer.getvalue())
    assert loss_of(path) == pytest.approx(expected(z, y), rel=1e-12)


def test_a_bad_value_after_comments_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_text("# a comment\n# label,logit_a,logit_b\na,1,2\nb,oops,3\n")
    result = invoke("eval", path)
    assert result.exit_code == 2
    assert "(in line 4)" in result.stderr.splitlines()[0]


def test_a_column_named_with_a_hash(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_text("#id,label,logit_a,logit_b\nr1,a,1,2\nr2,b,0,3\n")
    z = np.array([[1.0, 2.0], [0.0, 3.0]])
    assert loss_of(path, "--id", "#id") == pytest.approx(expected(z, np.array([0, 1])))


@pytest.mark.parametrize("fmt", ["%.18e", "%d", "%.4f"])
def test_no_header_is_said_to_be_data(tmp_path: Path, fmt: str) -> None:
    z, y = data()
    path = tmp_path / "preds.csv"
    np.savetxt(path, np.column_stack([y, np.round(z * 10)]), delimiter=",", fmt=fmt)
    for args, stdin in (((path,), None), (("-",), path.read_bytes())):
        result = invoke("eval", *args, input=stdin)
        assert result.exit_code == 2, result.stderr
        first, hint = result.stderr.splitlines()
        assert "the first line looks like data" in first
        assert "add a header" in first
        assert "header=" in hint
        assert "columns are" not in result.stderr


def test_column_numbers_as_names_are_a_header(tmp_path: Path) -> None:
    """A header 0,1,2 (a frame whose columns are numbered) is a header, not data."""
    path = tmp_path / "preds.csv"
    path.write_text("0,1,2\n0.2,0.3,0.5\n0.6,0.3,0.1\n")
    result = invoke("eval", path, "--format", "json")
    assert "looks like data" not in result.stderr


# -- item 7: JSON Lines on standard input ----------------------------------------------------


def jsonl(z: np.ndarray, y: np.ndarray) -> bytes:
    rows = [json.dumps({"label": int(t), "logits": s.tolist()}) for s, t in zip(z, y, strict=True)]
    return ("\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("wrap", ["plain", "blank lines first", "gzip", "zstd", "BOM"])
def test_json_lines_on_stdin_is_recognised(wrap: str) -> None:
    import gzip

    import pyarrow as pa

    z, y = data(seed=3)
    text = jsonl(z, y)
    if wrap == "blank lines first":
        text = b"\n\n   \n" + text
    elif wrap == "gzip":
        text = gzip.compress(text)
    elif wrap == "zstd":
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, "zstd") as out:
            out.write(text)
        text = sink.getvalue().to_pybytes()
    elif wrap == "BOM":
        text = b"\xef\xbb\xbf" + text
    assert loss_of("-", input=text) == pytest.approx(expected(z, y), rel=1e-12)


def test_stdin_told_csv_is_read_as_csv() -> None:
    z, y = data(seed=3)
    result = invoke("eval", "-", "--input-format", "csv", input=jsonl(z, y))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


# -- item 7: data frames, Arrow tables and streams in the Python API ---------------------------


def frame_columns(z: np.ndarray, y: np.ndarray) -> dict[str, object]:
    return {"label": y, **{f"logit_{j}": z[:, j] for j in range(z.shape[1])}}


def test_polars_data_frames() -> None:
    pl = pytest.importorskip("polars")
    import xent_cli

    z, y = data(seed=4)
    want = expected(z, y)
    assert xent_cli.evaluate(pl.DataFrame(frame_columns(z, y))).loss == pytest.approx(want)
    as_list = pl.DataFrame({"label": y, "logits": z.tolist()})  # a large_list column
    assert xent_cli.evaluate(as_list).loss == pytest.approx(want)
    as_array = as_list.with_columns(pl.col("logits").cast(pl.Array(pl.Float64, z.shape[1])))
    assert xent_cli.evaluate(as_array).loss == pytest.approx(want)
    names = pl.DataFrame(frame_columns(z, y)).with_columns(
        pl.col("label").map_elements(lambda v: f"c{v}", return_dtype=pl.String)
    )  # string (string_view) labels against the column names
    renamed = names.rename({f"logit_{j}": f"logit_c{j}" for j in range(z.shape[1])})
    assert xent_cli.evaluate(renamed).loss == pytest.approx(want)
    report = xent_cli.evaluate([as_list.head(10), as_list.tail(len(y) - 10)])
    assert report.n_rows == len(y)
    assert report.loss == pytest.approx(want)


def test_polars_misuse_is_a_clear_error() -> None:
    pl = pytest.importorskip("polars")
    import xent_cli

    frame = pl.DataFrame({"label": [0, 1], "logits": [[1.0, 2.0], [0.0, 3.0]]})
    with pytest.raises(xent_cli.XentError, match="not a table") as series:
        xent_cli.evaluate(frame["label"])
    assert "no such file" not in str(series.value)
    with pytest.raises(xent_cli.XentError, match="LazyFrame") as lazy:
        xent_cli.evaluate(frame.lazy())
    assert "collect" in (lazy.value.hint or "")


def test_arrow_tables_batches_and_c_streams() -> None:
    import pyarrow as pa

    import xent_cli

    z, y = data(seed=5)
    want = expected(z, y)
    table = pa.table(frame_columns(z, y))

    class OnlyCStream:  # any producer of the Arrow C stream interface
        def __arrow_c_stream__(self, requested_schema: object = None) -> object:
            return table.__arrow_c_stream__(requested_schema)

    for source in (table, table.to_batches()[0], table.to_reader(max_chunksize=7), OnlyCStream()):
        assert xent_cli.evaluate(source).loss == pytest.approx(want, rel=1e-12), source


def test_duckdb_relation() -> None:
    duckdb = pytest.importorskip("duckdb")
    import xent_cli

    relation = duckdb.sql(
        "select * from (values ('a', 1.0, 2.0), ('b', 0.0, 3.0), ('b', 2.0, 2.5)) "
        "t(label, logit_a, logit_b)"
    )
    z = np.array([[1.0, 2.0], [0.0, 3.0], [2.0, 2.5]])
    assert xent_cli.evaluate(relation).loss == pytest.approx(expected(z, np.array([0, 1, 1])))


def test_record_batch_reader_is_streamed() -> None:
    """Batches are drawn as they are scored, a few ahead at most: the stream is never read
    whole before the first is scored (and may be longer than memory)."""
    import pyarrow as pa

    import xent_cli

    z, y = data(n=50_000, seed=6)
    table = pa.table(frame_columns(z, y))
    drawn = 0
    leads: list[int] = []

    def batches():  # type: ignore[no-untyped-def]
        nonlocal drawn
        for batch in table.to_batches(max_chunksize=1000):
            drawn += 1
            yield batch

    reader = pa.RecordBatchReader.from_batches(table.schema, batches())
    scored = 0

    def progress(done: int, total: int | None) -> None:
        nonlocal scored
        scored += 1
        leads.append(drawn - scored)

    report = xent_cli.evaluate(reader, on_progress=progress)
    assert report.loss == pytest.approx(expected(z, y), rel=1e-12)
    assert scored == 50
    assert max(leads) <= 12, leads  # the kind's sample (10,000 rows) and the read-ahead
