"""Generate ``sample_data/lm_tokens.parquet``: real token log-probabilities of a small
language model, with no download and no GPU.

The model is a character-level trigram model (interpolated Lidstone estimates of
``P(c | two previous characters)``, ``P(c | previous)`` and ``P(c)``, weights 0.6/0.3/0.1,
``k = 0.1``) trained on the docstrings of some Python standard-library modules, and it is
evaluated on the docstrings of others: each evaluated module is one document, each character
one token. Every row is what a language-model evaluation dump holds: ``doc_id`` (the module),
``position``, ``token`` (the character), ``token_id`` (its code point), ``logprob`` (natural
log of the model's probability of that character, float32 as most dumps store it),
``n_bytes`` (its UTF-8 length), ``n_words`` (1 where a word starts) and ``top_logprobs``
(the model's five largest log-probabilities at that position). The text depends on the
Python version's docstrings, so the file is reproduced byte for byte by the same Python::

    python sample_data/make_lm_sample.py
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parent / "lm_tokens.parquet"
TRAIN = [
    "argparse", "collections", "csv", "dataclasses", "datetime", "decimal", "email",
    "fractions", "functools", "http.client", "inspect", "itertools", "logging", "os",
    "pathlib", "pickle", "random", "re", "shutil", "socket", "statistics", "string",
    "subprocess", "tarfile", "threading", "typing", "unittest", "urllib.parse", "zipfile",
]  # fmt: skip
EVALUATE = [
    "abc", "base64", "bisect", "calendar", "cmd", "codecs", "configparser", "contextlib",
    "copy", "difflib", "enum", "filecmp", "fnmatch", "getopt", "gettext", "glob", "gzip",
    "hashlib", "heapq", "hmac", "json", "keyword", "linecache", "locale", "operator",
    "pprint", "queue", "sched", "secrets", "shlex", "textwrap", "timeit", "uuid", "weakref",
]  # fmt: skip
MAX_CHARS = 1200  # per evaluated document
WEIGHTS = (0.6, 0.3, 0.1)
K = 0.1
TOP = 5


def text_of(name: str) -> str:
    """A module's docstring and its public functions' and classes' docstrings."""
    module = importlib.import_module(name)
    parts = [inspect.getdoc(module) or ""]
    for attribute in sorted(vars(module)):
        value = getattr(module, attribute)
        if attribute.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value) or inspect.isclass(value):
            parts.append(inspect.getdoc(value) or "")
    return "\n\n".join(p for p in parts if p)


def train(text: str) -> tuple[list[str], Counter, dict, dict]:
    vocabulary = sorted(set(text))
    unigram: Counter = Counter(text)
    bigram: dict = defaultdict(Counter)
    trigram: dict = defaultdict(Counter)
    padded = "\n\n" + text
    for i in range(2, len(padded)):
        bigram[padded[i - 1]][padded[i]] += 1
        trigram[padded[i - 2 : i]][padded[i]] += 1
    return vocabulary, unigram, bigram, trigram


def distribution(model: tuple, context: str) -> np.ndarray:
    """P(each vocabulary character | context) under the interpolated trigram model."""
    vocabulary, unigram, bigram, trigram = model
    v = len(vocabulary)
    total = sum(unigram.values())

    def lidstone(counts: Counter | None) -> np.ndarray:
        n = sum(counts.values()) if counts else 0
        seen = np.array([counts.get(c, 0) if counts else 0 for c in vocabulary], float)
        return (seen + K) / (n + K * v)

    p1 = np.array([unigram[c] for c in vocabulary], float) / total
    p2 = lidstone(bigram.get(context[-1]))
    p3 = lidstone(trigram.get(context))
    return WEIGHTS[0] * p3 + WEIGHTS[1] * p2 + WEIGHTS[2] * p1


def main() -> None:
    model = train("\n\n".join(text_of(name) for name in TRAIN))
    vocabulary = model[0]
    index = {c: i for i, c in enumerate(vocabulary)}
    columns: dict[str, list] = defaultdict(list)
    for name in EVALUATE:
        text = "".join(c for c in text_of(name) if c in index)[:MAX_CHARS]
        context = "\n\n"
        for position, char in enumerate(text):
            logp = np.log(distribution(model, context))
            top = np.sort(logp)[::-1][:TOP]
            columns["doc_id"].append(name)
            columns["position"].append(position)
            columns["token"].append(char)
            columns["token_id"].append(ord(char))
            columns["logprob"].append(float(logp[index[char]]))
            columns["n_bytes"].append(len(char.encode("utf-8")))
            columns["n_words"].append(int(not char.isspace() and context[-1].isspace()))
            columns["top_logprobs"].append([float(x) for x in top])
            context = context[-1] + char
    table = pa.table(
        {
            "doc_id": pa.array(columns["doc_id"], pa.string()),
            "position": pa.array(columns["position"], pa.int32()),
            "token": pa.array(columns["token"], pa.string()),
            "token_id": pa.array(columns["token_id"], pa.int32()),
            "logprob": pa.array(columns["logprob"], pa.float32()),
            "n_bytes": pa.array(columns["n_bytes"], pa.int8()),
            "n_words": pa.array(columns["n_words"], pa.int8()),
            "top_logprobs": pa.array(columns["top_logprobs"], pa.list_(pa.float32())),
        }
    )
    pq.write_table(table, OUT, compression="zstd", row_group_size=8192)
    nll = -np.array(columns["logprob"], float)
    print(f"{OUT.name}: {table.num_rows} tokens in {len(EVALUATE)} documents, "
          f"perplexity {math.exp(nll.mean()):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
