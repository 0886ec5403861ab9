"""``xent compare`` of language-model token files: pairing by document and position, by id,
by row order and per document; the interval by documents (cluster t), computed here with
numpy and scipy.stats on the same rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats

from .conftest import invoke


def _tokens(seed: int = 0, docs: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(docs):
        for pos in range(int(rng.integers(5, 40))):
            rows.append({"doc_id": f"d{d:02d}", "position": pos,
                         "token_id": int(rng.integers(0, 50)),
                         "logprob": -float(rng.gamma(2.0, 1.0) + 0.2 * (d % 3)),
                         "n_bytes": int(rng.integers(1, 6))})  # fmt: skip
    return pd.DataFrame(rows)


def _candidate(base: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cand = base.copy()
    cand["logprob"] = np.minimum(base["logprob"] + rng.normal(0, 0.3, len(base)), 0.0)
    return cand


def _write(frame: pd.DataFrame, path: Path) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def _json(*args) -> tuple[int, dict]:
    result = invoke("compare", *args, "-f", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _cluster(base: pd.DataFrame, cand: pd.DataFrame, unit: str | None = None):
    """delta, se and df of the cluster interval from pandas group sums (per unit column)."""
    lb, lc = -base["logprob"].to_numpy(), -cand["logprob"].to_numpy()
    u = np.ones(len(base)) if unit is None else base[unit].to_numpy(float)
    frame = pd.DataFrame({"doc": base["doc_id"], "d": lc - lb, "u": u, "lb": lb, "lc": lc})
    sums = frame.groupby("doc").sum()
    r = sums["d"].sum() / sums["u"].sum()
    count = len(sums)
    se = math.sqrt(count / (count - 1) * ((sums["d"] - r * sums["u"]) ** 2).sum()) / sums["u"].sum()
    return r, se, count - 1, sums


def test_paired_tokens_by_document_and_position(tmp_path):
    base = _tokens()
    cand = _candidate(base)
    b = _write(base, tmp_path / "b.parquet")
    c = _write(cand.sample(frac=1.0, random_state=3), tmp_path / "c.parquet")  # any order
    code, report = _json(b, c)
    assert code == 0
    assert report["pair_by"] == "token"
    delta, se, df, sums = _cluster(base, cand)
    assert report["delta"] == pytest.approx(delta, rel=1e-10)
    assert report["ci"]["method"] == "cluster-t"
    assert report["ci"]["se"] == pytest.approx(se, rel=1e-9)
    half = scipy.stats.t.ppf(0.975, df) * se
    assert report["ci"]["low"] == pytest.approx(delta - half, rel=1e-9)
    assert report["ci"]["high"] == pytest.approx(delta + half, rel=1e-9)
    p = 2 * scipy.stats.t.sf(abs(delta / se), df)
    assert report["test"]["p_value"] == pytest.approx(p, rel=1e-8)
    assert report["perplexity_ratio"] == pytest.approx(math.exp(delta), rel=1e-12)
    lb, lc = -base["logprob"].to_numpy(), -cand["logprob"].to_numpy()
    assert report["correlation"] == pytest.approx(np.corrcoef(lb, lc)[0, 1], rel=1e-9)
    docs = report["documents"]
    rate_b, rate_c = sums["lb"] / sums["u"], sums["lc"] / sums["u"]
    assert docs["count"] == len(sums)
    assert docs["candidate_better"] == pytest.approx((rate_c < rate_b).mean())
    worst = (rate_c - rate_b).sort_values(ascending=False)
    assert [d["id"] for d in docs["worst"][:3]] == list(worst.index[:3])
    assert docs["worst"][0]["delta"] == pytest.approx(worst.iloc[0], rel=1e-9)
    assert "distribution" not in report


def test_row_order_gives_the_same_figures(tmp_path):
    base = _tokens(2)
    cand = _candidate(base, 3)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, by_token = _json(b, c)
    _, by_row = _json(b, c, "--pair-by", "row")
    assert by_row["pair_by"] == "row"
    for key in ("delta", "ci", "correlation", "documents", "perplexity_ratio"):
        assert by_row[key] == by_token[key], key


def test_without_documents_the_paired_t_over_tokens(tmp_path):
    base = _tokens(4).drop(columns=["doc_id"])
    cand = _candidate(base, 5)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, report = _json(b, c)
    assert report["pair_by"] == "row"
    assert report["ci"]["method"] == "t"
    lb, lc = -base["logprob"].to_numpy(), -cand["logprob"].to_numpy()
    test = scipy.stats.ttest_rel(lc, lb)
    assert report["delta"] == pytest.approx((lc - lb).mean(), rel=1e-10)
    assert report["test"]["p_value"] == pytest.approx(test.pvalue, rel=1e-8)
    assert report["ci"]["se"] == pytest.approx((lc - lb).std(ddof=1) / math.sqrt(len(lb)))


def test_a_token_that_differs_is_tokenized_differently(tmp_path):
    base = _tokens(6)
    cand = _candidate(base, 7)
    cand.loc[17, "token_id"] = cand.loc[17, "token_id"] + 1
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    for args in ((), ("--pair-by", "row")):
        result = invoke("compare", b, c, *args)
        assert result.exit_code == 2, result.output
        assert "tokenized differently" in result.stderr
        assert "--pair-by doc" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("columns", [["doc_id", "logprob"], ["doc_id", "token_id", "logprob"]])
def test_rows_paired_by_order_must_be_of_one_document(tmp_path, columns):
    """A candidate in another order, with no position to pair by: one line naming the row and
    both documents (not a silent comparison of unrelated tokens, nor 'tokenized
    differently')."""
    base = _tokens(8)
    cand = _candidate(base, 9).sample(frac=1.0, random_state=3)
    b = _write(base[columns], tmp_path / "b.parquet")
    c = _write(cand[columns], tmp_path / "c.parquet")
    result = invoke("compare", b, c)
    assert result.exit_code == 2, result.output
    first = result.stderr.splitlines()[0]
    k = int(np.flatnonzero(base["doc_id"].to_numpy() != cand["doc_id"].to_numpy())[0])
    docs = (base["doc_id"].iloc[k], cand["doc_id"].iloc[k])
    assert f"row {k}: document {docs[0]!r} in the baseline but {docs[1]!r}" in first
    assert "--pair-by doc" in result.stderr
    assert "Traceback" not in result.stderr
    assert _json(b, c, "--pair-by", "doc")[0] == 0  # per document, the order does not matter


def test_per_document_with_different_tokenizers_per_byte(tmp_path):
    """The candidate's tokenizer cuts every document into other tokens (the same bytes)."""
    base = _tokens(8)
    rng = np.random.default_rng(9)
    rows = []
    for doc, group in base.groupby("doc_id"):
        total = int(group["n_bytes"].sum())
        cuts = np.sort(rng.choice(np.arange(1, total), size=max(1, total // 4), replace=False))
        sizes = np.diff(np.concatenate([[0], cuts, [total]]))
        for pos, size in enumerate(sizes):
            rows.append({"doc_id": doc, "position": pos, "token_id": 0,
                         "logprob": -float(rng.gamma(2.0, 1.0)), "n_bytes": int(size)})  # fmt: skip
    cand = pd.DataFrame(rows)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, report = _json(b, c, "--pair-by", "doc", "--per", "byte")
    sb = base.assign(l=-base["logprob"]).groupby("doc_id")[["l", "n_bytes"]].sum()
    sc = cand.assign(l=-cand["logprob"]).groupby("doc_id")[["l", "n_bytes"]].sum()
    assert (sb["n_bytes"] == sc["n_bytes"]).all()
    rb, rc = sb["l"].sum() / sb["n_bytes"].sum(), sc["l"].sum() / sc["n_bytes"].sum()
    z = (sc["l"] - rc * sc["n_bytes"]) / sc["n_bytes"].sum() - (sb["l"] - rb * sb["n_bytes"]) / sb[
        "n_bytes"
    ].sum()
    count = len(sb)
    se = math.sqrt(count / (count - 1) * (z**2).sum())
    assert report["pair_by"] == "doc"
    assert report["join"]["n_joined"] == count
    assert report["delta"] == pytest.approx(rc - rb, rel=1e-10)
    assert report["ci"]["se"] == pytest.approx(se, rel=1e-9)
    assert report["ci"]["per"] == "byte"
    per_doc_b, per_doc_c = sb["l"] / sb["n_bytes"], sc["l"] / sc["n_bytes"]
    assert report["documents"]["candidate_better"] == pytest.approx((per_doc_c < per_doc_b).mean())
    assert report["correlation"] == pytest.approx(np.corrcoef(per_doc_b, per_doc_c)[0, 1])


def test_a_split_candidate_gives_the_same_report(tmp_path):
    base = _tokens(10)
    cand = _candidate(base, 11)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, whole = _json(b, c)
    half = len(cand) // 2 + 3  # a document cut in two
    parts = [_write(cand.iloc[:half], tmp_path / "c1.parquet"),
             _write(cand.iloc[half:], tmp_path / "c2.parquet")]  # fmt: skip
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, part in enumerate(parts):
        part.rename(folder / f"{i}.parquet")
    _, split = _json(b, folder)
    for key in ("delta", "ci", "correlation", "documents", "test"):
        assert split[key] == whole[key], key


def test_token_options_that_do_not_apply(tmp_path):
    base = _tokens(12)
    b, c = _write(base, tmp_path / "b.parquet"), _write(_candidate(base), tmp_path / "c.parquet")
    for args, words in (
        (("--max-kl", "0.1"), "--max-kl"),
        (("--top", "3"), "--top"),
        (("--pair-by", "id"), "--id"),
        (("--position", "nope"), "--position"),
    ):
        result = invoke("compare", b, c, *args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.stderr


def test_the_shipped_sample_against_itself(tmp_path):
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "lm_tokens.parquet"
    code, report = _json(sample, sample, "--max-regression", "0")
    assert code == 0
    assert report["delta"] == 0.0
    assert report["perplexity_ratio"] == 1.0
    assert report["ci"]["low"] == report["ci"]["high"] == 0.0
    assert report["documents"]["candidate_better"] == 0.0


def test_top_docs_and_messages_of_token_compares(tmp_path):
    """--top-docs lists as many documents in compare as in eval; token keys are shown as a
    document and a position, and the unpaired warning has no 'both:' side."""
    base = _tokens(10)
    cand = _candidate(base, 11)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    assert len(_json(b, c, "--top-docs", "2")[1]["documents"]["worst"]) == 2
    fewer = _write(cand.drop(index=[5]), tmp_path / "fewer.parquet")
    refused = invoke("compare", b, fewer)
    assert refused.exit_code == 2
    doc, position = base.loc[5, "doc_id"], base.loc[5, "position"]
    assert f"1 token only in the baseline (document {doc!r} position {position})" in (
        refused.stderr
    )
    kept = invoke("compare", b, fewer, "--on-mismatch", "intersect")
    assert kept.exit_code == 0, kept.output
    assert "xent: warning: unpaired: 1 token evaluated only in the baseline" in kept.stderr
