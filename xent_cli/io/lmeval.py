"""lm-evaluation-harness ``--log_samples`` files (``samples_<task>_<date>.jsonl``): one JSON
object per document, whose ``word_perplexity``, ``byte_perplexity`` and ``bits_per_byte``
each hold ``[loglikelihood, count]`` (the document's summed natural-log likelihood and its
words or UTF-8 bytes). Each object is one row: ``doc_id, logprob, n_words, n_bytes``."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from xent_cli.io.base import ROWS_ARE
from xent_cli.io.records import RecordError, RecordFormat, Row, get, number

METRICS = {"word_perplexity": "n_words", "byte_perplexity": "n_bytes", "bits_per_byte": "n_bytes"}
SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("logprob", pa.float64()),
        ("n_words", pa.int64()),
        ("n_bytes", pa.int64()),
    ],
    metadata={ROWS_ARE: b"documents"},
)


def is_sample(obj: Any) -> bool:
    """An lm-eval sample: ``doc_id`` and at least one perplexity metric pair."""
    return isinstance(obj, dict) and "doc_id" in obj and any(k in obj for k in METRICS)


def rows(obj: Any, line: int) -> list[Row]:
    doc = get(obj, "doc_id", "the sample")
    row: Row = {"doc_id": str(doc), "logprob": None, "n_words": None, "n_bytes": None}
    found = False
    for key, unit in METRICS.items():
        if not isinstance(obj, dict) or key not in obj:
            continue
        pair = obj[key]
        if not (isinstance(pair, list) and len(pair) == 2):
            raise RecordError(key, "expected [loglikelihood, count]")
        loglik = number(pair[0], f"{key}[0]")
        count = number(pair[1], f"{key}[1]")
        if count != int(count):
            raise RecordError(f"{key}[1]", f"the count {count:g} is not a whole number")
        if row["logprob"] is not None and row["logprob"] != loglik:
            raise RecordError(key, "its loglikelihood differs from the other metrics' one")
        if row[unit] is not None and row[unit] != int(count):
            raise RecordError(key, f"its {unit[2:]} count differs from the other metrics' one")
        row["logprob"], row[unit] = loglik, int(count)
        found = True
    if not found:
        raise RecordError("the sample", f"none of {', '.join(METRICS)}")
    return [row]


FORMAT = RecordFormat("lm-eval", SCHEMA, is_sample, rows)
