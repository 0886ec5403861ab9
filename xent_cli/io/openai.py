"""OpenAI-style responses with log-probabilities, one JSON object per line (the OpenAI API
and vLLM's OpenAI-compatible server write both shapes):

- chat completions: ``choices[i].logprobs.content[j]`` = ``{token, logprob, bytes,
  top_logprobs: [{token, logprob, bytes}, ...]}``;
- completions: ``choices[i].logprobs`` = ``{tokens, token_logprobs, top_logprobs}``, where a
  leading ``null`` log-probability (the first prompt token under ``echo``) is skipped and
  ``top_logprobs[j]`` is a ``{token: logprob}`` object.

One row per token: ``doc_id`` (the response ``id`` and the choice index, ``id#0``; without an
``id`` the line number), ``position``, ``token``, ``logprob``, ``n_bytes`` (from ``bytes``,
else the token's UTF-8 length) and ``top_logprobs`` (the top-k log-probabilities, a list)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from xent_cli.io.records import RecordError, RecordFormat, Row, get, number

SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("position", pa.int64()),
        ("token", pa.string()),
        ("logprob", pa.float64()),
        ("n_bytes", pa.int64()),
        ("top_logprobs", pa.list_(pa.float64())),
    ]
)


def is_response(obj: Any) -> bool:
    """A response whose first choice carries ``logprobs`` (chat or completions)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
        return False
    choices = obj["choices"]
    return bool(choices) and isinstance(choices[0], dict) and "logprobs" in choices[0]


def rows(obj: Any, line: int) -> list[Row]:
    choices = get(obj, "choices", "the response")
    if not isinstance(choices, list):
        raise RecordError("choices", "expected a list")
    response = obj.get("id")
    out: list[Row] = []
    for i, choice in enumerate(choices):
        where = f"choices[{i}]"
        index = choice.get("index", i) if isinstance(choice, dict) else i
        doc = f"{response}#{index}" if response is not None else f"line {line}#{index}"
        logprobs = get(choice, "logprobs", where)
        if logprobs is None:
            raise RecordError(f"{where}.logprobs", "is null (ask for logprobs in the request)")
        if isinstance(logprobs, dict) and "content" in logprobs:
            out += _chat(logprobs["content"], doc, f"{where}.logprobs.content")
        else:
            out += _completion(logprobs, doc, f"{where}.logprobs")
    return out


def _chat(content: Any, doc: str, where: str) -> list[Row]:
    if not isinstance(content, list):
        raise RecordError(where, "expected a list of tokens")
    out = []
    for j, entry in enumerate(content):
        at = f"{where}[{j}]"
        token = get(entry, "token", at)
        logprob = number(get(entry, "logprob", at), f"{at}.logprob")
        raw = entry.get("bytes")
        n_bytes = len(raw) if isinstance(raw, list) else len(str(token).encode("utf-8"))
        top = entry.get("top_logprobs")
        tops = None
        if top:
            if not isinstance(top, list):
                raise RecordError(f"{at}.top_logprobs", "expected a list")
            tops = [
                number(get(t, "logprob", f"{at}.top_logprobs[{k}]"), f"{at}.top_logprobs[{k}]")
                for k, t in enumerate(top)
            ]
        out.append(_row(doc, j, token, logprob, n_bytes, tops))
    return out


def _completion(logprobs: Any, doc: str, where: str) -> list[Row]:
    tokens = get(logprobs, "tokens", where)
    values = get(logprobs, "token_logprobs", where)
    if not (isinstance(tokens, list) and isinstance(values, list)):
        raise RecordError(where, "tokens and token_logprobs must be lists")
    if len(tokens) != len(values):
        raise RecordError(
            where, f"{len(tokens)} tokens but {len(values)} token_logprobs (ragged lists)"
        )
    top = logprobs.get("top_logprobs") or None
    if top is not None and (not isinstance(top, list) or len(top) != len(tokens)):
        raise RecordError(f"{where}.top_logprobs", "expected one entry per token")
    out = []
    for j, (token, value) in enumerate(zip(tokens, values, strict=True)):
        if value is None and j == 0:
            continue  # the first prompt token under echo: no log-probability
        logprob = number(value, f"{where}.token_logprobs[{j}]")
        tops = None
        if top is not None and top[j] is not None:
            entry = top[j]
            if not isinstance(entry, dict):
                raise RecordError(f"{where}.top_logprobs[{j}]", "expected {token: logprob}")
            tops = [number(v, f"{where}.top_logprobs[{j}]") for v in entry.values()]
        out.append(_row(doc, j, token, logprob, len(str(token).encode("utf-8")), tops))
    return out


def _row(doc: str, position: int, token: Any, logprob: float, n_bytes: int, top: Any) -> Row:
    return {
        "doc_id": doc,
        "position": position,
        "token": str(token),
        "logprob": logprob,
        "n_bytes": n_bytes,
        "top_logprobs": top,
    }


FORMAT = RecordFormat("openai", SCHEMA, is_response, rows)
