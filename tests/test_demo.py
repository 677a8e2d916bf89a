"""The demo incident generator: deterministic, loadable, and its truth matches its data."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import irkit
from irkit import demo, schema

pytestmark = pytest.mark.xdist_group("demo")

EVENTS = 20_000


def digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def files(inc: demo.DemoIncident) -> list[Path]:
    return [*inc.logs, inc.deployments, inc.metrics, inc.traces]


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoIncident:
    return demo.generate(tmp_path_factory.mktemp("demo"), seed=7, events=EVENTS)


@pytest.fixture(scope="module")
def events(incident: demo.DemoIncident) -> pd.DataFrame:
    return irkit.load(incident.logs)


@pytest.fixture(scope="module")
def requests(events: pd.DataFrame) -> pd.DataFrame:
    """One row per request: receipt time (first row), status, REPORT duration, ip, source."""
    first = events.sort_values("timestamp").groupby("request_id", sort=False)
    return pd.DataFrame({
        "timestamp": first["timestamp"].min(),
        "status": first["status_code"].max(),
        "duration": first["duration_ms"].max(),
        "ip": first["client_ip"].first(),
        "source": first["source"].first(),
        "deployment": first["deployment_id"].first(),
    })


def ts(text: str | None) -> pd.Timestamp:
    return pd.Timestamp(text)


# ------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = demo.generate(tmp_path / "a", seed=3, events=3000)
    b = demo.generate(tmp_path / "b", seed=3, events=3000)
    c = demo.generate(tmp_path / "c", seed=4, events=3000)
    assert digest(files(a)) == digest(files(b))
    assert a.truth == b.truth
    assert digest(a.logs) != digest(c.logs)
    assert a.truth["bad_deployment_id"] != c.truth["bad_deployment_id"]


def test_unknown_scenario_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown demo scenario 'nope'"):
        demo.generate(tmp_path, scenario="nope")


# ------------------------------------------------------------------ raw shapes


def test_drain_lines_follow_the_current_schema(incident: demo.DemoIncident) -> None:
    assert incident.logs[1].suffix == ".gz"
    lines = incident.logs[0].read_text().splitlines()[:2000]
    lines += gzip.decompress(incident.logs[1].read_bytes()).decode().splitlines()[:2000]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(re.fullmatch(r"\d{28}", r["id"]) for r in records)
    assert len({r["id"] for r in records}) == len(records)
    assert all(re.fullmatch(r"[a-z]+\d::iad1::[a-z0-9]{5}-\d{13}-[0-9a-f]{12}", r["requestId"])
               for r in records)
    assert all(isinstance(r["proxy"]["userAgent"], list) for r in records)
    assert {r["source"] for r in records} >= {"lambda", "static", "edge"}
    assert {r["proxy"]["region"] for r in records} >= {"iad1", "sfo1", "fra1", "cdg1", "bom1"}
    traced = [r for r in records if "traceId" in r]
    assert traced and all(r["trace.id"] == r["traceId"] for r in traced)
    reports = [r["message"] for r in records if r.get("message", "").startswith("REPORT ")]
    assert reports and all(re.search(r"Duration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory "
                                     r"Size: 1024 MB\tMax Memory Used: \d+ MB", m) for m in reports)
    times = [r["timestamp"] for r in records[:2000]]
    assert times == sorted(times)


# ------------------------------------------------------------------ truth vs data


def test_logs_load_completely(incident: demo.DemoIncident, events: pd.DataFrame) -> None:
    schema.validate(events)
    assert len(events) == incident.truth["events"]
    assert events.attrs["irkit"]["rejected"] == 0
    deployments = irkit.load_deployments(incident.deployments)
    assert set(events["deployment_id"]) <= set(deployments["deployment_id"])
    assert deployments["deployment_id"].tolist() == incident.truth["deployment_ids"]


def test_deployments_tell_the_story(incident: demo.DemoIncident) -> None:
    truth = incident.truth
    deps = irkit.load_deployments(incident.deployments).set_index("deployment_id")
    bad, rollback = deps.loc[truth["bad_deployment_id"]], deps.loc[truth["rollback_deployment_id"]]
    start, onset = ts(truth["window_start"]), ts(truth["onset"])
    assert start < bad["created"] < bad["ready"] <= onset < bad["ready"] + pd.Timedelta("5s")
    assert rollback["source"] == "redeploy"
    assert rollback["ready"] <= ts(truth["recovery"]) < ts(truth["window_end"])
    good = deps.drop([truth["bad_deployment_id"], truth["rollback_deployment_id"]]).iloc[0]
    assert good["created"] < start and rollback["commit_sha"] == good["commit_sha"]
    assert bad["commit_sha"] != good["commit_sha"] and bad["author"]


def test_error_rate_jumps_at_onset_and_recovers(incident: demo.DemoIncident,
                                                requests: pd.DataFrame) -> None:
    truth = incident.truth
    onset, recovery = ts(truth["onset"]), ts(truth["recovery"])
    normal = requests[~requests["ip"].isin(truth["attacker_ips"])]
    failed = normal["status"] >= 500
    before = failed[normal["timestamp"] < onset].mean()
    during = failed[(normal["timestamp"] >= onset) & (normal["timestamp"] < recovery)].mean()
    after = failed[normal["timestamp"] >= recovery + pd.Timedelta("1min")].mean()
    assert before == pytest.approx(truth["error_rate_before"], abs=0.002)
    assert during == pytest.approx(truth["error_rate_during"], abs=0.002)
    assert during > 10 * before and after < 3 * before + 0.002


def test_new_pattern_only_from_the_bad_deployment(incident: demo.DemoIncident,
                                                  events: pd.DataFrame) -> None:
    truth = incident.truth
    head = truth["new_pattern_example"].splitlines()[0]
    assert head == "TypeError: Cannot read properties of undefined (reading 'id')"
    new = events[events["message"].str.startswith(head, na=False)]
    assert len(new) > 50
    assert set(new["deployment_id"]) == {truth["bad_deployment_id"]}
    assert new["timestamp"].min() >= ts(truth["onset"])
    assert new["timestamp"].max() < ts(truth["recovery"]) + pd.Timedelta("15s")
    assert new["message"].str.contains("\n    at handler (/var/task/.next/server/app/api/orders/"
                                       "[orderId]/route.js:", regex=False).all()
    assert set(new["level"]) == {"error"} and set(new["status_code"]) == {500}
    assert new["message"].nunique() > 10  # line/col and digest vary
    # background errors exist before the onset, but not this pattern
    early = events[(events["timestamp"] < ts(truth["onset"])) & (events["level"] == "error")]
    assert len(early) > 0 and early["message"].str.startswith("Error: connect ETIMEDOUT").all()


def test_latency_truth_matches_report_durations(incident: demo.DemoIncident,
                                                requests: pd.DataFrame) -> None:
    truth = incident.truth
    onset, recovery = ts(truth["onset"]), ts(truth["recovery"])
    fn = requests[requests["duration"].notna()]
    before = fn[fn["timestamp"] < onset]["duration"]
    during = fn[(fn["timestamp"] >= onset) & (fn["timestamp"] < recovery)]["duration"]
    assert before.median() == pytest.approx(truth["latency_before_p50"], rel=0.1)
    assert before.quantile(0.95) == pytest.approx(truth["latency_before_p95"], rel=0.1)
    assert during.median() == pytest.approx(truth["latency_after_p50"], rel=0.1)
    assert during.quantile(0.95) == pytest.approx(truth["latency_after_p95"], rel=0.1)
    assert truth["latency_after_p50"] > 1.4 * truth["latency_before_p50"]


def test_attackers_and_heavy_benign_clients(incident: demo.DemoIncident,
                                            events: pd.DataFrame) -> None:
    truth = incident.truth
    (scanner,), (brute,) = truth["scanner_ips"], truth["bruteforce_ips"]
    probes = events[events["client_ip"] == scanner]
    assert len(probes) >= 40 and set(probes["status_code"]) <= {403, 404}
    assert {"/.env", "/.git/config", "/wp-login.php"} <= set(probes["path"])
    assert probes["user_agent"].str.contains("sqlmap|Nikto|curl").all()
    logins = events[(events["client_ip"] == brute) & events["request_id"].notna()]
    assert logins["request_id"].nunique() >= 120
    assert set(logins["path"]) == {"/api/login"} and set(logins["method"]) == {"POST"}
    assert set(logins["status_code"]) == {401}
    span = logins["timestamp"].max() - logins["timestamp"].min()
    assert span < pd.Timedelta("15min")  # a burst
    crawler, nat = truth["benign_heavy_ips"]
    bot = events[events["client_ip"] == crawler]
    assert bot["user_agent"].str.contains("Googlebot").all() and bot["path"].nunique() > 10
    office = events[events["client_ip"] == nat]
    assert office["user_agent"].nunique() >= 4 and office["request_id"].nunique() > 300
    assert (office["status_code"].dropna() < 500).mean() > 0.9


def test_metrics_count_every_request(incident: demo.DemoIncident) -> None:
    m = irkit.load_metrics(incident.metrics)
    schema.validate(m, "metrics")
    assert m["timestamp"].notna().all()
    assert m["timestamp"].nunique() == 120  # one scrape per minute over two hours
    last = m[m["timestamp"] == m["timestamp"].max()]
    total = last[last["name"] == "http_requests_total"]["value"].sum()
    assert total == incident.truth["requests"]
    counters = last[last["name"] == "http_requests_total"]
    failed = counters[counters["labels"].map(lambda lb: lb["status"].startswith("5"))]
    assert failed["value"].sum() > 0
    buckets = last[last["name"] == "http_request_duration_seconds_bucket"]
    assert {lb["le"] for lb in buckets["labels"]} >= {"0.1", "1", "+Inf"}


def test_trace_spans_match_report_durations(incident: demo.DemoIncident, events: pd.DataFrame,
                                            requests: pd.DataFrame) -> None:
    spans = irkit.load(incident.traces)
    schema.validate(spans)
    roots = spans[spans["type"] == "server"]
    assert len(roots) > 100 and set(spans["source"]) == {"trace"}
    traced = events.dropna(subset=["trace_id"]).drop_duplicates("trace_id")
    joined = roots.drop(columns="request_id").merge(
        traced[["trace_id", "request_id"]], on="trace_id", how="left")
    assert joined["request_id"].notna().all()  # every root span is a drained request
    durations = requests["duration"].reindex(joined["request_id"]).to_numpy(dtype=float)
    assert joined["duration_ms"].to_numpy(dtype=float) == pytest.approx(durations, abs=0.01)
    assert (roots["level"] == "error").tolist() == (roots["status_code"] >= 500).tolist()
    type_errors = roots[roots["status_code"] == 500]  # 504s are the background DB timeouts
    assert set(type_errors["deployment_id"]) == {incident.truth["bad_deployment_id"]}


# ------------------------------------------------------------------ other scenarios


@pytest.mark.parametrize("scenario", ["latency_creep", "no_deployment", "low_traffic", "quiet"])
def test_other_scenarios(scenario: str, tmp_path: Path) -> None:
    inc = demo.generate(tmp_path, seed=1, events=6000, scenario=scenario)
    truth = inc.truth
    ev = irkit.load(inc.logs)
    deps = irkit.load_deployments(inc.deployments)
    assert len(ev) == truth["events"] and ev.attrs["irkit"]["rejected"] == 0
    errors = ev[ev["level"].isin(schema.ERROR_LEVELS)]
    start = ts(truth["window_start"])
    if scenario == "quiet":
        assert errors.empty and len(deps) == 1 and deps["created"].iloc[0] < start
        assert truth["onset"] is None and truth["bad_deployment_id"] is None
        assert truth["attacker_ips"] == []
    elif scenario == "no_deployment":
        assert (deps["created"] < start).all() and truth["bad_deployment_id"] is None
        onset, recovery = ts(truth["onset"]), ts(truth["recovery"])
        assert errors["message"].str.startswith("Error: connect ETIMEDOUT").all()
        inside = errors[(errors["timestamp"] >= onset) & (errors["timestamp"] < recovery)]
        assert len(inside) > 5 * len(errors[errors["timestamp"] < onset])
        assert (errors["timestamp"] < onset).any()  # the pattern is not new
    elif scenario == "latency_creep":
        assert truth["recovery"] is None and truth["rollback_deployment_id"] is None
        assert truth["bad_deployment_id"] in set(deps["deployment_id"])
        assert truth["latency_after_p50"] > 1.5 * truth["latency_before_p50"]
        assert not errors["message"].str.startswith("TypeError").any()
    else:  # low_traffic: the default story with a trickle of requests
        assert truth["events"] < 600 and truth["attacker_ips"] == []
        assert errors["message"].str.startswith("TypeError").any()
        assert truth["bad_deployment_id"] in set(deps["deployment_id"])


def test_streaming_writer_for_benchmarks(tmp_path: Path) -> None:
    plain = demo.write_drain_ndjson(tmp_path / "big.ndjson", 12_345, seed=5)
    packed = demo.write_drain_ndjson(tmp_path / "big.ndjson.gz", 12_345, seed=5)
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    again = demo.write_drain_ndjson(tmp_path / "again.ndjson.gz", 12_345, seed=5)
    assert again.read_bytes() == packed.read_bytes()
    ev = irkit.load(plain)
    assert len(ev) == 12_345 and ev.attrs["irkit"]["rejected"] == 0
    assert ev["timestamp"].is_monotonic_increasing
    assert ev["duration_ms"].notna().sum() > 1000  # REPORT lines
    assert (ev["level"] == "error").sum() > 10
