"""Inputs from the language-model world: Arrow IPC files and streams (Feather v2, Hugging
Face ``datasets`` shards), lm-evaluation-harness ``--log_samples`` files and OpenAI-style
logprobs responses, detected by name or content; errors name the line and the key."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pytest

import xent_cli
from xent_cli.errors import XentError
from xent_cli.io.sources import open_source
from xent_cli.options import InputFormat

from .conftest import SAMPLES, eval_json, invoke


def _rows(path: Path | str, fmt: InputFormat = InputFormat.auto) -> list[dict]:
    source = open_source(str(path), fmt)
    return [r for b in source.batches(source.schema.names, {}) for r in b.to_pylist()]


@pytest.fixture(scope="module")
def digits() -> pa.Table:
    return pacsv.read_csv(SAMPLES / "digits_logits.csv")


@pytest.mark.parametrize("kind", ["file", "stream", "feather", "feather-lz4"])
def test_arrow_ipc_gives_the_csv_report(tmp_path, digits, kind):
    path = tmp_path / ("d.feather" if kind.startswith("feather") else "d.arrow")
    if kind == "file":
        with ipc.new_file(path, digits.schema) as writer:
            for batch in digits.to_batches(max_chunksize=100):
                writer.write_batch(batch)
    elif kind == "stream":  # what Hugging Face datasets writes (data-00000-of-00001.arrow)
        with ipc.new_stream(path, digits.schema) as writer:
            writer.write_table(digits, max_chunksize=77)
    else:
        feather.write_feather(digits, path, compression="lz4" if "lz4" in kind else None)
    report = eval_json(path)
    expected = eval_json(SAMPLES / "digits_logits.csv")
    report.pop("files")
    expected.pop("files")
    assert report == expected


def test_arrow_by_input_format_and_from_stdin(tmp_path, digits):
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, digits.schema) as writer:
        writer.write_table(digits)
    data = sink.getvalue().to_pybytes()
    odd = tmp_path / "preds.bin"
    odd.write_bytes(data)
    expected = eval_json(SAMPLES / "digits_logits.csv")
    for report in (eval_json(odd, "--input-format", "arrow"), eval_json("-", input=data)):
        assert report["loss"] == expected["loss"]
        assert report["classes"] == expected["classes"]


def test_not_arrow_is_one_line(tmp_path):
    path = tmp_path / "x.arrow"
    path.write_bytes(b"label,logit\n1,0.5\n")
    result = invoke("eval", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"xent: error: {path}: not an Arrow IPC file or stream")


def _lm_eval_lines(samples: list[tuple[float, int, int]]) -> str:
    return "".join(
        json.dumps(
            {
                "doc_id": i,
                "doc": {"page": f"text {i}"},
                "target": "",
                "arguments": [[f"text {i}", ""]],
                "resps": [[ll]],
                "filtered_resps": [ll],
                "word_perplexity": [ll, words],
                "byte_perplexity": [ll, n_bytes],
                "bits_per_byte": [ll, n_bytes],
            }
        )
        + "\n"
        for i, (ll, words, n_bytes) in enumerate(samples)
    )


def test_lm_eval_samples_are_detected_by_content(tmp_path):
    path = tmp_path / "samples_wikitext_2026-12-01T10-00-00.jsonl"
    path.write_text(_lm_eval_lines([(-120.5, 30, 150), (-300.25, 80, 410)]))
    assert _rows(path) == [
        {"doc_id": "0", "logprob": -120.5, "n_words": 30, "n_bytes": 150},
        {"doc_id": "1", "logprob": -300.25, "n_words": 80, "n_bytes": 410},
    ]
    compressed = tmp_path / "samples.jsonl.gz"
    compressed.write_bytes(gzip.compress(path.read_bytes()))
    assert _rows(compressed) == _rows(path)
    named = tmp_path / "anything.txt"
    named.write_text(path.read_text())
    assert _rows(named, InputFormat.lm_eval) == _rows(path)
    # a row is a whole document: exp(its log-likelihood) is no token's probability
    assert xent_cli.evaluate(path).to_dict()["mean_p_true"] is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"doc_id": 0, "word_perplexity": [-1.0]}, "line 2: word_perplexity: expected [loglik"),
        ({"doc_id": 0, "word_perplexity": [-1.0, 2.5]}, "line 2: word_perplexity[1]: the count"),
        ({"doc_id": 0, "word_perplexity": ["x", 2]}, "line 2: word_perplexity[0]: expected a n"),
        (
            {"doc_id": 0, "word_perplexity": [-1.0, 2], "byte_perplexity": [-2.0, 9]},
            "line 2: byte_perplexity: its loglikelihood differs",
        ),
        ({"word_perplexity": [-1.0, 2]}, "line 2: the sample: no key 'doc_id'"),
    ],
)
def test_lm_eval_errors_name_the_line_and_key(tmp_path, line, message):
    path = tmp_path / "samples.jsonl"
    path.write_text(_lm_eval_lines([(-1.0, 1, 4)]) + json.dumps(line) + "\n")
    with pytest.raises(XentError) as error:
        _rows(path)
    assert str(error.value).startswith(f"{path}: {message}")


CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!"},
            "logprobs": {
                "content": [
                    {
                        "token": "Hello",
                        "logprob": -0.3,
                        "bytes": [72, 101, 108, 108, 111],
                        "top_logprobs": [
                            {"token": "Hello", "logprob": -0.3, "bytes": [72]},
                            {"token": "Hi", "logprob": -1.5, "bytes": [72, 105]},
                        ],
                    },
                    {
                        "token": "é",
                        "logprob": -2.0,
                        "bytes": [195, 169],
                        "top_logprobs": [{"token": ".", "logprob": -0.5, "bytes": [46]}],
                    },
                ]
            },
        }
    ],
}
COMPLETION = {
    "id": "cmpl-2",
    "object": "text_completion",
    "choices": [
        {
            "index": 0,
            "text": "The cat sat",
            "logprobs": {
                "tokens": ["The", " cat", " sat"],
                "token_logprobs": [None, -4.0, -1.25],
                "top_logprobs": [None, {" cat": -4.0, " dog": -1.0}, {" sat": -1.25}],
                "text_offset": [0, 3, 7],
            },
        },
        {
            "index": 1,
            "text": "A",
            "logprobs": {"tokens": ["A"], "token_logprobs": [-0.7], "top_logprobs": None},
        },
    ],
}


def test_openai_chat_and_completions(tmp_path):
    path = tmp_path / "responses.jsonl"
    path.write_text(json.dumps(CHAT) + "\n\n" + json.dumps(COMPLETION) + "\n")
    rows = _rows(path)
    assert [(r["doc_id"], r["position"], r["token"], r["logprob"]) for r in rows] == [
        ("chatcmpl-1#0", 0, "Hello", -0.3),
        ("chatcmpl-1#0", 1, "é", -2.0),
        ("cmpl-2#0", 1, " cat", -4.0),  # the leading null (echo) is not a token
        ("cmpl-2#0", 2, " sat", -1.25),
        ("cmpl-2#1", 0, "A", -0.7),
    ]
    assert [r["n_bytes"] for r in rows] == [5, 2, 4, 4, 1]  # from bytes, else UTF-8
    assert [r["top_logprobs"] for r in rows] == [[-0.3, -1.5], [-0.5], [-4.0, -1.0], [-1.25], None]


def test_openai_from_stdin(tmp_path):
    data = json.dumps(CHAT) + "\n"
    path = tmp_path / "r.jsonl"
    path.write_text(data)
    from xent_cli.io import sources

    class Stdin:
        buffer = __import__("io").BytesIO(data.encode())

    original = sources.sys.stdin
    sources.sys.stdin = Stdin()  # type: ignore[assignment]
    try:
        rows = _rows("-")
    finally:
        sources.sys.stdin = original
    assert rows == _rows(path)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ({"id": "a", "choices": [{"logprobs": None}]}, "choices[0].logprobs: is null"),
        (
            {"id": "a", "choices": [{"logprobs": {"content": [{"token": "x"}]}}]},
            "choices[0].logprobs.content[0]: no key 'logprob'",
        ),
        (
            {"id": "a", "choices": [{"logprobs": {"tokens": ["a", "b"], "token_logprobs": [-1]}}]},
            "choices[0].logprobs: 2 tokens but 1 token_logprobs",
        ),
        (
            {"id": "a", "choices": [{"logprobs": {"content": [{"token": "x", "logprob": "?"}]}}]},
            "choices[0].logprobs.content[0].logprob: expected a number",
        ),
    ],
)
def test_openai_errors_name_the_line_and_key(tmp_path, response, message):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(CHAT) + "\n" + json.dumps(response) + "\n")
    with pytest.raises(XentError) as error:
        _rows(path)
    assert str(error.value).startswith(f"{path}: line 2: {message}")


def test_not_json_names_the_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(CHAT) + "\n{oops\n")
    with pytest.raises(XentError) as error:
        _rows(path)
    assert str(error.value).startswith(f"{path}: line 2: not JSON")


def test_plain_jsonl_stays_plain(tmp_path):
    """A classifier's JSON Lines (no doc_id + perplexity, no choices) is read as before."""
    report = eval_json(SAMPLES / "digits_logits.jsonl")
    assert report["n_rows"] == 540
    assert math.isfinite(report["loss"])
