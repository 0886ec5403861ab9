"""``xent compare``'s distribution block: KL, delta p, top-1 agreement, flips, perplexity ratio
and correlation, each against numpy/scipy on the same rows (softmax by scipy.special, KL by
scipy.special.rel_entr, McNemar by scipy.stats.binomtest, Pearson by numpy.corrcoef)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.special
import scipy.stats

from xent_cli.comparison.distribution import DistributionTotals, mcnemar_p
from xent_cli.comparison.run import compare
from xent_cli.comparison.sketch import ALPHA, LogHistogram

from .conftest import invoke

N, K = 600, 6


def _logits(seed: int = 0, noise: float = 0.6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, N)
    zb = rng.normal(size=(N, K)) * 2.0
    zb[np.arange(N), y] += 2.0
    zc = zb + rng.normal(size=(N, K)) * noise
    return y, zb, zc


def _frame(y: np.ndarray, z: np.ndarray, prefix: str = "logit_") -> pd.DataFrame:
    frame = pd.DataFrame(z, columns=[f"{prefix}{j}" for j in range(z.shape[1])])
    frame.insert(0, "label", y)
    frame.insert(0, "id", [f"r{i}" for i in range(len(y))])
    return frame


def _files(tmp_path: Path, y, zb, zc, prefix: str = "logit_") -> tuple[Path, Path]:
    base, cand = tmp_path / "base.csv", tmp_path / "cand.csv"
    _frame(y, zb, prefix).to_csv(base, index=False)
    _frame(y, zc, prefix).to_csv(cand, index=False)
    return base, cand


def _json(*args) -> tuple[int, dict]:
    result = invoke("compare", *args, "-f", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _expected_categorical(y, pb, pc):
    """Every figure from probabilities, independently of xent."""
    kl = scipy.special.rel_entr(pb, pc).sum(axis=1)
    rows = np.arange(len(y))
    dp = pc[rows, y] - pb[rows, y]
    top_b, top_c = pb.argmax(axis=1), pc.argmax(axis=1)
    return kl, dp, top_b, top_c


def _check_block(block, kl, dp, top_b, top_c, y, per_nat=1.0):
    n = len(kl)
    assert block["n"] == n
    assert block["kl"]["mean"] == pytest.approx(kl.mean() * per_nat, rel=1e-9)
    assert block["kl"]["se"] == pytest.approx(kl.std(ddof=1) / math.sqrt(n) * per_nat, rel=1e-7)
    assert block["kl"]["max"] == pytest.approx(kl.max() * per_nat, rel=1e-9)
    assert block["kl"]["min"] == pytest.approx(kl.min() * per_nat, rel=1e-6, abs=1e-15)
    for q, value in block["kl"]["percentiles"].items():
        expected = np.percentile(kl, float(q)) * per_nat
        bound = np.sort(kl)[
            [int(float(q) / 100 * (n - 1)), min(n - 1, int(float(q) / 100 * (n - 1)) + 1)]
        ]
        assert value == pytest.approx(expected, rel=2 * ALPHA, abs=ALPHA * bound.max() * per_nat)
    assert block["delta_p"]["mean"] == pytest.approx(dp.mean(), rel=1e-9, abs=1e-15)
    assert block["delta_p"]["se"] == pytest.approx(dp.std(ddof=1) / math.sqrt(n), rel=1e-7)
    assert block["delta_p"]["rms"] == pytest.approx(math.sqrt((dp**2).mean()), rel=1e-9)
    for q, value in block["delta_p"]["percentiles"].items():
        h = float(q) / 100 * (n - 1)
        near = np.abs(np.sort(dp)[[int(h), min(n - 1, int(h) + 1)]]).max()
        assert value == pytest.approx(np.percentile(dp, float(q)), abs=ALPHA * near + 1e-15)
    same = top_b == top_c
    rate = same.mean()
    assert block["top1_agreement"]["rate"] == pytest.approx(rate, rel=1e-12)
    assert block["top1_agreement"]["n"] == n
    assert block["top1_agreement"]["se"] == pytest.approx(
        math.sqrt(rate * (1 - rate) / (n - 1)), rel=1e-9
    )
    assert block["churn"] == pytest.approx(1 - rate, rel=1e-12)
    right_b, right_c = top_b == y, top_c == y
    r2w, w2r = int((right_b & ~right_c).sum()), int((~right_b & right_c).sum())
    assert block["flips"]["right_to_wrong"] == r2w
    assert block["flips"]["wrong_to_right"] == w2r
    expected_p = scipy.stats.binomtest(r2w, r2w + w2r, 0.5).pvalue if r2w + w2r else 1.0
    assert block["flips"]["mcnemar_p"] == pytest.approx(expected_p, rel=1e-9)


def test_categorical_logits_against_scipy(tmp_path):
    y, zb, zc = _logits()
    base, cand = _files(tmp_path, y, zb, zc)
    _, report = _json(base, cand)
    pb, pc = scipy.special.softmax(zb, axis=1), scipy.special.softmax(zc, axis=1)
    kl, dp, top_b, top_c = _expected_categorical(y, pb, pc)
    _check_block(report["distribution"], kl, dp, top_b, top_c, y)
    assert report["distribution"]["kl"]["direction"] == "baseline||candidate"
    assert report["distribution"]["kl"]["min"] >= 0
    lb = -scipy.special.log_softmax(zb, axis=1)[np.arange(N), y]
    lc = -scipy.special.log_softmax(zc, axis=1)[np.arange(N), y]
    assert report["correlation"] == pytest.approx(np.corrcoef(lb, lc)[0, 1], rel=1e-9)
    assert report["perplexity_ratio"] == pytest.approx(math.exp((lc - lb).mean()), rel=1e-12)
    assert report["ci"]["perplexity_ratio_low"] == pytest.approx(math.exp(report["ci"]["low"]))
    assert report["ci"]["perplexity_ratio_high"] == pytest.approx(math.exp(report["ci"]["high"]))


def test_bits_are_nats_over_ln2(tmp_path):
    y, zb, zc = _logits(1)
    base, cand = _files(tmp_path, y, zb, zc)
    _, nats = _json(base, cand)
    _, bits = _json(base, cand, "--base", "2")
    assert bits["distribution"]["kl"]["mean"] == pytest.approx(
        nats["distribution"]["kl"]["mean"] / math.log(2), rel=1e-12
    )
    assert bits["perplexity_ratio"] == pytest.approx(nats["perplexity_ratio"], rel=1e-12)


def test_probabilities_are_clipped_at_eps_as_the_loss_is(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 200)
    pb = rng.dirichlet(np.ones(3), 200)
    pc = rng.dirichlet(np.ones(3), 200)
    pc[:10, 0] = 0.0  # a zero the baseline does not share: clipped to eps
    pc[:10] /= pc[:10].sum(axis=1, keepdims=True)
    base, cand = _files(tmp_path, y, pb, pc, prefix="prob_")
    _, report = _json(base, cand)
    eps = 1e-15
    cb, cc = np.clip(pb, eps, 1), np.clip(pc, eps, 1)
    # the generalized divergence of the clipped rows: sum p log(p/q) - sum p + sum q
    kl = (scipy.special.rel_entr(cb, cc) - cb + cc).sum(axis=1)
    assert report["distribution"]["kl"]["mean"] == pytest.approx(kl.mean(), rel=1e-9)
    assert report["distribution"]["kl"]["max"] == pytest.approx(kl.max(), rel=1e-9)


def test_binary_logits_are_two_outcome_distributions(tmp_path):
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    sb = rng.normal(size=400) * 3 + (2 * y - 1)
    sc = sb + rng.normal(size=400)
    for name, s in (("base.csv", sb), ("cand.csv", sc)):
        pd.DataFrame({"label": y, "logit": s}).to_csv(tmp_path / name, index=False)
    _, report = _json(tmp_path / "base.csv", tmp_path / "cand.csv")
    p_b, p_c = scipy.special.expit(sb), scipy.special.expit(sc)
    kl = scipy.special.rel_entr(p_b, p_c) + scipy.special.rel_entr(1 - p_b, 1 - p_c)
    block = report["distribution"]
    assert block["kl"]["mean"] == pytest.approx(kl.mean(), rel=1e-9)
    dp = np.where(y == 1, p_c - p_b, (1 - p_c) - (1 - p_b))
    assert block["delta_p"]["mean"] == pytest.approx(dp.mean(), rel=1e-9)
    same = (sb > 0) == (sc > 0)
    assert block["top1_agreement"]["rate"] == pytest.approx(same.mean())


def test_multilabel_compares_each_cell(tmp_path):
    rng = np.random.default_rng(5)
    n, labels = 150, 3
    y = rng.integers(0, 2, (n, labels))
    sb = rng.normal(size=(n, labels)) * 2
    sc = sb + rng.normal(size=(n, labels))
    for name, s in (("base.csv", sb), ("cand.csv", sc)):
        frame = pd.DataFrame(s, columns=[f"logit_{j}" for j in range(labels)])
        for j in range(labels):
            frame[f"y_{j}"] = y[:, j]
        frame.to_csv(tmp_path / name, index=False)
    _, report = _json(tmp_path / "base.csv", tmp_path / "cand.csv", "--label", "y_*")
    p_b, p_c = scipy.special.expit(sb), scipy.special.expit(sc)
    kl = scipy.special.rel_entr(p_b, p_c) + scipy.special.rel_entr(1 - p_b, 1 - p_c)
    block = report["distribution"]
    assert block["n"] == n * labels
    assert block["kl"]["mean"] == pytest.approx(kl.mean(), rel=1e-9)
    agree = ((sb > 0) == (sc > 0)).mean()
    assert block["top1_agreement"]["rate"] == pytest.approx(agree)


def test_identical_files_change_nothing(tmp_path):
    y, zb, _ = _logits(6)
    base, _ = _files(tmp_path, y, zb, zb)
    code, report = _json(base, base, "--max-kl", "0", "--max-churn", "0")
    assert code == 0
    block = report["distribution"]
    assert block["kl"]["mean"] == 0.0
    assert block["kl"]["max"] == 0.0
    assert set(block["kl"]["percentiles"].values()) == {0.0}
    assert block["top1_agreement"]["rate"] == 1.0
    assert block["flips"] == {"right_to_wrong": 0, "wrong_to_right": 0, "n_discordant": 0,
                              "mcnemar_p": 1.0}  # fmt: skip
    assert block["delta_p"]["rms"] == 0.0
    assert report["perplexity_ratio"] == 1.0
    assert report["correlation"] == 1.0


def test_gates_on_both_sides_of_a_close_call(tmp_path):
    y, zb, zc = _logits(7)
    base, cand = _files(tmp_path, y, zb, zc)
    _, report = _json(base, cand)
    kl = report["distribution"]["kl"]["mean"]
    churn = report["distribution"]["churn"]
    assert _json(base, cand, "--max-kl", f"{kl * 1.0001!r}")[0] == 0
    code, failed = _json(base, cand, "--max-kl", f"{kl * 0.9999!r}")
    assert code == 1
    assert failed["gate"]["max_kl"] == pytest.approx(kl * 0.9999)
    assert any("--max-kl" in r for r in failed["gate"]["reasons"])
    assert _json(base, cand, "--max-churn", f"{churn + 1e-6!r}")[0] == 0
    code, failed = _json(base, cand, "--max-churn", f"{churn - 1e-6!r}")
    assert code == 1
    assert any("--max-churn" in r for r in failed["gate"]["reasons"])
    # --fail-on ci: the interval's upper end, mean + t se, is what is judged
    se = report["distribution"]["kl"]["se"]
    upper = float(kl + scipy.stats.t.ppf(0.975, N - 1) * se)
    assert _json(base, cand, "--max-kl", f"{upper * 1.0001!r}", "--fail-on", "ci")[0] == 0
    assert _json(base, cand, "--max-kl", f"{upper * 0.9999!r}", "--fail-on", "ci")[0] == 1


def test_the_same_block_for_any_split_order_and_pairing(tmp_path):
    y, zb, zc = _logits(8)
    base, cand = _files(tmp_path, y, zb, zc)
    _, whole = _json(base, cand)
    frames = [_frame(y, zb), _frame(y, zc)]
    parquet = []
    for i, frame in enumerate(frames):
        path = tmp_path / f"{i}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=37)
        parquet.append(path)
    _, split = _json(*parquet)
    assert split["distribution"] == whole["distribution"]
    shuffled = tmp_path / "shuffled.csv"
    frames[1].sample(frac=1.0, random_state=0).to_csv(shuffled, index=False)
    _, by_id = _json(base, shuffled, "--id", "id")
    assert by_id["distribution"] == whole["distribution"]
    assert by_id["correlation"] == whole["correlation"]


def test_states_merge_to_the_whole_in_any_order():
    rng = np.random.default_rng(9)
    kl = np.abs(rng.standard_cauchy(1000)) * 1e-3
    kl[:50] = 0.0
    dp = rng.normal(size=1000) * 0.1
    same = rng.random(1000) < 0.9
    right = (rng.random(1000) < 0.7, rng.random(1000) < 0.7)

    def totals(index):
        t = DistributionTotals()
        t.add(kl[index], dp[index], same[index], (right[0][index], right[1][index]), None)
        return t

    whole = totals(np.arange(1000))
    parts = [totals(np.arange(i, min(i + 130, 1000))) for i in range(0, 1000, 130)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    backwards = parts[-1]
    for part in reversed(parts[:-1]):
        backwards = part.merge(backwards)
    assert merged == whole
    assert backwards == whole


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 0), (5, 9), (40, 61), (1000, 1100), (7, 7)])
def test_mcnemar_exact_p_is_scipys_binomial_test(b, c):
    expected = scipy.stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    assert mcnemar_p(b, c) == pytest.approx(expected, rel=1e-9)


def test_histogram_percentiles_within_their_relative_accuracy():
    rng = np.random.default_rng(10)
    values = np.concatenate([rng.lognormal(-8, 4, 3000), -rng.lognormal(-3, 2, 800), np.zeros(200)])
    rng.shuffle(values)
    sketch = LogHistogram()
    for chunk in np.array_split(values, 7):
        sketch.add(chunk)
    qs = [0.1, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9]
    ordered = np.sort(values)
    n = len(values)
    for q, got in zip(qs, sketch.percentiles(qs), strict=True):
        h = q / 100 * (n - 1)
        near = np.abs(ordered[[int(h), min(n - 1, int(h) + 1)]]).max()
        assert got == pytest.approx(np.percentile(values, q), abs=ALPHA * near * 1.000001)
    assert sketch.percentiles([0, 100]) == [values.min(), values.max()]


def test_llama_cpp_printout_formulas(tmp_path):
    """llama.cpp's --kl-divergence summary, its formulas re-implemented on the same rows:
    mean_and_uncertainty(sum, sum2, n) = (f, sqrt((sum2/n - f^2)/(n-1))), covariance,
    Cor = cov / (se_q se_base), ln(PPL(Q)/PPL(base)) with sqrt(se_q^2 + se_b^2 - 2 cov), RMS
    dp with 0.5/rms x se(dp^2), Same top p with sqrt(p(1-p)/(n-1))."""
    y, zb, zc = _logits(11)
    base, cand = _files(tmp_path, y, zb, zc)
    _, report = _json(base, cand)
    rows = np.arange(N)
    nll = -scipy.special.log_softmax(zc, axis=1)[rows, y]
    nll_base = -scipy.special.log_softmax(zb, axis=1)[rows, y]
    pb, pc = scipy.special.softmax(zb, axis=1), scipy.special.softmax(zc, axis=1)
    kld = scipy.special.rel_entr(pb, pc).sum(axis=1)
    p_diff = pc[rows, y] - pb[rows, y]

    def mean_and_uncertainty(s, s2, n):
        f = s / n
        return f, math.sqrt((s2 / n - f * f) / (n - 1))

    def covariance(a, b, ab, n):
        return (ab / n - (a / n) * (b / n)) / (n - 1)

    log_ppl = mean_and_uncertainty(nll.sum(), (nll**2).sum(), N)
    log_ppl_base = mean_and_uncertainty(nll_base.sum(), (nll_base**2).sum(), N)
    cov = covariance(nll.sum(), nll_base.sum(), (nll * nll_base).sum(), N)
    cor = cov / (log_ppl[1] * log_ppl_base[1])
    ratio = log_ppl[0] - log_ppl_base[0]
    ratio_unc = math.sqrt(log_ppl[1] ** 2 + log_ppl_base[1] ** 2 - 2 * cov)
    kl = mean_and_uncertainty(kld.sum(), (kld**2).sum(), N)
    dp = mean_and_uncertainty(p_diff.sum(), (p_diff**2).sum(), N)
    mse = mean_and_uncertainty((p_diff**2).sum(), (p_diff**4).sum(), N)
    rms, rms_unc = math.sqrt(mse[0]), 0.5 / math.sqrt(mse[0]) * mse[1]
    same = (zb.argmax(axis=1) == zc.argmax(axis=1)).mean()
    same_unc = math.sqrt(same * (1 - same) / (N - 1))
    block = report["distribution"]
    assert report["correlation"] == pytest.approx(cor, rel=1e-9)  # Cor(ln PPL(Q), ln PPL(base))
    assert report["delta"] == pytest.approx(ratio, rel=1e-9)  # Mean ln(PPL(Q)/PPL(base))
    assert report["ci"]["se"] == pytest.approx(ratio_unc, rel=1e-6)
    assert report["perplexity_ratio"] == pytest.approx(math.exp(ratio), rel=1e-9)
    assert block["kl"]["mean"] == pytest.approx(kl[0], rel=1e-9)  # Mean KLD
    assert block["kl"]["se"] == pytest.approx(kl[1], rel=1e-6)
    assert block["delta_p"]["mean"] == pytest.approx(dp[0], rel=1e-9)  # Mean dp
    assert block["delta_p"]["se"] == pytest.approx(dp[1], rel=1e-6)
    assert block["delta_p"]["rms"] == pytest.approx(rms, rel=1e-9)  # RMS dp
    assert block["delta_p"]["rms_se"] == pytest.approx(rms_unc, rel=1e-6)
    assert block["top1_agreement"]["rate"] == pytest.approx(same, rel=1e-12)  # Same top p
    assert block["top1_agreement"]["se"] == pytest.approx(same_unc, rel=1e-9)
    assert block["kl"]["percentiles"]["50"] == pytest.approx(np.median(kld), rel=2 * ALPHA)


def test_outputs_carry_the_block(tmp_path):
    y, zb, zc = _logits(12)
    base, cand = _files(tmp_path, y, zb, zc)
    table = invoke("compare", base, cand)
    assert table.exit_code == 0
    assert "what changed: churn" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())
    csv = invoke("compare", base, cand, "-f", "csv").stdout
    assert "figure,distribution.kl.mean," in csv
    assert "figure,perplexity_ratio," in csv
    md = invoke("compare", base, cand, "-f", "markdown").stdout
    assert "churn" in md
    page = tmp_path / "page.html"
    assert invoke("compare", base, cand, "--plot", page).exit_code == 0
    text = page.read_text()
    assert "<svg" in text
    assert "KL(baseline || candidate)" in text


def test_wrong_options_are_one_line_exit_2(tmp_path):
    y, zb, zc = _logits(13)
    base, cand = _files(tmp_path, y, zb, zc)
    for args, words in (
        (("--max-churn", "1.5"), "--max-churn"),
        (("--max-kl", "-1"), "--max-kl"),
        (("--pair-by", "doc"), "--pair-by doc"),
        (("--pair-by", "id"), "--id"),
        (("--no-distribution", "--max-kl", "1"), "--no-distribution"),
        (("--plot", tmp_path / "x.txt"), "--plot"),
    ):
        result = invoke("compare", base, cand, *args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.stderr
        assert "Traceback" not in result.stderr


def test_no_distribution_leaves_the_block_out(tmp_path):
    y, zb, zc = _logits(14)
    base, cand = _files(tmp_path, y, zb, zc)
    _, report = _json(base, cand, "--no-distribution")
    assert "distribution" not in report
    assert report["correlation"] is not None
    api = compare(str(base), str(cand), distribution=False)
    assert api.distribution is None
