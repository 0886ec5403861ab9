"""``xent compare --by`` of language-model token files: every slice's paired delta, its
interval (cluster t over the slice's documents; t over rows without documents), perplexity
ratio and counts, computed here with pandas and scipy.stats on the same rows; every pairing;
whole documents with ``--pair-by doc``; the same slices for any order and split of the rows;
bad input as one line and exit 2."""

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

import xent_cli

from .conftest import invoke

LEVEL = 0.95


def _tokens(seed: int = 0, docs: int = 16) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A baseline and a candidate on the same tokens (aligned row by row). ``domain`` is a
    document's (``solo``: one document), ``script`` a token's; the candidate is worse on web."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(docs):
        domain = "solo" if d == 0 else ("news", "web", "code")[d % 3]
        for pos in range(int(rng.integers(6, 40))):
            rows.append({"doc_id": f"d{d:02d}", "position": pos,
                         "token_id": int(rng.integers(0, 50)),
                         "logprob": -float(rng.gamma(2.0, 1.0) + 0.1 * (d % 4)),
                         "n_bytes": int(rng.integers(1, 6)), "domain": domain,
                         "script": ("latin", "digits")[int(rng.integers(0, 2))],
                         "score": float(rng.uniform())})  # fmt: skip
    base = pd.DataFrame(rows)
    shift = np.where(base["domain"] == "web", 0.15, 0.0)
    noise = rng.normal(0, 0.3, len(base))
    cand = base.drop(columns=["domain", "script", "score"]).copy()
    cand["logprob"] = np.minimum(base["logprob"] - shift + noise, 0.0)
    return base, cand


def _write(frame: pd.DataFrame, path: Path) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=37)
    return path


def _json(*args) -> tuple[int, dict]:
    result = invoke("compare", *args, "-f", "json", "--no-progress")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _t(delta: float, se: float, df: int) -> tuple[float, float, float]:
    """The t interval and two-sided p of ``delta`` with ``se`` on ``df`` degrees of freedom."""
    half = scipy.stats.t.ppf(0.5 + LEVEL / 2, df) * se
    p = 2 * scipy.stats.t.sf(abs(delta / se), df)
    return delta - half, delta + half, p


def expected(base: pd.DataFrame, cand: pd.DataFrame, by: list[str], unit: str | None = None,
             documents: bool = True) -> dict[tuple, dict]:  # fmt: skip
    """Per slice of the baseline's rows: the interface's formulas, written out. With ``u``
    a row's units, ``delta = Σd / Σu``; with documents ``se² = D/(D-1) Σ_d (D_d - delta U_d)²
    / (Σu)²`` over the slice's (slice, document) sums, else every row its own cluster."""
    lb, lc = -base["logprob"].to_numpy(), -cand["logprob"].to_numpy()
    u = np.ones(len(base)) if unit is None else base[unit].to_numpy(float)
    frame = base[by].astype(str).assign(doc=base.get("doc_id"), lb=lb, lc=lc, d=lc - lb, u=u)
    total = u.sum()
    out = {}
    for key, g in frame.groupby(by):
        units = g["u"].sum()
        delta = g["d"].sum() / units
        if documents:
            sums = g.groupby("doc")[["d", "u"]].sum()
            count, spread = len(sums), ((sums["d"] - delta * sums["u"]) ** 2).sum()
        else:
            count, spread = len(g), ((g["d"] - delta * g["u"]) ** 2).sum()
        se = math.sqrt(count / (count - 1) * spread) / units if count > 1 else math.nan
        low, high, p = _t(delta, se, count - 1) if count > 1 else (-math.inf, math.inf, math.nan)
        out[tuple(key) if isinstance(key, tuple) else (key,)] = {
            "count": len(g), "units": units, "documents": count if documents else None,
            "loss_baseline": g["lb"].sum() / units, "loss_candidate": g["lc"].sum() / units,
            "delta": delta, "se": se, "df": count - 1, "low": low, "high": high, "p": p,
            "ratio": math.exp(delta), "ratio_low": math.exp(low), "ratio_high": math.exp(high),
            "contribution": g["d"].sum() / total,
        }  # fmt: skip
    return out


def check(report: dict, want: dict[tuple, dict], by: list[str], min_size: int = 20) -> None:
    slices = report["slices"]
    assert slices["by"] == by
    got = {tuple(g["key"][c] for c in by): g for g in slices["groups"]}
    assert got.keys() == want.keys()
    for key, w in want.items():
        g = got[key]
        assert g["count"] == w["count"], key
        assert g["units"] == w["units"]
        assert g["weight"] == w["units"]
        assert g["documents"] == w["documents"]
        assert g["df"] == w["df"]
        assert g["loss_baseline"] == pytest.approx(w["loss_baseline"], rel=1e-12)
        assert g["loss_candidate"] == pytest.approx(w["loss_candidate"], rel=1e-12)
        assert g["delta"] == pytest.approx(w["delta"], rel=1e-10, abs=1e-15)
        assert g["contribution"] == pytest.approx(w["contribution"], rel=1e-10, abs=1e-15)
        assert g["perplexity_ratio"] == pytest.approx(w["ratio"], rel=1e-12)
        assert g["small"] == (w["count"] < min_size)
        if w["df"] >= 1:
            assert g["se"] == pytest.approx(w["se"], rel=1e-9)
            assert g["ci_low"] == pytest.approx(w["low"], rel=1e-8)
            assert g["ci_high"] == pytest.approx(w["high"], rel=1e-8)
            assert g["p_value"] == pytest.approx(w["p"], rel=1e-7)
            assert g["perplexity_ratio_low"] == pytest.approx(w["ratio_low"], rel=1e-8)
            assert g["perplexity_ratio_high"] == pytest.approx(w["ratio_high"], rel=1e-8)
        else:  # one cluster: no interval
            assert (g["se"], g["ci_low"], g["ci_high"], g["p_value"]) == ("nan", "-inf", "inf",
                                                                          "nan")  # fmt: skip
    assert sum(g["contribution"] for g in slices["groups"]) == pytest.approx(report["delta"])
    eligible = [g for g in slices["groups"] if not g["small"]]
    assert slices["worst"] == max(eligible, key=lambda g: g["delta"])["key"]


@pytest.mark.parametrize("by", [["domain"], ["script"], ["domain", "script"]])
def test_slices_by_token_cluster_t_over_each_slices_documents(tmp_path, by):
    base, cand = _tokens()
    b = _write(base, tmp_path / "b.parquet")
    c = _write(cand.sample(frac=1.0, random_state=5), tmp_path / "c.parquet")  # any order
    code, report = _json(b, c, "--by", ",".join(by))
    assert code == 0
    assert report["pair_by"] == "token"
    assert report["slices"]["interval"] == {"method": "cluster-t", "level": LEVEL}
    check(report, expected(base, cand, by), by)
    assert report["gate"]["max_slice_regression"] is None


def test_a_slice_of_one_document_has_no_interval(tmp_path):
    base, cand = _tokens()
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, report = _json(b, c, "--by", "domain")
    (solo,) = [g for g in report["slices"]["groups"] if g["key"] == {"domain": "solo"}]
    assert solo["documents"] == 1
    assert solo["df"] == 0
    assert solo["ci_low"] == "-inf"
    assert solo["ci_high"] == "inf"
    lb, lc = -base["logprob"], -cand["logprob"]
    one = base["domain"] == "solo"
    assert solo["delta"] == pytest.approx((lc[one] - lb[one]).mean(), rel=1e-10)


def test_slices_per_byte(tmp_path):
    base, cand = _tokens(3)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, report = _json(b, c, "--by", "domain", "--per", "byte", "--base", "2")
    want = expected(base, cand, ["domain"], unit="n_bytes")
    for w in want.values():  # bits: every loss, delta, se and end over ln 2; ratios stay
        for name in ("loss_baseline", "loss_candidate", "delta", "se", "low", "high",
                     "contribution"):  # fmt: skip
            w[name] /= math.log(2)
    got = {g["key"]["domain"]: g for g in report["slices"]["groups"]}
    assert got["web"]["tokens"] == int((base["domain"] == "web").sum())
    check(report, want, ["domain"])


def test_without_documents_the_paired_t_over_each_slices_tokens(tmp_path):
    base, cand = _tokens(4)
    base, cand = base.drop(columns=["doc_id"]), cand.drop(columns=["doc_id"])
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, report = _json(b, c, "--by", "domain")
    assert report["pair_by"] == "row"
    assert report["slices"]["interval"]["method"] == "t"
    check(report, expected(base, cand, ["domain"], documents=False), ["domain"])
    lb, lc = -base["logprob"], -cand["logprob"]
    for g in report["slices"]["groups"]:
        rows = (base["domain"] == g["key"]["domain"]).to_numpy()
        d = (lc - lb)[rows]
        test = scipy.stats.ttest_rel(lc[rows], lb[rows])
        se = d.std(ddof=1) / len(d) ** 0.5
        low, high = scipy.stats.t.interval(LEVEL, len(d) - 1, d.mean(), se)
        assert g["p_value"] == pytest.approx(test.pvalue, rel=1e-8)
        assert g["ci_low"] == pytest.approx(low, rel=1e-8)
        assert g["ci_high"] == pytest.approx(high, rel=1e-8)


def test_every_token_pairing_gives_the_same_slices(tmp_path):
    base, cand = _tokens(6)
    base = base.assign(key=base["doc_id"] + ":" + base["position"].astype(str))
    cand = cand.assign(key=base["key"])
    b = _write(base, tmp_path / "b.parquet")
    c = _write(cand, tmp_path / "c.parquet")
    shuffled = _write(cand.sample(frac=1.0, random_state=7), tmp_path / "s.parquet")
    _, by_token = _json(b, shuffled, "--by", "domain,script")
    _, by_row = _json(b, c, "--by", "domain,script", "--pair-by", "row")
    _, by_id = _json(b, shuffled, "--by", "domain,script", "--id", "key")
    assert by_id["pair_by"] == "id"
    assert by_row["slices"] == by_token["slices"] == by_id["slices"]
    check(by_id, expected(base, cand, ["domain", "script"]), ["domain", "script"])


def test_the_same_slices_for_any_order_and_split_of_the_rows(tmp_path):
    base, cand = _tokens(8)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, whole = _json(b, c, "--by", "domain,script")
    shuffled = base.sample(frac=1.0, random_state=9)
    half = len(shuffled) // 2 + 1  # documents cut in two
    folder = tmp_path / "parts"
    folder.mkdir()
    _write(shuffled.iloc[:half], folder / "0.parquet")
    _write(shuffled.iloc[half:], folder / "1.parquet")
    _, split = _json(folder, _write(cand.sample(frac=1.0, random_state=1), tmp_path / "s.parquet"),
                     "--by", "domain,script")  # fmt: skip
    assert split["slices"] == whole["slices"]
    assert split["delta"] == whole["delta"]


def _retokenized(base: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same documents' bytes cut into other tokens, with other losses."""
    rng = np.random.default_rng(seed)
    rows = []
    for doc, group in base.groupby("doc_id"):
        total = int(group["n_bytes"].sum())
        cuts = np.sort(rng.choice(np.arange(1, total), size=max(1, total // 4), replace=False))
        for pos, size in enumerate(np.diff(np.concatenate([[0], cuts, [total]]))):
            rows.append({"doc_id": doc, "position": pos, "token_id": 0,
                         "logprob": -float(rng.gamma(2.0, 1.0)), "n_bytes": int(size)})  # fmt: skip
    return pd.DataFrame(rows)


def test_pair_by_doc_slices_whole_documents(tmp_path):
    base, _ = _tokens(10)
    cand = _retokenized(base, 11)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    code, report = _json(b, c, "--by", "domain", "--pair-by", "doc", "--per", "byte",
                         "--min-slice-size", "2")  # fmt: skip
    assert code == 0
    per_doc = base.assign(l=-base["logprob"]).groupby("doc_id")
    sb = per_doc.agg(l=("l", "sum"), u=("n_bytes", "sum"), tokens=("l", "size"),
                     domain=("domain", "first"))  # fmt: skip
    sc = cand.assign(l=-cand["logprob"]).groupby("doc_id")[["l", "n_bytes"]].sum()
    sc = sc.rename(columns={"n_bytes": "u"}).loc[sb.index]
    total_b, total_c = sb["u"].sum(), sc["u"].sum()
    assert report["slices"]["interval"]["method"] == "cluster-t"
    got = {g["key"]["domain"]: g for g in report["slices"]["groups"]}
    assert set(got) == set(sb["domain"])
    for domain, g in got.items():
        mine = (sb["domain"] == domain).to_numpy()
        b_s, c_s = sb[mine], sc[mine]
        rb, rc = b_s["l"].sum() / b_s["u"].sum(), c_s["l"].sum() / c_s["u"].sum()
        ub, uc = b_s["u"].sum(), c_s["u"].sum()
        z = (c_s["l"] - rc * c_s["u"]) / uc - (b_s["l"] - rb * b_s["u"]) / ub
        count = len(b_s)
        assert g["count"] == g["documents"] == count
        assert g["tokens"] == b_s["tokens"].sum()
        assert g["units"] == b_s["u"].sum()
        assert g["loss_baseline"] == pytest.approx(rb, rel=1e-12)
        assert g["loss_candidate"] == pytest.approx(rc, rel=1e-12)
        assert g["delta"] == pytest.approx(rc - rb, rel=1e-10)
        assert g["perplexity_ratio"] == pytest.approx(math.exp(rc - rb), rel=1e-10)
        contribution = c_s["l"].sum() / total_c - b_s["l"].sum() / total_b
        assert g["contribution"] == pytest.approx(contribution, rel=1e-10)
        assert g["small"] == (count < 2)
        if count > 1:
            se = math.sqrt(count / (count - 1) * (z**2).sum())
            low, high, p = _t(rc - rb, se, count - 1)
            assert g["se"] == pytest.approx(se, rel=1e-9)
            assert g["ci_low"] == pytest.approx(low, rel=1e-8)
            assert g["ci_high"] == pytest.approx(high, rel=1e-8)
            assert g["p_value"] == pytest.approx(p, rel=1e-7)
    assert sum(g["contribution"] for g in got.values()) == pytest.approx(report["delta"])
    table = invoke("compare", b, c, "--by", "domain", "--pair-by", "doc", "--per", "byte").stdout
    assert "* small (< 20 documents): not gated" in table


def test_pair_by_doc_refuses_a_document_in_two_slices(tmp_path):
    base, cand = _tokens(12)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    result = invoke("compare", b, c, "--by", "script", "--pair-by", "doc")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    first, *rest = result.stderr.splitlines()
    assert first.startswith("xent: error: --by script: document ")
    assert "has rows in more than one slice" in first
    assert all(line.startswith("  hint:") for line in rest)


def test_the_candidates_slice_column_is_never_read(tmp_path):
    base, cand = _tokens(14)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, report = _json(b, c, "--by", "domain")
    other = _write(cand.assign(domain="elsewhere"), tmp_path / "o.parquet")
    _, again = _json(b, other, "--by", "domain")
    assert again["slices"] == report["slices"]


def test_min_slice_size_and_the_slice_gate(tmp_path):
    base, cand = _tokens(16)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    args = [b, c, "--by", "domain"]
    _, report = _json(*args, "--min-slice-size", "100")
    groups = report["slices"]["groups"]
    assert report["slices"]["min_size"] == 100
    assert [g["small"] for g in groups] == [g["count"] < 100 for g in groups]
    _, report = _json(*args)
    eligible = [g for g in report["slices"]["groups"] if not g["small"] and g["df"] >= 1]
    worst = max(eligible, key=lambda g: g["delta"])
    assert worst["key"] == {"domain": "web"}  # the candidate is worse on web
    code, report = _json(*args, "--max-slice-regression", str(worst["delta"] * 1.001))
    assert code == 0
    assert report["gate"]["max_slice_regression"] == worst["delta"] * 1.001
    code, report = _json(*args, "--max-slice-regression", str(worst["delta"] * 0.999))
    assert code == 1
    (reason,) = report["gate"]["reasons"]
    assert f"worst: domain=web with delta {worst['delta']:+.6g} ({worst['count']} rows)" in reason
    between = (worst["delta"] + worst["ci_high"]) / 2
    assert _json(*args, "--max-slice-regression", str(between))[0] == 0
    code, report = _json(*args, "--max-slice-regression", str(between), "--fail-on", "ci")
    assert code == 1
    assert "interval's upper end" in report["gate"]["reasons"][0]
    # significant: delta above the limit and the one-sided t test (cluster t) rejecting it
    limit = worst["delta"] - 3 * worst["se"]
    p = scipy.stats.t.sf((worst["delta"] - limit) / worst["se"], worst["df"])
    code, _ = _json(*args, "--max-slice-regression", str(limit), "--fail-on", "significant")
    assert code == (1 if p < 1 - LEVEL else 0)


def test_a_numeric_column_binned_and_bad_slices_are_one_line(tmp_path):
    base, cand = _tokens(18)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, report = _json(b, c, "--by", "score:3")
    groups = report["slices"]["groups"]
    assert len(groups) == 3
    assert sum(g["count"] for g in groups) == len(base)
    for args, words in (
        (("--by", "nope"), "nope"),
        (("--by", "score"), "score:N"),
        (("--max-slice-regression", "0.1"), "needs --by"),
        (("--by", "domain", "--max-slice-regression", "-1"), "--max-slice-regression"),
    ):
        result = invoke("compare", b, c, *args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        lines = result.stderr.splitlines()
        assert lines[0].startswith("xent: error:")
        assert words in result.stderr
        assert all(line.startswith("  hint:") for line in lines[1:])


def test_python_api_gives_the_same_slices(tmp_path):
    base, cand = _tokens(20)
    b, c = _write(base, tmp_path / "b.parquet"), _write(cand, tmp_path / "c.parquet")
    _, cli = _json(b, c, "--by", "domain,script", "--min-slice-size", "30")
    report = xent_cli.compare(base, cand, by="domain,script", min_slice_size=30)
    assert report.slices is not None
    assert report.to_dict()["slices"] == cli["slices"]
    from_paths = xent_cli.compare(str(b), str(c), by="domain,script", min_slice_size=30)
    assert from_paths.to_dict()["slices"] == cli["slices"]
    with pytest.raises(xent_cli.XentError, match="more than one slice"):
        xent_cli.compare(base, cand, by="script", pair_by="doc")


def test_tables_show_the_slices_largest_delta_first(tmp_path, monkeypatch):
    base, cand = _tokens(22)
    monkeypatch.chdir(tmp_path)
    _write(base, tmp_path / "b.parquet")
    _write(cand, tmp_path / "c.parquet")
    args = ["b.parquet", "c.parquet", "--by", "domain", "--no-progress"]
    _, report = _json(*args)
    order = [g["key"]["domain"] for g in sorted(report["slices"]["groups"],
                                                key=lambda g: -g["delta"])]  # fmt: skip
    table = invoke("compare", *args).stdout
    assert "95% cluster-t intervals (by documents)" in table
    assert "ppl ratio" not in table  # 80 columns: the perplexity ratio is dropped first
    monkeypatch.setenv("COLUMNS", "100")
    table = invoke("compare", *args).stdout
    assert "ppl ratio" in table
    rows = [line.split()[0] for line in table.splitlines() if line.startswith("domain=")]
    assert rows == [f"domain={d}" for d in order]
    markdown = invoke("compare", *args, "-f", "markdown").stdout
    assert "| slice | count | baseline | candidate | delta | interval | ppl ratio |" in markdown
    csv = invoke("compare", *args, "-f", "csv").stdout
    slices = [line.split(",") for line in csv.splitlines() if line.startswith("slice,")]
    assert [r[1] for r in slices] == [f"domain={d}" for d in order]
    assert [float(r[5]) for r in slices] == [
        next(g["delta"] for g in report["slices"]["groups"] if g["key"]["domain"] == d)
        for d in order
    ]


def test_every_groups_cluster_se_at_once_is_each_groups_own():
    from xent_cli.comparison.token_stats import cluster_se, cluster_se_by

    rng = np.random.default_rng(24)
    n = 200
    group = rng.integers(0, 7, n).astype(np.intp)
    group[group == 6] = 5
    group[0] = 6  # a group of one document: no se
    lb, lc = rng.gamma(2.0, 50.0, n), rng.gamma(2.0, 50.0, n)
    ub, uc = rng.integers(1, 80, n).astype(float), rng.integers(1, 80, n).astype(float)
    total_b = np.bincount(group, weights=ub, minlength=7)
    total_c = np.bincount(group, weights=uc, minlength=7)
    se, df = cluster_se_by(group, 7, (lb, lc, ub, uc), total_b, total_c)
    for g in range(7):
        mine = group == g
        one = cluster_se(lb[mine], lc[mine], ub[mine], uc[mine], total_b[g], total_c[g])
        assert df[g] == one[1]
        assert (math.isnan(se[g]) and math.isnan(one[0])) or se[g] == one[0]  # bit for bit


def test_csv_and_parquet_copies_give_the_same_slices(tmp_path):
    base, cand = _tokens(26)
    paths = {}
    for name, frame in (("b", base), ("c", cand)):
        paths[name, "parquet"] = _write(frame, tmp_path / f"{name}.parquet")
        paths[name, "csv"] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name, "csv"], index=False)
    reports = [
        _json(paths["b", kind], paths["c", kind], "--by", "domain,n_bytes,score:2")[1]["slices"]
        for kind in ("parquet", "csv")
    ]
    assert reports[0] == reports[1]
    assert len(reports[0]["groups"]) > 10
