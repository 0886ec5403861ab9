"""Language-model token files: every figure against an independent computation (numpy,
scipy, mpmath), the published examples of torcheval, lm-evaluation-harness and Hugging Face
``evaluate`` reproduced, the interval by documents against its formula, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mpmath
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import log_softmax

import xent_cli
from xent_cli.errors import XentError

from .conftest import invoke


def write(path: Path, **columns: object) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def token_logprobs(logits: list, targets: list) -> np.ndarray:
    """log softmax(z)[y] per token, by scipy (the reference for torcheval's examples)."""
    z = np.asarray(logits, np.float64).reshape(-1, np.asarray(logits).shape[-1])
    y = np.asarray(targets).reshape(-1)
    return log_softmax(z, axis=1)[np.arange(len(y)), y]


# torcheval.metrics.functional.text.perplexity's and torcheval.metrics.text.Perplexity's
# docstring examples: logits and targets, and the perplexity they print (4 digits)
TORCHEVAL = [
    ([[[0.3659, 0.7025, 0.3104], [0.0097, 0.6577, 0.1947]]], [[2, 1]], None, 2.7593),
    ([[[0.3659, 0.7025, 0.3104], [0.0097, 0.6577, 0.1947]]], [[2, 1]], 1, 3.5372),
    (
        [
            [[0.3, 0.7, 0.3, 0.1], [0.5, 0.4, 0.1, 0.4], [0.1, 0.1, 0.2, 0.5]],
            [[0.1, 0.6, 0.1, 0.5], [0.3, 0.7, 0.3, 0.4], [0.3, 0.7, 0.3, 0.4]],
        ],
        [[2, 1, 3], [1, 0, 1]],
        None,
        3.6216,
    ),
    (
        [[[0.3659, 0.7025, 0.3104]], [[0.0097, 0.6577, 0.1947]],
         [[0.5659, 0.0025, 0.0104]], [[0.9097, 0.0577, 0.7947]]],
        [[2], [1], [2], [1]],
        None,
        3.5257,
    ),
    (
        [[[0.3659, 0.7025, 0.3104]], [[0.0097, 0.6577, 0.1947]],
         [[0.5659, 0.0025, 0.0104]], [[0.9097, 0.0577, 0.7947]]],
        [[2], [1], [2], [1]],
        1,
        3.6347,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("logits", "targets", "ignore", "printed"), TORCHEVAL)
def test_torcheval_examples_as_token_files(tmp_path, logits, targets, ignore, printed):
    """The token log-probs of torcheval's examples, one row each, with the token id:
    --ignore-label leaves out the ignored targets as ignore_index does."""
    logprob = token_logprobs(logits, targets)
    token = np.asarray(targets).reshape(-1)
    path = write(tmp_path / "t.parquet", token_id=token, logprob=logprob)
    options = {} if ignore is None else {"ignore_label": str(ignore)}
    report = xent_cli.evaluate(path, **options)
    kept = token != ignore if ignore is not None else np.ones(len(token), bool)
    expected = math.exp(-logprob[kept].mean())
    assert report.perplexity == pytest.approx(expected, rel=1e-12)
    assert round(report.perplexity, 4) == printed
    assert report.n_ignored == int((~kept).sum())
    assert report.n_tokens == int(kept.sum())


def test_a_token_file_from_the_command_line(tmp_path):
    rng = np.random.default_rng(3)
    docs = np.repeat(np.arange(6), [4, 9, 2, 7, 5, 3])
    logprob = -rng.gamma(2.0, 1.2, len(docs))
    path = write(tmp_path / "t.parquet", doc_id=docs, position=np.arange(len(docs)),
                 token_id=rng.integers(0, 100, len(docs)), logprob=logprob)  # fmt: skip
    result = invoke("eval", path, "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "tokens"
    assert report["kind"] == "logprob"
    assert report["kind_source"] == "column name 'logprob'"
    assert report["per"] == "token"
    assert report["n_tokens"] == len(docs)
    nll = -logprob
    assert report["loss"] == pytest.approx(nll.mean(), rel=1e-12)
    assert report["perplexity"] == pytest.approx(math.exp(nll.mean()), rel=1e-12)
    assert report["bits_per_token"] == pytest.approx(nll.mean() / math.log(2), rel=1e-12)
    assert report["documents"]["count"] == 6
    table = invoke("eval", path)
    assert table.exit_code == 0
    assert "mode: tokens" in table.stdout
    assert "loss = sum of -log p / tokens (30)" in table.stdout


def clustered(nll: np.ndarray, units: np.ndarray, docs: np.ndarray, level: float = 0.95):
    """The interval by documents, written out from its formula with numpy and scipy."""
    keys = np.unique(docs)
    big_l = np.array([nll[docs == d].sum() for d in keys])
    big_u = np.array([units[docs == d].sum() for d in keys])
    r = big_l.sum() / big_u.sum()
    d = len(keys)
    se = math.sqrt(d / (d - 1) * ((big_l - r * big_u) ** 2).sum()) / big_u.sum()
    n = len(nll)
    se_iid = math.sqrt(n / (n - 1) * ((nll - r * units) ** 2).sum()) / units.sum()
    t = stats.t.ppf(0.5 + level / 2, d - 1)
    return r, se, se_iid, r - t * se, r + t * se, big_l, big_u


def test_the_interval_by_documents(tmp_path):
    rng = np.random.default_rng(11)
    sizes = rng.integers(3, 40, 25)
    docs = np.repeat([f"d{i:02d}" for i in range(25)], sizes)
    level = np.repeat(rng.normal(2.0, 0.7, 25), sizes)
    nll = np.abs(rng.normal(level, 1.0))
    n_bytes = rng.integers(1, 9, len(docs))
    path = write(tmp_path / "t.parquet", doc_id=docs, nll=nll, n_bytes=n_bytes)
    report = xent_cli.evaluate(path, confidence=0.9).to_dict()
    r, se, se_iid, low, high, big_l, big_u = clustered(nll, np.ones(len(nll)), docs, 0.9)
    ci = report["ci"]
    assert report["kind"] == "nll"
    assert ci["method"] == "cluster"
    assert ci["df"] == 24
    assert report["loss"] == pytest.approx(r, rel=1e-12)
    assert ci["se"] == pytest.approx(se, rel=1e-9)
    assert ci["se_iid"] == pytest.approx(se_iid, rel=1e-9)
    assert ci["low"] == pytest.approx(low, rel=1e-9)
    assert ci["high"] == pytest.approx(high, rel=1e-9)
    assert ci["design_effect"] == pytest.approx((se / se_iid) ** 2, rel=1e-9)
    assert ci["perplexity_low"] == pytest.approx(math.exp(low), rel=1e-9)
    # the i.i.d. se of token rows is llama.cpp's sqrt((E[l^2] - E[l]^2) / (N - 1))
    llama = math.sqrt(((nll**2).mean() - nll.mean() ** 2) / (len(nll) - 1))
    assert ci["se_iid"] == pytest.approx(llama, rel=1e-9)
    # Hugging Face evaluate's mean_perplexity: the mean of each text's perplexity
    per_doc = big_l / big_u
    assert report["documents"]["mean_perplexity"] == pytest.approx(np.exp(per_doc).mean(), 1e-12)
    assert report["documents"]["mean_loss"] == pytest.approx(per_doc.mean(), rel=1e-12)
    worst = report["documents"]["worst"]
    assert [w["id"] for w in worst] == [f"d{i:02d}" for i in np.argsort(-per_doc)[:10]]
    # bytes: lm-evaluation-harness' pooled figures
    assert report["bits_per_byte"] == pytest.approx(nll.sum() / math.log(2) / n_bytes.sum())
    assert report["byte_perplexity"] == pytest.approx(math.exp(nll.sum() / n_bytes.sum()))
    assert report["bits_per_byte"] == pytest.approx(math.log2(report["byte_perplexity"]))
    per_byte = xent_cli.evaluate(path, per="byte").to_dict()
    r_b, se_b, *_ = clustered(nll, n_bytes.astype(float), docs)
    assert per_byte["per"] == "byte"
    assert per_byte["loss"] == pytest.approx(r_b, rel=1e-12)
    assert per_byte["ci"]["se"] == pytest.approx(se_b, rel=1e-9)
    in_bits = xent_cli.evaluate(path, base="2").to_dict()
    assert in_bits["loss"] == pytest.approx(r / math.log(2), rel=1e-12)
    assert in_bits["perplexity"] == pytest.approx(math.exp(r), rel=1e-12)


def test_lm_eval_samples_reproduce_its_pooled_figures(tmp_path):
    """lm-eval's bits_per_byte = -sum(ll) / sum(bytes) / ln 2 = log2(byte_perplexity),
    word_perplexity = exp(-sum(ll) / sum(words)); per byte by default (no token counts)."""
    samples = [(-120.5, 30, 150), (-300.25, 80, 410), (-50.0, 12, 64), (-77.75, 21, 99)]
    path = tmp_path / "samples_wikitext.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "doc_id": i,
                    "word_perplexity": [ll, w],
                    "byte_perplexity": [ll, b],
                    "bits_per_byte": [ll, b],
                }
            )
            + "\n"
            for i, (ll, w, b) in enumerate(samples)
        )
    )
    report = xent_cli.evaluate(path).to_dict()
    ll = mpmath.fsum(s[0] for s in samples)
    words = sum(s[1] for s in samples)
    n_bytes = sum(s[2] for s in samples)
    assert report["per"] == "byte"
    assert report["n_tokens"] is None
    assert report["bits_per_token"] is None
    assert report["bits_per_byte"] == pytest.approx(float(-ll / n_bytes / mpmath.log(2)), 1e-14)
    assert report["byte_perplexity"] == pytest.approx(float(mpmath.exp(-ll / n_bytes)), 1e-14)
    assert report["word_perplexity"] == pytest.approx(float(mpmath.exp(-ll / words)), 1e-14)
    assert report["bits_per_byte"] == pytest.approx(math.log2(report["byte_perplexity"]), 1e-14)
    assert report["documents"]["count"] == 4
    with pytest.raises(XentError, match=r"--per token: .* has no token counts"):
        xent_cli.evaluate(path, per="token")


def test_any_split_and_order_gives_the_same_report(tmp_path):
    """A document split across files, rows shuffled: merged saved states, the files read
    together and the whole file give the same JSON (apart from files)."""
    rng = np.random.default_rng(5)
    docs = np.repeat(np.arange(40), rng.integers(1, 30, 40))
    nll = rng.gamma(2.0, 1.0, len(docs)) * 10 ** rng.uniform(-3, 1, len(docs))
    whole = write(tmp_path / "whole.parquet", doc=docs, nll=nll)
    order = rng.permutation(len(docs))
    cut = len(docs) // 3
    parts = [
        write(tmp_path / f"p{i}.parquet", doc=docs[idx], nll=nll[idx])
        for i, idx in enumerate(np.array_split(order, [cut, 2 * cut]))
    ]
    expected = xent_cli.evaluate(whole).to_dict()
    together = xent_cli.evaluate([str(p) for p in parts]).to_dict()
    states = []
    for i, part in enumerate(parts):
        state = tmp_path / f"p{i}.state"
        assert invoke("eval", part, "--save-state", state).exit_code == 0
        states.append(state)
    merged = invoke("merge", *states[::-1], "-f", "json")
    assert merged.exit_code == 0, merged.output
    for report in (together, json.loads(merged.stdout)):
        report.pop("files")
        expected.pop("files", None)
        assert report == expected


def test_mask_and_top_k(tmp_path):
    logprob = np.array([-0.1, -2.0, -0.5, -3.0, -0.2, -1.0])
    top = [[-0.1, -2.5], [-0.3, -2.0], [-0.5], [-1.0, -3.0], None, [-1.0, -1.5]]
    mask = [1, 1, 0, 1, 1, 1]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"logprob": logprob, "top_logprobs": top, "loss_mask": mask}), path)
    report = xent_cli.evaluate(path).to_dict()
    kept = np.array(mask, bool)
    assert report["n_masked"] == 1
    assert report["loss"] == pytest.approx(-logprob[kept].mean(), rel=1e-12)
    # top-1: rows 0 (tie counts), 5 (-1.0 ties the top); not 1, 3; row 4 has no list
    assert report["accuracy"] == pytest.approx(2 / 4)
    assert report["mean_p_true"] == pytest.approx(np.exp(logprob[kept]).mean(), rel=1e-12)


def test_bad_input_is_one_line(tmp_path):
    positive = write(tmp_path / "pos.parquet", logprob=[-0.5, 0.25, -1.0])
    result = invoke("eval", positive)
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert "holds positive log-probabilities (0.25 at row 1" in first
    assert "--nll logprob" in result.stderr
    negative = write(tmp_path / "neg.parquet", nll=[0.5, -0.25])
    result = invoke("eval", negative)
    assert result.exit_code == 2
    assert "--logprob nll" in result.stderr
    weighted = write(tmp_path / "w.parquet", logprob=[-0.5], w=[2.0])
    with pytest.raises(XentError, match="--weight does not apply to token files"):
        xent_cli.evaluate(weighted, weight="w")
    counts = write(tmp_path / "c.parquet", logprob=[-5.0, -3.0], n=[3, 0])
    with pytest.raises(XentError, match=r"--tokens column 'n' holds 0 at row 1"):
        xent_cli.evaluate(counts, tokens="n")


def test_minus_infinity_and_missing_documents_warn(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({"doc_id": ["a", None, "a", "b", ""], "logprob": [-1.0, -2.0, -np.inf, -0.5,
                                                                   np.nan]}),
        path,
    )  # fmt: skip
    result = invoke("eval", path, "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    codes = {w["code"]: w for w in report["warnings"]}
    assert codes["missing-document"]["rows"] == [1, 4]
    assert codes["zero-probability"]["rows"] == [2]
    clip = -math.log(1e-15)
    assert report["loss"] == pytest.approx((1.0 + clip + 0.5) / 3, rel=1e-12)
    assert report["n_skipped"] == 2
    assert "xent: warning: missing-document" in result.stderr


@pytest.mark.parametrize(
    ("kind", "sign", "infinite"), [("logprob", -1, "+inf"), ("nll", 1, "-inf")]
)
def test_skipped_values_are_told_in_a_token_files_words(tmp_path, kind, sign, infinite):
    path = tmp_path / "t.parquet"
    values = [sign * 1.0, np.nan, sign * 2.0, -sign * np.inf, sign * 0.5]
    pq.write_table(pa.table({"doc_id": [1, 1, 2, 2, 2], kind: values}), path)
    result = invoke("eval", path, "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (skipped,) = [w for w in report["warnings"] if w["code"] == "non-finite"]
    assert skipped["rows"] == [1, 3]
    value = "log-probability" if kind == "logprob" else "NLL"
    assert (
        skipped["message"]
        == f"2 rows with a missing or NaN {value} (or {infinite}), or a missing count, skipped"
    )
    assert "score or weight" not in result.stderr
    assert report["loss"] == pytest.approx((1.0 + 2.0 + 0.5) / 3, rel=1e-12)


def test_dask_partitions_split_documents(tmp_path, monkeypatch):
    """Row groups as Dask tasks cut documents in two: the report is the local one."""
    distributed = pytest.importorskip("distributed")
    from xent_cli.core import cluster

    monkeypatch.setattr(cluster, "TASK_ROWS", 300)
    rng = np.random.default_rng(8)
    docs = np.repeat(np.arange(50), rng.integers(5, 60, 50))
    logprob = -rng.gamma(2.0, 1.0, len(docs))
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"doc_id": docs, "logprob": logprob}), path, row_group_size=97)
    local = xent_cli.evaluate(path).to_dict()
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, dashboard_address=":0", silence_logs=50
        ) as cluster_,
        distributed.Client(cluster_) as client,
    ):
        remote = xent_cli.evaluate(path, dask=client).to_dict()
    assert remote == local


def test_token_options_on_the_command_line(tmp_path):
    rng = np.random.default_rng(21)
    group = np.repeat(np.arange(8), 6)
    loss = rng.gamma(2.0, 1.0, len(group))
    size = rng.integers(1, 6, len(group))
    path = write(tmp_path / "t.parquet", sequence=group, neg=loss, size=size, keep=[1] * 47 + [0])
    result = invoke(
        "eval", path, "--nll", "neg", "--doc", "sequence", "--bytes", "size", "--per", "byte",
        "--mask", "keep", "--top-docs", "2", "--confidence", "0.9", "-f", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    kept = slice(0, 47)
    r, se, _, low, high, *_ = clustered(
        loss[kept], size[kept].astype(float), group[kept], level=0.9
    )
    assert report_se_and_high(result.stdout) == pytest.approx((se, high), rel=1e-9)
    assert report["kind"] == "nll"
    assert report["kind_source"] == "--nll"
    assert report["per"] == "byte"
    assert report["n_masked"] == 1
    assert report["loss"] == pytest.approx(r, rel=1e-12)
    assert report["ci"]["level"] == 0.9
    assert report["ci"]["low"] == pytest.approx(low, rel=1e-9)
    assert len(report["documents"]["worst"]) == 2
    assert report["columns"] == {"nll": "neg", "doc": "sequence", "bytes": "size", "mask": "keep"}
    rows = invoke("rows", path, "--nll", "neg")
    assert rows.exit_code == 2
    assert "a token file: xent rows lists a classifier's rows" in rows.stderr


def report_se_and_high(stdout: str) -> tuple[float, float]:
    ci = json.loads(stdout)["ci"]
    return ci["se"], ci["high"]


def test_slices_of_a_token_file(tmp_path):
    """--by domain: each slice's loss per token and perplexity, against a pandas groupby;
    the same through saved states of two files; the slice gate judges the worst slice."""
    import pandas as pd

    rng = np.random.default_rng(13)
    n = 600
    frame = pd.DataFrame(
        {
            "doc_id": np.repeat(np.arange(30), 20),
            "domain": np.repeat(rng.choice(["code", "news", "web"], 30), 20),
            "logprob": -rng.gamma(2.0, 1.0, n),
        }
    )
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, index=False)
    report = xent_cli.evaluate(path, by="domain").to_dict()
    expected = frame.assign(nll=-frame.logprob).groupby("domain")["nll"].agg(["mean", "size"])
    groups = {g["key"]["domain"]: g for g in report["slices"]["groups"]}
    assert set(groups) == set(expected.index)
    for domain, row in expected.iterrows():
        assert groups[domain]["loss"] == pytest.approx(row["mean"], rel=1e-12)
        assert groups[domain]["perplexity"] == pytest.approx(math.exp(row["mean"]), rel=1e-12)
        assert groups[domain]["count"] == groups[domain]["tokens"] == row["size"]
    losses = [g["loss"] for g in report["slices"]["groups"]]
    assert losses == sorted(losses, reverse=True)
    parts = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    frame.iloc[:250].to_parquet(parts[0], index=False)
    frame.iloc[250:].to_parquet(parts[1], index=False)
    states = []
    for part in parts:
        state = part.with_suffix(".state")
        assert invoke("eval", part, "--by", "domain", "--save-state", state).exit_code == 0
        states.append(state)
    merged = json.loads(invoke("merge", *states, "-f", "json").stdout)
    merged.pop("files")
    report.pop("files")
    assert merged == report
    worst = max(expected["mean"])
    gap = worst - (-frame.logprob).mean()
    passing = invoke("eval", path, "--by", "domain", "--max-slice-gap", f"{gap * 1.01}")
    failing = invoke("eval", path, "--by", "domain", "--max-slice-gap", f"{gap * 0.99}")
    assert passing.exit_code == 0, passing.output
    assert failing.exit_code == 1
    assert "--max-slice-gap" in failing.stderr


def test_calibration_of_the_top1_confidence(tmp_path):
    """--calibration with --topk: ECE, MCE and the top-label Brier score of exp(top log-prob)
    against 'the actual token was the top one', by numpy, in 10 equal-width bins."""
    rng = np.random.default_rng(17)
    n = 800
    top = np.sort(-rng.gamma(1.5, 0.8, (n, 3)), axis=1)[:, ::-1]  # log-probs, best first
    right = rng.random(n) < np.exp(top[:, 0]) * 0.9
    logprob = np.where(right, top[:, 0], top[:, 1] - rng.gamma(1.0, 0.5, n))
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"doc_id": np.arange(n) // 40, "logprob": logprob,
                             "top_logprobs": top.tolist()}), path)  # fmt: skip
    report = xent_cli.evaluate(path, calibration=True, ece_bins=10).to_dict()
    p = np.exp(top[:, 0])
    y = (logprob >= top[:, 0]).astype(float)
    bins = np.clip(np.ceil(p * 10).astype(int) - 1, 0, 9)  # (lo, hi], the first closed at 0
    ece = mce = 0.0
    for b in range(10):
        inside = bins == b
        if inside.any():
            gap = abs(p[inside].mean() - y[inside].mean())
            ece += inside.sum() / n * gap
            mce = max(mce, gap)
    calibration = report["calibration"]
    assert report["accuracy"] == pytest.approx(y.mean(), rel=1e-12)
    assert calibration["ece"] == pytest.approx(ece, rel=1e-9)
    assert calibration["mce"] == pytest.approx(mce, rel=1e-9)
    assert calibration["brier"] == pytest.approx(((p - y) ** 2).mean(), rel=1e-9)
    without = tmp_path / "plain.parquet"
    write(without, logprob=logprob)
    with pytest.raises(XentError, match="bins the top-1 confidence: it needs the model"):
        xent_cli.evaluate(without, calibration=True)


def test_partial_states_of_token_frames_merge_to_the_whole(tmp_path):
    """xent_cli.partial takes token files and frames as evaluate does (the recipe for Ray or
    Spark workers): halves cutting a document merge to the whole file's report."""
    import pandas as pd

    rng = np.random.default_rng(11)
    docs = np.repeat(np.arange(30), rng.integers(1, 20, 30))
    frame = pd.DataFrame({"doc_id": docs, "logprob": -rng.gamma(2.0, 1.0, len(docs))})
    cut = len(frame) // 2 + 1
    first = xent_cli.partial(frame.iloc[:cut])
    second = xent_cli.partial(frame.iloc[cut:], first_row=cut)
    merged = first.merge(second).finish().to_dict()
    whole = xent_cli.evaluate(frame).to_dict()
    for report in (merged, whole):
        report.pop("files")
    assert merged == whole
    assert merged["documents"]["count"] == 30


def test_a_float32_top_k_list_ties_a_float64_log_prob(tmp_path):
    """The top-k list rounded to float32 beside the float64 log-prob: the actual token is
    still the top one when the two agree to float32's precision."""
    rng = np.random.default_rng(2)
    logprob = -rng.gamma(1.0, 1.0, 200)
    others = logprob[:, None] - rng.uniform(0.01, 3, (200, 3))
    first = rng.random(200) < 0.6  # the actual token is the top one here
    better = np.column_stack([logprob / 2, others[:, :2]])  # another token is likelier
    top = np.where(first[:, None], np.column_stack([logprob, others[:, :2]]), better)
    lists = pa.array(top.tolist(), pa.list_(pa.float32()))
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"logprob": logprob, "top_logprobs": lists}), path)
    report = xent_cli.evaluate(path).to_dict()
    assert report["accuracy"] == first.mean()


def test_mean_p_true_of_span_rows_is_over_their_one_token_rows(tmp_path):
    """--tokens: a row of one token has a token probability, a longer span has none."""
    path = write(
        tmp_path / "s.parquet",
        doc_id=["a", "a", "b", "b", "c"],
        logprob=[-1.0, -6.0, -0.5, -3.0, -np.inf],
        n_tokens=[1, 3, 1, 2, 1],
    )
    report = xent_cli.evaluate(path, tokens="n_tokens").to_dict()
    assert report["mean_p_true"] == pytest.approx((math.exp(-1.0) + math.exp(-0.5) + 0) / 3)
    assert report["n_tokens"] == 8


def test_csv_report_of_a_token_file(tmp_path):
    """-f csv: every figure of the JSON's top level, the interval and the documents' block."""
    import csv
    import io

    path = write(tmp_path / "t.parquet", doc_id=[1, 1, 2, 3], logprob=[-1.0, -2.0, -0.5, -3.0])
    result = invoke("eval", path, "-f", "csv")
    assert result.exit_code == 0, result.output
    rows = {(r["scope"], r["name"]): r["value"] for r in csv.DictReader(io.StringIO(result.stdout))}
    report = xent_cli.evaluate(path).to_dict()
    assert float(rows[("overall", "loss")]) == report["loss"] == 6.5 / 4
    assert rows[("overall", "n_skipped")] == "0"
    assert rows[("documents", "count")] == "3"
    assert float(rows[("documents", "mean_loss")]) == pytest.approx((1.5 + 0.5 + 3.0) / 3)
    assert float(rows[("ci", "se")]) == report["ci"]["se"]


def test_a_mask_of_other_values_than_0_and_1_is_refused(tmp_path):
    """A fractional mask is a weight in disguise: one line naming the row, exit 2."""
    path = write(tmp_path / "m.parquet", logprob=[-1.0, -3.0, -2.0], loss_mask=[1.0, 0.0, 0.5])
    result = invoke("eval", path)
    assert result.exit_code == 2
    assert "--mask column 'loss_mask' holds 0.5 at row 2" in result.stderr
    assert "Traceback" not in result.stderr
    fine = write(tmp_path / "b.parquet", logprob=[-1.0, -3.0], loss_mask=[True, False])
    assert xent_cli.evaluate(fine).to_dict()["loss"] == 1.0


def test_sums_of_squared_units_are_exact_beyond_int64():
    from xent_cli.core.token_state import _sum_of_squares

    big = np.array([2**31, 2**31 + 1, 3, 2**31], np.int64)
    assert _sum_of_squares(big) == sum(int(u) ** 2 for u in big.tolist())  # > 2**63
    small = np.arange(1000, dtype=np.int64)
    assert _sum_of_squares(small) == sum(u * u for u in range(1000))
    assert _sum_of_squares(np.zeros(0, np.int64)) == 0


@pytest.mark.parametrize("odd", [None, -math.inf, 4e-6])
def test_mean_p_true_is_the_correctly_rounded_mean_on_every_route(kernel, tmp_path, odd):
    """A clean batch sums each token's p = exp(-loss) a block at a time (no array of them);
    one with a zero probability (-inf) or a log-probability just above 0 (rounding: p > 1)
    sums exp(logprob) itself. Either way: the exact sum of xent's exp, rounded once, over
    the count (math.fsum rounds the exact sum correctly)."""
    from xent_cli.kernels.exponential import exp

    rng = np.random.default_rng(3)
    logprob = -rng.exponential(2.5, 20_000)
    logprob[::97] = -rng.uniform(0, 1e-9, len(logprob[::97]))  # p within 1e-9 of 1
    if odd is not None:
        logprob[1234] = odd
    path = tmp_path / "t.parquet"
    doc = np.repeat(np.arange(40), 500)
    pq.write_table(pa.table({"doc_id": doc, "logprob": logprob}), path)
    report = xent_cli.evaluate(path).to_dict()
    assert report["mean_p_true"] == math.fsum(exp(logprob).tolist()) / len(logprob)


@st.composite
def token_splits(draw: st.DrawFn) -> tuple:
    """Documents of rows (log-probabilities down to -40, exact zeros, values within 1e-12 of
    0, now and then a -inf), shuffled, cut into parts taken in some order."""
    sizes = draw(st.lists(st.integers(1, 30), min_size=1, max_size=8))
    n = sum(sizes)
    value = st.one_of(st.floats(-40.0, 0.0), st.sampled_from([0.0, -0.0, -1e-12, -math.inf]))
    logprob = draw(st.lists(value, min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, n - 1)), max_size=3)) - {n})
    parts = np.split(np.array(order, np.intp), cuts)
    taken = draw(st.permutations(range(len(parts))))
    return np.repeat(np.arange(len(sizes)), sizes), np.array(logprob), parts, taken


@settings(max_examples=40, deadline=None)
@given(token_splits())
def test_any_split_merged_in_any_order_is_the_same_report(case):
    """Property: the rows of a token file, shuffled and cut into parts whose states are
    merged in any order, give the report of the whole (`==`, every figure; the warnings'
    row numbers follow the rows, so only their codes and counts are compared). Parts with a
    -inf and parts without take different routes to mean_p_true: the same sums."""
    import tempfile

    docs, logprob, parts, taken = case
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        whole = write(folder / "whole.parquet", doc_id=docs, logprob=logprob)
        paths = [
            write(folder / f"p{i}.parquet", doc_id=docs[rows], logprob=logprob[rows])
            for i, rows in enumerate(parts)
        ]
        expected = xent_cli.evaluate(whole).to_dict()
        partials = [xent_cli.partial(paths[i]) for i in taken]
        merged = partials[0]
        for other in partials[1:]:
            merged = merged.merge(other)
        got = merged.finish().to_dict()
    for report in (expected, got):
        report.pop("files")
        report["warnings"] = [(w["code"], w["count"]) for w in report["warnings"]]
    assert got == expected
