"""Mergeable percentile sketch: bucket arithmetic, merging, the stated bound, the SQL path."""

from __future__ import annotations

import itertools
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from ddsketch import DDSketch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irkit.analysis import latency
from irkit.analysis import sketch as sk
from irkit.errors import IrkitError

ALPHA = sk.RELATIVE_ACCURACY
QS = list(sk.QUANTILES.values())
# durations as logs may carry them: zeros, sub-ms, huge, and the odd negative
durations = st.floats(min_value=-1e6, max_value=1e12, allow_nan=False, allow_infinity=False)


def _bins(s: DDSketch) -> dict[tuple[int, int], float]:
    """A sketch's non-empty buckets as ``{(sign, key): count}`` (independent of store layout)."""
    out: dict[tuple[int, int], float] = {}
    for sign, store in ((1, s._store), (-1, s._negative_store)):
        for i, c in enumerate(store.bins):
            if c:
                out[(sign, i + store.offset)] = c
    if s._zero_count:
        out[(0, 0)] = s._zero_count
    return out


def _added_one_by_one(values) -> DDSketch:
    s = DDSketch(ALPHA)
    for v in values:
        s.add(float(v))
    return s


@settings(max_examples=60, deadline=None)
@given(st.lists(durations, min_size=1, max_size=300))
def test_vectorised_buckets_equal_ddsketch_add(values):
    assert _bins(sk.sketch_from_values(values)) == _bins(_added_one_by_one(values))


@settings(max_examples=60, deadline=None)
@given(st.lists(durations, min_size=1, max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_merge_of_chunk_sketches_equals_sketch_of_whole(values, cuts):
    edges = sorted({0, len(values), *(c % (len(values) + 1) for c in cuts)})
    chunks = [values[a:b] for a, b in itertools.pairwise(edges)]
    whole = sk.sketch_from_values(values)
    merged = sk.merge(sk.sketch_from_values(c) for c in chunks)
    merged_rev = sk.merge(sk.sketch_from_values(c) for c in reversed(chunks))
    assert _bins(merged) == _bins(whole) == _bins(merged_rev)
    assert merged.count == whole.count == len(values)
    assert sk.sketch_quantiles(merged, QS) == sk.sketch_quantiles(whole, QS)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 20_000),
       mu=st.floats(-2, 8), sigma=st.floats(0.05, 3))
def test_sketch_quantiles_within_bound_of_numpy(seed, n, mu, sigma):
    """The stated bound: (1 − α)·exact ≤ sketch ≤ (1 + α)·exact for numpy's linear quantile."""
    x = np.random.default_rng(seed).lognormal(mu, sigma, n)
    exact = np.quantile(x, QS)
    got, is_exact = sk.quantiles(x, QS, limit=0)
    assert not is_exact
    for g, e in zip(got, exact, strict=True):
        assert (1 - ALPHA) * e * (1 - 1e-12) <= g <= (1 + ALPHA) * e * (1 + 1e-12)
    # and ddsketch's own answer is within α of the lower order statistic, as its docs say
    lower = np.sort(x)[[math.floor(q * (n - 1)) for q in QS]]
    own = [sk.sketch_from_values(x).get_quantile_value(q) for q in QS]
    assert np.all(np.abs(np.array(own) - lower) <= ALPHA * lower * (1 + 1e-12))


def test_sketch_is_not_exact_on_skewed_data():
    """The bound is not vacuous: on spread-out data the sketch differs from numpy."""
    x = np.random.default_rng(7).lognormal(5, 1.5, 50_000)
    assert sk.quantiles(x, QS, limit=0)[0] != pytest.approx(np.quantile(x, QS), rel=1e-9)


def test_exact_below_threshold_and_edges():
    x = np.array([3.0, np.nan, 1.0, 2.0, 10.0])
    got, exact = sk.quantiles(x, QS, limit=4)
    assert exact and got == pytest.approx(np.quantile([1.0, 2.0, 3.0, 10.0], QS), rel=0)
    assert sk.quantiles([np.nan], QS) == ([None, None, None], True)
    assert sk.quantiles([0.0, 0.0, 0.0], QS, limit=0)[0] == [0.0, 0.0, 0.0]
    # magnitudes past the sketch's range are clamped, never an overflow or an inf
    got, _ = sk.quantiles([1.7e308, 1.79e308, np.inf, 5.0], QS, limit=0)
    assert all(math.isfinite(v) for v in got)


def test_threshold_from_environment(monkeypatch):
    values = np.random.default_rng(1).lognormal(4, 1, 500)
    exact = latency.percentiles(values)
    monkeypatch.setenv(sk.EXACT_MAX_ENV, "100")
    assert sk.exact_max() == 100
    approx = latency.percentiles(values)
    assert approx != exact
    for k in exact:
        assert abs(approx[k] - exact[k]) <= ALPHA * exact[k] + 0.1
    monkeypatch.setenv(sk.EXACT_MAX_ENV, "lots")
    with pytest.raises(IrkitError, match=sk.EXACT_MAX_ENV):
        sk.exact_max()


# -- DuckDB ------------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(durations, st.just(math.nan), st.just(math.inf)), max_size=300),
       st.integers(1, 5))
def test_sql_buckets_equal_python_buckets(values, parts):
    con = duckdb.connect()
    frame = pd.DataFrame({"v": pd.array(values, dtype="float64"),
                          "part": [i % parts for i in range(len(values))]})
    con.register("t", frame)
    whole = con.sql(sk.bucket_partial_sql("t", "v")).fetchall()
    partial = " UNION ALL ".join(
        f"({sk.bucket_partial_sql(f'(SELECT * FROM t WHERE part = {p})', 'v')})"
        for p in range(parts))
    combined = con.sql(sk.bucket_combine_sql(f"({partial})")).fetchall()
    sign, keys = sk.bucket_keys(values)
    py = {}
    for s, k in zip(sign.tolist(), keys.tolist(), strict=True):
        py[(s, k)] = py.get((s, k), 0) + 1
    assert {(r[1], r[2]): r[3] for r in whole} == py
    assert {(r[1], r[2]): r[3] for r in combined} == py
    con.close()


@pytest.fixture
def grouped():
    rng = np.random.default_rng(11)
    n = 30_000
    frame = pd.DataFrame({
        "duration_ms": rng.lognormal(4, 1.3, n),
        "route": pd.array(rng.choice(["/a", "/b", "/c", None], n, p=[.6, .3, .09, .01]),
                          dtype="str"),
        "region": pd.array(rng.choice(["iad1", "fra1"], n), dtype="str"),
    })
    frame.loc[frame.index[::97], "duration_ms"] = np.nan
    con = duckdb.connect()
    con.register("reqs", frame)
    yield con, frame
    con.close()


@pytest.mark.parametrize("limit", [10**9, 3_000, 0])
def test_sql_group_percentiles_equal_pandas_path(grouped, limit):
    con, frame = grouped
    sql = sk.sql_group_percentiles(con, "reqs", "duration_ms", ["route"], limit=limit)
    py = sk.group_percentiles(frame["duration_ms"], frame["route"], limit=limit)
    sql = sql.loc[sql.index.notna()]  # pandas groupby drops the missing route
    assert list(sql.index) == list(py.index)
    assert sql["count"].tolist() == py["count"].tolist()
    assert sql["exact"].tolist() == py["exact"].tolist()
    for label in sk.QUANTILES:
        np.testing.assert_allclose(sql[label], py[label], rtol=1e-12)
    expected_exact = [c <= limit for c in py["count"]]
    assert py["exact"].tolist() == expected_exact
    if limit == 0:  # every row by sketch: within the bound of numpy's exact value
        for route, row in py.iterrows():
            vals = frame.loc[frame["route"] == route, "duration_ms"].dropna()
            for label, q in sk.QUANTILES.items():
                e = float(np.quantile(vals, q))
                assert abs(row[label] - e) <= ALPHA * e * (1 + 1e-12)


def test_sql_group_percentiles_two_keys_and_no_keys(grouped):
    con, frame = grouped
    two = sk.sql_group_percentiles(con, "reqs", "duration_ms", ["route", "region"], limit=5_000)
    assert two.index.names == ["route", "region"]
    sub = frame[(frame["route"] == "/a") & (frame["region"] == "fra1")]["duration_ms"].dropna()
    row = two.loc[("/a", "fra1")]
    assert row["count"] == len(sub) and not row["exact"]
    assert row["p95"] == pytest.approx(np.quantile(sub, 0.95), rel=ALPHA)
    small = two.loc[("/c", "iad1")]
    assert small["exact"]
    assert small["p50"] == pytest.approx(
        np.quantile(frame[(frame["route"] == "/c") & (frame["region"] == "iad1")]
                    ["duration_ms"].dropna(), 0.5), rel=1e-12)
    whole = sk.sql_group_percentiles(con, "reqs", "duration_ms")
    assert whole["count"].iloc[0] == frame["duration_ms"].notna().sum()
    assert bool(whole["exact"].iloc[0])
    assert whole["p99"].iloc[0] == pytest.approx(
        np.quantile(frame["duration_ms"].dropna(), 0.99), rel=1e-12)
    empty = sk.sql_group_percentiles(con, "(SELECT * FROM reqs WHERE false)", "duration_ms")
    assert len(empty) == 0


# -- findings with a lowered threshold ---------------------------------------------------------

def test_engine_findings_latency_within_bound(tmp_path, monkeypatch):
    """Exact below the threshold (today's findings), sketch above: the latency figures move by
    at most α relative (plus 0.1 ms of rounding), and nothing else in findings.json moves."""
    from irkit.analysis.findings import compute_findings
    from irkit.demo import generate
    from irkit.engine import get_engine
    from irkit.sources import load_report

    inc = generate(tmp_path / "demo", seed=5, events=6_000)
    paths = [str(p) for p in inc.logs] + [str(inc.traces)]
    loaded = load_report([*paths, str(inc.deployments), str(inc.metrics)])
    args = dict(incident_id="INC-1", severity="SEV2", deployments=loaded.deployments,
                metrics=loaded.metrics, rejected_count=len(loaded.rejected))
    exact = compute_findings(events=loaded.events, **args)
    monkeypatch.setenv(sk.EXACT_MAX_ENV, "5")
    engine = get_engine("local")
    parts, _ = engine.load(paths, tmp_path / "events")
    got = engine.findings(parts, **args)

    def pairs(a, b, path="latency_ms"):
        if isinstance(a, dict):
            for k in a:
                yield from pairs(a[k], b[k], f"{path}.{k}")
        elif isinstance(a, list):
            assert len(a) == len(b), path
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                yield from pairs(x, y, f"{path}[{i}]")
        elif isinstance(a, float):
            yield path, a, b
        else:
            assert a == b, path

    compared = list(pairs(got["latency_ms"], exact["latency_ms"]))
    assert len(compared) >= 9
    for path, g, e in compared:
        assert abs(g - e) <= ALPHA * abs(e) + 0.1, (path, g, e)
    assert any(g != e for _, g, e in compared)  # the sketch really answered
    drop = {"generated_at", "latency_ms"}
    assert {k: v for k, v in got.items() if k not in drop} == \
        {k: v for k, v in exact.items() if k not in drop}
