"""Deployments, OTLP traces and metrics loaders: values, accounting, detection, robustness."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irkit import schema
from irkit.sources import deployments, metrics, registry, traces
from irkit.sources.base import Loaded, read_head

FORMATS_DIR = Path(__file__).parent / "data" / "formats"
MINE = ("deployments_", "otlp_", "metrics_")


def load(name: str) -> Loaded:
    path = FORMATS_DIR / name
    loaded = registry.detect(path).read(path)
    schema.validate(loaded.table, loaded.kind)
    schema.validate(loaded.rejected, "rejected")
    assert loaded.report.rows == len(loaded.table)
    assert loaded.report.rejected == len(loaded.rejected)
    return loaded


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize(("name", "fmt"), [
    ("deployments_v6.json", "vercel-deployments"),
    ("deployments_v13.json", "vercel-deployments"),
    ("deployments_pages.ndjson", "vercel-deployments"),
    ("deployments_truncated.json", "vercel-deployments"),
    ("deployments_vercel_ls.json", "vercel-ls-json"),
    ("otlp_traces.json", "otlp-json"),
    ("otlp_spool.ndjson", "otlp-json"),
    ("metrics_scrape.prom", "prometheus-text"),
    ("metrics_bad.prom", "prometheus-text"),
    ("metrics_simple.json", "metrics-json"),
    ("metrics_list.json", "metrics-json"),
    ("metrics_observability.json", "observability-query"),
])
def test_detected_by_content(name: str, fmt: str, tmp_path: Path) -> None:
    assert registry.detect(FORMATS_DIR / name).name == fmt
    # the name plays no part: same bytes under a neutral name, gzipped
    neutral = tmp_path / "evidence.bin"
    neutral.write_bytes(gzip.compress((FORMATS_DIR / name).read_bytes()))
    assert registry.detect(neutral).name == fmt


DRAIN_RECORD = {
    "id": "1754300000123000456789000000", "deploymentId": "dpl_7Hq2kLmN3pQrStUvWxYz0123",
    "source": "lambda", "host": "shop-web-k3j9x2-acme.vercel.app", "timestamp": 1754300000123,
    "projectId": "prj_Ab12", "level": "info", "message": "ok", "requestId": "r1",
    "proxy": {"timestamp": 1754300000010, "method": "GET", "host": "shop.example.com",
              "path": "/", "userAgent": ["x"], "region": "iad1"},
}
OTHER_HEADS = [
    json.dumps([DRAIN_RECORD]),
    json.dumps(DRAIN_RECORD) + "\n" + json.dumps(DRAIN_RECORD),
    '{"level":"error","message":"Error: connect ETIMEDOUT","rowId":"r_1","source":"serverless",'
    '"timestampInMs":1754300000456,"domain":"shop.example.com","responseStatusCode":504}',
    "2024-03-01T09:30:00.123Z  Cloning github.com/acme/shop-web (Branch: main)\n"
    "2024-03-01T09:30:41.901Z  Compiled successfully in 41s\n",
    "TIME         HOST              LEVEL                             STATUS  MESSAGE\n"
    "09:35:12.00  shop.example.com  error  λ POST /api/orders/991     504     Error\n",
    "Displaying runtime logs for deployment shop-web-k3j9x2-acme.vercel.app (dpl_7Hq2) starting"
    " from Aug 04 09:35:00.00\n",
    "hello world\nanother line\n",
    '{"schema":"vercel.speed_insights.v1","timestamp":"2024-03-01T09:30:00.000Z","value":2.5,'
    '"metricType":"LCP"}',
]


@pytest.mark.parametrize("head", OTHER_HEADS)
def test_sniffers_leave_other_formats_alone(head: str) -> None:
    for fmt in (*deployments.FORMATS, *traces.FORMATS, *metrics.FORMATS):
        assert not fmt.sniff(head), fmt.name


def test_sniffers_leave_other_teams_fixtures_alone() -> None:
    mine = {f.name for f in (*deployments.FORMATS, *traces.FORMATS, *metrics.FORMATS)}
    for path in sorted(FORMATS_DIR.iterdir()):
        if path.is_file() and not path.name.startswith(MINE):
            head = read_head(path)
            assert not any(f.sniff(head) for f in registry.formats() if f.name in mine), path


# ------------------------------------------------------------------ deployments


def test_deployments_v6_values() -> None:
    loaded = load("deployments_v6.json")
    table = loaded.table.set_index("deployment_id")
    assert loaded.report.lines == 5 and loaded.report.rows == 3
    good = table.loc["dpl_7Hq2kLmN3pQrStUvWxYz0123"]
    assert good["url"] == "shop-web-k3j9x2-acme.vercel.app"
    assert good["created"] == pd.Timestamp(1754299000000, unit="ms", tz="UTC")
    assert good["building_at"] == pd.Timestamp("2025-08-04T09:16:44Z")
    assert good["ready"] == pd.Timestamp("2025-08-04T09:17:51Z")
    assert (good["state"], good["target"], good["source"]) == ("READY", "production", "git")
    assert good["commit_sha"] == "3f2c9e1d0b8a7f6e5d4c3b2a1908f7e6d5c4b3a2"
    assert (good["commit_ref"], good["commit_message"], good["author"]) == (
        "main", "fix: order totals", "dana")
    cli = table.loc["dpl_P0o9I8u7Y6t5R4e3W2q1Zz99"]
    assert cli["created"] == pd.Timestamp(1754290000000, unit="ms", tz="UTC")  # numeric string
    assert pd.isna(cli["ready"]) and pd.isna(cli["target"])  # null target = preview, kept NA
    assert (cli["state"], cli["commit_ref"], cli["author"]) == ("ERROR", "feat/cart", "lee")
    gitlab = table.loc["dpl_Gl4bM3rG3dC0mM1t00000001"]
    assert gitlab["created"] == pd.Timestamp("2025-08-04T08:40:00Z")  # ISO string
    assert gitlab["target"] == "staging"  # custom environment slug
    assert gitlab["author"] == "Kim Park" and gitlab["commit_ref"] == "release"
    assert list(loaded.table["created"]) == sorted(loaded.table["created"])
    reasons = dict(zip(loaded.rejected["origin_line"], loaded.rejected["reason"], strict=True))
    assert reasons[4] == "deployment without uid/id"
    assert "yesterday at noon" in reasons[5]
    assert json.loads(loaded.rejected["raw"].iloc[0])["url"] == "shop-web-noid-acme.vercel.app"


def test_deployments_cli_and_single_shapes_agree() -> None:
    ls = load("deployments_vercel_ls.json").table.set_index("deployment_id")
    v6 = load("deployments_v6.json").table.set_index("deployment_id")
    single = load("deployments_v13.json").table
    dep = "dpl_7Hq2kLmN3pQrStUvWxYz0123"
    for col in ("url", "created", "building_at", "ready", "state", "target", "commit_sha"):
        assert ls.loc[dep, col] == v6.loc[dep, col], col
    assert ls.loc[dep, "url"] == "shop-web-k3j9x2-acme.vercel.app"  # https:// dropped
    assert single["deployment_id"].tolist() == [dep]
    assert single["source"].iloc[0] == "redeploy" and single["author"].iloc[0] == "dana"


def test_deployment_pages_and_truncation_are_accounted() -> None:
    pages = load("deployments_pages.ndjson")
    assert pages.table["deployment_id"].tolist() == ["dpl_Page2B000000000000000002",
                                                      "dpl_Page1A000000000000000001"]
    assert pages.rejected["origin_line"].tolist() == [3]
    truncated = load("deployments_truncated.json")
    assert (truncated.report.rows, truncated.report.rejected) == (0, 1)
    assert truncated.rejected["reason"].iloc[0].startswith("invalid JSON document")
    assert truncated.rejected["raw"].iloc[0] == (
        FORMATS_DIR / "deployments_truncated.json").read_text()


# ------------------------------------------------------------------ traces


def test_otlp_spans_become_events() -> None:
    loaded = load("otlp_traces.json")
    ev = loaded.table
    assert loaded.report.lines == 5 and len(ev) == 3
    assert set(ev["source"]) == {"trace"}
    server = ev.iloc[0]
    assert server["timestamp"] == pd.Timestamp("2025-08-04T09:33:20.010123Z")
    assert server["duration_ms"] == pytest.approx(118.42)  # from nanosecond strings
    assert server["trace_id"] == "4f1e9a0b2c3d4e5f60718293a4b5c6d7"  # lower-cased hex
    assert server["span_id"] == "0a1b2c3d4e5f6071"
    assert (server["method"], server["route"], server["path"], server["query"]) == (
        "POST", "/api/orders/[orderId]", "/api/orders/991", "expand=items")
    assert server["status_code"] == 500 and server["level"] == "error"
    assert (server["deployment_id"], server["project_id"], server["environment"]) == (
        "dpl_7Hq2kLmN3pQrStUvWxYz0123", "prj_Ab12Cd34Ef56Gh78Ij90Kl12", "production")
    assert (server["host"], server["client_ip"], server["type"]) == (
        "shop.example.com", "198.51.100.23", "server")
    assert server["message"] == "POST /api/orders/[orderId]"
    db = ev.iloc[1]  # integer (not string) nanoseconds are accepted too
    assert db["duration_ms"] == pytest.approx(75.5) and db["level"] == "info"
    assert db["type"] == "client" and pd.isna(db["status_code"])
    legacy = ev.iloc[2]  # old semantic conventions, base64 ids, http 503 without ERROR status
    assert legacy["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert legacy["span_id"] == "00f067aa0ba902b7"
    assert (legacy["method"], legacy["path"], legacy["query"]) == (
        "GET", "/products/linen-shirt", "ref=home")
    assert legacy["status_code"] == 503 and legacy["level"] == "error"
    assert legacy["type"] == "server" and legacy["deployment_id"] == "dpl_P0o9I8u7Y6t5R4e3W2q1Zz99"
    assert ev["origin_line"].tolist() == [1, 2, 3]
    assert loaded.rejected["origin_line"].tolist() == [4, 5]
    assert "endTimeUnixNano" in loaded.rejected["reason"].iloc[0]


def test_otlp_spool_one_export_per_line() -> None:
    loaded = load("otlp_spool.ndjson")
    assert loaded.table["origin_line"].tolist() == [1, 2, 2]
    assert loaded.table["deployment_id"].tolist() == ["dpl_Line1", "dpl_Line2", "dpl_Line2"]
    assert loaded.table["duration_ms"].tolist() == pytest.approx([42.0, 7.0, 1.0])
    assert loaded.rejected["origin_line"].tolist() == [3]


# ------------------------------------------------------------------ metrics


def test_prometheus_samples_and_histogram_buckets() -> None:
    loaded = load("metrics_scrape.prom")
    m = loaded.table
    assert loaded.report.lines == 9 and len(m) == 9
    first = m.iloc[0]
    assert first["name"] == "http_requests_total"
    assert first["labels"] == {"route": "/api/orders/[orderId]", "method": "GET", "status": "200"}
    assert first["value"] == 1027 and first["timestamp"] == pd.Timestamp(1754300060000,
                                                                         unit="ms", tz="UTC")
    gauge = m[m["name"] == "process_resident_memory_bytes"].iloc[0]
    assert pd.isna(gauge["timestamp"]) and gauge["unit"] == "bytes"  # no sample time: NA
    buckets = m[m["name"] == "http_request_duration_seconds_bucket"]
    assert [b["le"] for b in buckets["labels"]] == ["0.05", "0.1", "+Inf"]
    assert buckets["value"].tolist() == [10, 25, 30] and set(buckets["unit"]) == {"seconds"}
    assert set(m["name"]) >= {"http_request_duration_seconds_sum",
                              "http_request_duration_seconds_count"}
    later = m[m["name"] == "http_requests_total"]["timestamp"].max()
    assert later == pd.Timestamp(1754300120000, unit="ms", tz="UTC")  # a second scrape
    assert set(m["origin_file"]) == {str(FORMATS_DIR / "metrics_scrape.prom")}


def test_prometheus_bad_lines_are_rejected_rest_loads() -> None:
    loaded = load("metrics_bad.prom")
    assert loaded.table["name"].tolist() == ["up", "queue_depth"]
    assert loaded.table["labels"].tolist() == [{"job": "shop-web"}, {"queue": "emails"}]
    assert loaded.rejected["origin_line"].tolist() == [4, 5]
    assert loaded.rejected["raw"].tolist() == ['up{job="shop-web" 1',
                                               'queue_depth{queue="orders"} not-a-number']


def test_json_metrics_shapes() -> None:
    simple = load("metrics_simple.json")  # starts with a BOM
    m = simple.table
    assert m["name"].tolist() == ["vercel.request.count", "p95_ms", "untimed_gauge"]
    assert m["labels"].iloc[0] == {"route": "/api/orders/[orderId]", "status": "500"}
    assert m["value"].tolist() == [42.0, 118.5, 7.0]  # numeric string value accepted
    assert m["timestamp"].iloc[1] == pd.Timestamp("2025-08-04T09:35:00Z")
    assert pd.isna(m["timestamp"].iloc[2]) and m["unit"].iloc[1] == "ms"
    assert simple.rejected["origin_line"].tolist() == [3, 4]
    listed = load("metrics_list.json").table
    assert listed["value"].tolist() == [1.5, 1.75]
    assert listed["labels"].tolist() == [{"region": "iad1"}] * 2


def test_observability_query_rows_per_value_column() -> None:
    loaded = load("metrics_observability.json")
    m = loaded.table
    metric = "vercel.function_invocation.function_duration_ms"
    assert m["name"].tolist() == [f"{metric}:p50", f"{metric}:p95"] * 2
    assert m["value"].tolist() == [112.4, 301.0, 520.0, 1840.5]
    assert m["labels"].iloc[2] == {"route": "/api/orders/[orderId]", "http_status": "500"}
    assert set(m["unit"]) == {"milliseconds"}
    assert m["timestamp"].iloc[3] == pd.Timestamp("2025-08-04T09:35:00Z")
    assert loaded.report.lines == 4 and loaded.rejected["origin_line"].tolist() == [3, 4]


# ------------------------------------------------------------------ robustness


@pytest.mark.parametrize("name", sorted(p.name for p in FORMATS_DIR.iterdir()
                                        if p.name.startswith(MINE)))
def test_empty_and_garbage_variants_never_raise(name: str, tmp_path: Path) -> None:
    source = (FORMATS_DIR / name).read_bytes()
    fmt = registry.detect(FORMATS_DIR / name)
    for variant in (b"", source.replace(b"\n", b"\r\n"), source + b"\xff\xfe\x00garbage",
                    source[: len(source) // 2], gzip.compress(source)[:-30]):
        path = tmp_path / "v"
        path.write_bytes(variant)
        loaded = fmt.read(path)
        schema.validate(loaded.table, loaded.kind)
        assert loaded.report.lines == loaded.report.rows + loaded.report.rejected or (
            fmt.name == "observability-query")


_FIXTURES = sorted(p.name for p in FORMATS_DIR.iterdir() if p.name.startswith(MINE))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(_FIXTURES), data=st.data())
def test_random_corruption_never_raises_or_loses_records(name: str, data, tmp_path: Path) -> None:
    source = bytearray((FORMATS_DIR / name).read_bytes())
    fmt = registry.detect(FORMATS_DIR / name)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "delete", "insert", "dup_line"]))
        at = data.draw(st.integers(0, max(len(source) - 1, 0)))
        if op == "flip" and source:
            source[at] = data.draw(st.integers(0, 255))
        elif op == "delete":
            del source[at: at + data.draw(st.integers(1, 40))]
        elif op == "insert":
            source[at:at] = data.draw(st.binary(max_size=20))
        else:
            lines = bytes(source).split(b"\n")
            i = at % len(lines)
            source = bytearray(b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1:]]))
    path = tmp_path / "corrupt"
    path.write_bytes(bytes(source))
    loaded = fmt.read(path)
    schema.validate(loaded.table, loaded.kind)
    schema.validate(loaded.rejected, "rejected")
    if fmt.name != "observability-query":  # there one record may give several rows
        assert loaded.report.lines == len(loaded.table) + len(loaded.rejected)
    if fmt.name == "prometheus-text":  # every sample line is a row or a rejection
        text = bytes(source).decode("utf-8", "replace").lstrip("\ufeff")
        samples = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        assert len(loaded.table) + len(loaded.rejected) >= len(samples)
    if loaded.kind == "events" and len(loaded.table):
        assert loaded.table["duration_ms"].notna().all()
        assert not loaded.table["duration_ms"].map(math.isnan).any()


def test_public_api_routes_tables(tmp_path: Path) -> None:
    import irkit

    deps = irkit.load_deployments([FORMATS_DIR / "deployments_v6.json",
                                   FORMATS_DIR / "deployments_vercel_ls.json"])
    schema.validate(deps, "deployments")
    assert "dpl_Gl4bM3rG3dC0mM1t00000001" in set(deps["deployment_id"])
    met = irkit.load_metrics(FORMATS_DIR / "metrics_scrape.prom")
    schema.validate(met, "metrics")
    assert len(met) == 9
    result = irkit.load_report([FORMATS_DIR / "otlp_traces.json",
                                FORMATS_DIR / "metrics_list.json",
                                FORMATS_DIR / "deployments_v13.json"])
    assert (len(result.events), len(result.metrics), len(result.deployments)) == (3, 2, 1)
    assert len(result.rejected) == 2
