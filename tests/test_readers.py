"""Text inputs are cut into whole-line chunks and parsed in parallel: the cut must not matter.

Expected losses are computed here with ``math`` from the formula.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xent_cli.io import arrays
from xent_cli.io import text as readers

from .conftest import eval_json, invoke


class ShortReads(io.RawIOBase):
    """A stream that returns at most ``most`` bytes per read, as a pipe may."""

    def __init__(self, data: bytes, most: int) -> None:
        self._data = memoryview(data)
        self._most = most

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self._most, len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


line = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"x"))


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line, max_size=20),
    last=line,
    size=st.integers(1, 40),
    most=st.integers(1, 50),
    skip=st.booleans(),
)
def test_line_chunks_cover_the_text_exactly(lines, last, size, most, skip):
    """Pieces are whole lines, in order, with nothing lost or repeated, and counted right."""
    text = b"".join(x + b"\n" for x in lines) + last  # the last line may lack its line end
    pieces = list(readers._line_chunks(ShortReads(text, most), size, skip_first_line=skip))
    body = text.split(b"\n", 1)[1] if skip and b"\n" in text else (b"" if skip else text)
    assert b"".join(bytes(p) for p, _ in pieces) == body
    for i, (piece, count) in enumerate(pieces):
        assert len(piece) > 0
        is_last = i == len(pieces) - 1
        if not is_last:
            assert bytes(piece).endswith(b"\n")
        assert count == bytes(piece).count(b"\n") + (not bytes(piece).endswith(b"\n"))


ROWS = 300


def logits_csv(newline: str = "\n") -> tuple[str, float]:
    """A 3-class logits CSV and its mean loss, computed with math."""
    lines = ["label,logit_0,logit_1,logit_2"]
    total = 0.0
    for i in range(ROWS):
        z = [math.sin(i) * 3, math.cos(i * 0.7) * 2, (i % 7) - 3.0]
        label = i % 3
        lines.append(f"{label},{z[0]!r},{z[1]!r},{z[2]!r}")
        top = max(z)
        total += top + math.log(sum(math.exp(v - top) for v in z)) - z[label]
    return newline.join(lines) + newline, total / ROWS


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Cut text inputs into pieces of a few lines (the default is megabytes)."""
    monkeypatch.setattr(readers.TextSource, "_block_size", lambda self: 97)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.usefixtures("tiny_chunks")
def test_many_small_chunks_give_the_exact_loss(write, newline):
    text, expected = logits_csv(newline)
    path = write("many.csv", text)
    report = json.loads(invoke("eval", path, "--format", "json").stdout)
    assert report["n_rows"] == ROWS
    assert report["loss"] == pytest.approx(expected, rel=1e-13)


@pytest.mark.usefixtures("tiny_chunks")
def test_stdin_in_small_chunks(write):
    text, expected = logits_csv()
    result = invoke("eval", "-", "--format", "json", input=text.encode())
    assert json.loads(result.stdout)["loss"] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("bad", ["1,0.5,oops,0.1", "1,0.5", "1,0.5,0.25,0.125,9"])
@pytest.mark.parametrize("chunks", ["tiny", "default"])
def test_error_names_the_file_line(write, monkeypatch, bad, chunks):
    """A value that is not a number, or a row of the wrong width, is reported with its line
    in the file, whichever chunk it falls in (Arrow's own message names no row)."""
    if chunks == "tiny":
        monkeypatch.setattr(readers.TextSource, "_block_size", lambda self: 97)
    text, _ = logits_csv()
    lines = text.splitlines()
    lines[200] = bad  # line 201 of the file (the header is line 1)
    lines.insert(150, "")  # a blank line before it: line 202 now
    result = invoke("eval", write("bad.csv", "\n".join(lines) + "\n"))
    assert result.exit_code == 2
    assert "(in line 202)" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "spelling", ["", "NA", "null", "N/A", "NULL", "#N/A", "nan", "NaN", "-nan", "NAN"]
)
def test_every_missing_value_spelling_is_a_non_finite_row(write, spelling):
    """Arrow's null spellings and the NaN spellings all mean "no number" in a score column."""
    text = f"label,logit_a,logit_b\na,2.0,0.0\nb,{spelling},1.0\nb,0.0,1.5\n"
    report = json.loads(invoke("eval", write("na.csv", text), "--format", "json").stdout)
    codes = {w["code"]: w for w in report["warnings"]}
    assert codes["non-finite"]["rows"] == [1]
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.5))) / 2
    assert report["loss"] == pytest.approx(expected, rel=1e-13)


@pytest.mark.usefixtures("tiny_chunks")
def test_labels_that_stop_looking_like_integers(write):
    """Labels are read as integers while they look like integers; a chunk with "NA" or "2.0"
    among them is read as text instead, with the same meaning."""
    text, _ = logits_csv()
    lines = text.splitlines()
    rows = [line.split(",") for line in lines[1:]]
    rows[250][0] = "NA"  # missing: skipped with a warning
    rows[260][0] = f"{float(rows[260][0])!r}"  # 2.0 is class 2
    body = "\n".join(",".join(r) for r in rows)
    report = json.loads(
        invoke("eval", write("mixed.csv", lines[0] + "\n" + body + "\n"), "--format", "json").stdout
    )
    codes = {w["code"]: w for w in report["warnings"]}
    assert codes["missing-label"]["rows"] == [250]
    total = 0.0
    for i, row in enumerate(rows):
        if i != 250:
            z = [float(v) for v in row[1:]]
            top = max(z)
            total += top + math.log(sum(math.exp(v - top) for v in z)) - z[int(float(row[0]))]
    assert report["n_evaluated"] == ROWS - 1
    assert report["loss"] == pytest.approx(total / (ROWS - 1), rel=1e-13)


@pytest.mark.parametrize("block", [None, 4096])
@pytest.mark.parametrize("bad", ["7,0.5,oops,0.1", "7,0.5", '7,0.5,"oo,ps",0.1'])
def test_error_past_the_first_megabyte_names_its_line(write, monkeypatch, bad, block):
    """Past the part read to learn the columns, errors come from the parallel chunks."""
    if block:
        monkeypatch.setattr(readers.TextSource, "_block_size", lambda self: block)
    lines = ["label,logit_0,logit_1,logit_2"]
    lines += [f"{i % 3},{i % 7}.25,{i % 5}.5,{i % 11}.125" for i in range(60_000)]  # ~1.4 MB
    lines[50_000] = bad  # line 50001
    result = invoke("eval", write("big.csv", "\n".join(lines) + "\n"))
    assert result.exit_code == 2
    assert "(in line 50001)" in result.stderr, result.stderr


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.text("0123456789", min_size=1, max_size=18), min_size=1, max_size=40),
    start=st.integers(0, 3),
)
def test_digit_strings_decode_like_int(values, start):
    """Text of 1 to 18 digits decodes to the integer Python reads (also from a sliced array)."""
    array = pa.array(["9"] * start + values, pa.binary()).slice(start)
    assert arrays.digit_strings(array).tolist() == [int(v) for v in values]


@pytest.mark.parametrize(
    "values",
    [["1", ""], ["1", "-1"], ["+1"], [" 1"], ["1 "], ["1.0"], ["1", None], ["1" * 19], ["a"], []],
)
def test_digit_strings_refuse_anything_but_digits(values):
    """Anything Arrow's integer parse might read differently is left to the full parse."""
    assert arrays.digit_strings(pa.array(values, pa.binary())) is None


def _zstd(data: bytes) -> bytes:
    return pa.Codec("zstd").compress(data, asbytes=True)


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, _zstd], ids=["gz", "bz2", "zst"])
def test_compressed_standard_input_is_recognised_by_its_signature(compress):
    """A pipe has no file name to say it is compressed: its first bytes do."""
    text, expected = logits_csv()
    report = eval_json("-", input=compress(text.encode()))
    assert report["n_rows"] == ROWS
    assert report["loss"] == pytest.approx(expected, rel=1e-13)


def test_text_that_starts_like_a_signature_stays_text():
    text, expected = logits_csv()
    text = text.replace("label,", "BZh_label,", 1)  # "BZh" + a digit would be bzip2
    report = eval_json("-", "--label", "BZh_label", input=text.encode())
    assert report["loss"] == pytest.approx(expected, rel=1e-13)


def test_truncated_compressed_standard_input_is_one_error_line():
    data = gzip.compress(logits_csv()[0].encode())
    result = invoke("eval", "-", input=data[: len(data) // 2])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("xent: error: <stdin>: ")


def _parquet_bytes(text: str) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa_csv.read_csv(pa.BufferReader(text.encode())), sink, row_group_size=70)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize("option", [[], ["--input-format", "parquet"]], ids=["detected", "told"])
def test_parquet_on_standard_input(option):
    text, expected = logits_csv()
    report = eval_json("-", *option, input=_parquet_bytes(text))
    assert report["n_rows"] == ROWS
    assert report["loss"] == pytest.approx(expected, rel=1e-13)


def test_parquet_on_standard_input_read_as_csv_when_told_says_so():
    result = invoke("eval", "-", "--input-format", "csv", input=_parquet_bytes(logits_csv()[0]))
    assert result.exit_code == 2
    assert "this is a Parquet file, not CSV text" in result.stderr


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_tab_separated_text_read_as_csv_names_the_fix_that_applies(write, source):
    """A file can be renamed to .tsv; standard input can only be told its format."""
    text = "label\tp_cat\tp_dog\ncat\t0.9\t0.1\n"
    if source == "file":
        result = invoke("eval", write("p.csv", text))
    else:
        result = invoke("eval", "-", input=gzip.compress(text.encode()))
    assert result.exit_code == 2
    hint = result.stderr.splitlines()[-1]
    assert hint.endswith("pass --input-format tsv")
    assert ("name it .tsv" in hint) == (source == "file")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file limits")
@pytest.mark.parametrize("kind", ["tokens", "classes", "arrow"])
def test_a_directory_of_more_files_than_open_files_allowed(tmp_path: Path, kind: str):
    """A file on disk holds no open file between passes: 200 Parquet files (tokens and
    classes) or Arrow IPC files read with a limit of 64 open files (macOS starts at 256,
    many Linux shells at 1024)."""
    import resource

    import pyarrow.feather as feather

    folder = tmp_path / "shards"
    folder.mkdir()
    rng = np.random.default_rng(5)
    total, count = 0.0, 0
    for k in range(200):
        if kind == "classes":
            table = pa.table({"label": rng.integers(0, 2, 50), "prob": rng.random(50)})
        else:
            logprob = -rng.gamma(2.0, 1.0, 50)
            table = pa.table({"doc_id": k * 50 + np.arange(50) // 5, "logprob": logprob})
            total, count = total - float(np.sum(logprob)), count + 50
        if kind == "arrow":
            feather.write_feather(table, folder / f"shard{k:03d}.arrow")
        else:
            pq.write_table(table, folder / f"shard{k:03d}.parquet")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))

    done = subprocess.run(
        [sys.executable, "-m", "xent_cli", "eval", str(folder), "-f", "json"],
        capture_output=True, text=True, preexec_fn=limited,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n_rows"] == 10_000
    if kind != "classes":
        assert report["loss"] == pytest.approx(total / count, rel=1e-12)
