"""Golden outputs: the rendered reports of the sample files, byte for byte, but for the last
bits of full-precision numbers.

The numbers in them are checked independently in ``test_reference.py``; these files pin the
layout. After an intended change, regenerate and review the diff:
``XENT_UPDATE_GOLDEN=1 pytest tests/test_golden.py``.

Why full-precision numbers may differ in their last bits, and no more: xent's sums are exact
and rounded once, so they are the same for any order, batching, thread count or BLAS kernel
(``test_reproducible.py``). But each row's loss comes from numpy's ``exp``/``log``/``log1p``,
whose SIMD paths differ between CPUs (AVX-512 vs AVX2 vs libm) by up to a few ulp per row. A
golden file written on one x86-64 machine must pass on another, so a number printed with 15 or
more significant digits (``repr``) may differ by ``ULP_SLACK`` units in the last place; numbers
printed short (``0.4123``) and all other text must match exactly.
"""

from __future__ import annotations

import math
import os
import re

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
# A sum of non-negative terms is off by at most its worst term's relative error (plus its one
# rounding), and a mean or share adds one rounding more: a few ulp per row stay a few ulp.
ULP_SLACK = 8
NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def _full_precision(token: str) -> bool:
    digits = token.split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(digits) >= 15


def same_but_last_bits(actual: str, expected: str) -> bool:
    """Equal text, where full-precision numbers may differ by ULP_SLACK ulp."""
    if actual == expected:
        return True
    a_parts, e_parts = NUMBER.split(actual), NUMBER.split(expected)
    a_nums, e_nums = NUMBER.findall(actual), NUMBER.findall(expected)
    if a_parts != e_parts or len(a_nums) != len(e_nums):
        return False
    for a, e in zip(a_nums, e_nums, strict=True):
        if a == e:
            continue
        if not (_full_precision(a) and _full_precision(e)):
            return False
        if abs(float(a) - float(e)) > ULP_SLACK * math.ulp(float(e)):
            return False
    return True


def test_tolerance_is_narrow():
    """The comparison itself: last bits of repr numbers pass, anything else fails."""
    base = "loss,0.6931471805599453\n"
    assert same_but_last_bits("loss,0.6931471805599454\n", base)
    assert not same_but_last_bits("loss,0.6931471805600453\n", base)  # 1e-13 off
    assert not same_but_last_bits("loss,0.6932\n", "loss,0.6931\n")  # short numbers: exact
    assert not same_but_last_bits("loss 0.6931471805599453\n", base)  # the text around


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
    expected = path.read_text(encoding="utf-8")
    assert same_but_last_bits(text, expected), f"{text}\n--- expected ---\n{expected}"
    assert (SAMPLES / sample).exists()
