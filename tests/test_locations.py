"""Local FILE forms: directories searched recursively (hive folders included, markers and
hidden files ignored), quoted globs, file:// URIs."""

from __future__ import annotations

import json
import shutil

from .conftest import SAMPLES, invoke


def _spark_output(tmp_path):
    """What Spark writes: split=.../part-*.csv, _SUCCESS, .crc files, a _temporary folder."""
    out = tmp_path / "spark"
    for split in ("test", "train"):
        folder = out / f"split={split}"
        folder.mkdir(parents=True)
        shutil.copy(SAMPLES / "digits_logits.csv", folder / "part-00000.csv")
        (folder / "_SUCCESS").write_text("")
        (folder / ".part-00000.csv.crc").write_bytes(b"\x00crc")
    (out / "split=test" / "_temporary").mkdir()
    shutil.copy(SAMPLES / "iris_probs.parquet", out / "split=test" / "_temporary" / "p.parquet")
    (out / ".hidden.csv").write_text("junk,\n")
    return out


def _files(*args):
    result = invoke("eval", *args, "-f", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["files"]


def test_a_directory_is_searched_recursively_in_sorted_order(tmp_path):
    out = _spark_output(tmp_path)
    assert _files(out) == [
        str(out / "split=test" / "part-00000.csv"),
        str(out / "split=train" / "part-00000.csv"),
    ]


def test_a_quoted_glob(tmp_path):
    out = _spark_output(tmp_path)
    assert _files(f"{out}/split=t*/part-*.csv") == [
        str(out / "split=test" / "part-00000.csv"),
        str(out / "split=train" / "part-00000.csv"),
    ]
    assert _files(f"{out}/**/part-*.csv")[0].endswith("split=test/part-00000.csv")


def test_a_glob_matching_nothing(tmp_path):
    result = invoke("eval", f"{tmp_path}/*.csv")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"xent: error: {tmp_path}/*.csv: no file matches"


def test_file_uri(tmp_path):
    path = tmp_path / "d.csv"
    shutil.copy(SAMPLES / "digits_logits.csv", path)
    assert _files(f"file://{path}") == [str(path)]
