"""Golden outputs: the rendered reports of the sample files, byte for byte.

The numbers in them are checked independently in ``test_reference.py``; these files pin the
layout. After an intended change, regenerate and review the diff:
``XENT_UPDATE_GOLDEN=1 pytest tests/test_golden.py``.
"""

from __future__ import annotations

import os

import pytest

from .conftest import ROOT, SAMPLES, invoke

GOLDEN = ROOT / "tests" / "golden"
CASES = {
    "digits_logits.table": ("digits_logits.csv", []),
    "iris_probs.markdown": ("iris_probs.parquet", ["--format", "markdown"]),
    "breast_cancer_binary.csv": ("breast_cancer_binary.csv", ["--format", "csv", "--base", "2"]),
    "digits_multilabel.table": ("digits_multilabel.csv", ["--label", "y_*"]),
    "iris_problems.table": ("iris_problems.csv", []),
    "digits_rows_top5.table": ("digits_logits.csv", ["--id", "id", "--top", "5", "-f", "table"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_output(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # the files name the samples by their relative path
    sample, args = CASES[name]
    command = "rows" if "rows" in name else "eval"
    result = invoke(command, f"sample_data/{sample}", *args)
    assert result.exit_code == 0, result.output
    text = f"$ xent {command} sample_data/{sample} {' '.join(args)}\n{result.stdout}"
    if result.stderr:
        text += f"--- stderr ---\n{result.stderr}"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("XENT_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    assert (SAMPLES / sample).exists()
