"""``irkit collect`` against a fake Vercel API served on 127.0.0.1, plus client unit tests."""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fake_vercel import PLAIN_ENV_SECRET, PROJECT_ID, FakeVercel, make_deployments

from irkit.capture.collect import (
    CollectOptions,
    check_api_base,
    collect,
    parse_duration,
    parse_since,
    seg,
)
from irkit.capture.evidence import evidence_paths, safe_name
from irkit.capture.vercel_api import AuthError, Redactor, VercelClient, server_wait_hint
from irkit.errors import IrkitError

TOKEN = "tok_SENTINEL_9f8e7d6c5b4a"
IRKIT = [sys.executable, "-m", "irkit"]


def run_collect(fake: FakeVercel, tmp_path: Path, *, since: str = "30d", **kw) -> tuple:
    out = tmp_path / "evidence"
    with fake.serve() as server, VercelClient(TOKEN, api_base=server.url, scale=0.001,
                                               team=kw.pop("team", None)) as client:
        options = CollectOptions(project="shop-web", out=out, since=parse_since(since),
                                 api_base=server.url, **kw)
        result = collect(options, client)
    return result, out, json.loads((out / "collection.json").read_text())


def all_output_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


def cli(args: list[str], env_extra: dict[str, str],
        timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VERCEL_TOKEN"}
    env.update(env_extra)
    return subprocess.run(IRKIT + args, env=env, capture_output=True, text=True, timeout=timeout)


# -- against the real (fake) server ---------------------------------------------------------------


def test_pagination_collects_every_deployment_exactly_once(tmp_path: Path) -> None:
    fake = FakeVercel(token=TOKEN, deployments=make_deployments(11), page_size=3)
    result, out, log = run_collect(fake, tmp_path)
    assert result.complete and log["complete"] is True
    merged = json.loads((out / "deployments.json").read_text())["deployments"]
    assert sorted(d["uid"] for d in merged) == sorted(d["uid"] for d in fake.deployments)
    assert len({d["uid"] for d in merged}) == 11
    pages = sorted((out / "deployments").glob("page-*.json"))
    assert len(pages) == 4  # 3 + 3 + 3 + 2
    cursors = [int(r["query"]["until"]) for r in fake.requests if r["route"] == "deployments"]
    assert cursors == sorted(cursors, reverse=True) and len(set(cursors)) == 4
    # raw pages are byte for byte what the server sent, and their hashes are logged
    logged = {f["path"]: f["sha256"] for f in log["files"]}
    for page in pages:
        rel = page.relative_to(out).as_posix()
        assert logged[rel] == hashlib.sha256(page.read_bytes()).hexdigest()
    assert evidence_paths(out)["deployments"] == [out / "deployments.json"]


def test_pagination_stops_at_since_and_events_cover_the_window(tmp_path: Path) -> None:
    newest = int(time.time() * 1000) - 60_000  # deployments at -1, -11, -21, -31 … minutes
    fake = FakeVercel(token=TOKEN, deployments=make_deployments(12, newest_ms=newest),
                      page_size=3)
    result, out, _ = run_collect(fake, tmp_path, since="25m")
    assert result.complete
    assert sum(r["route"] == "deployments" for r in fake.requests) == 2
    events = sorted(p.stem for p in (out / "events").iterdir())
    assert events == ["dpl_fake0000", "dpl_fake0001", "dpl_fake0002"]
    # the page that crossed --since keeps the deployment live before the window (rollback target)
    merged = json.loads((out / "deployments.json").read_text())["deployments"]
    assert "dpl_fake0003" in {d["uid"] for d in merged}


def test_429_with_retry_after_and_503_are_retried_then_succeed(tmp_path: Path) -> None:
    fake = FakeVercel(token=TOKEN, fail={"deployments": [429, 503], "events": [502]})
    result, _, log = run_collect(fake, tmp_path)
    assert result.complete, result.partial_reasons
    first = next(c for c in log["calls"] if c["name"] == "deployments page 1")
    assert first["status"] == 200 and first["attempts"] == 3
    assert [r["status"] for r in first["retries"]] == [429, 503]
    assert all(r["wait_s"] is not None for r in first["retries"])
    assert any(c["name"].startswith("build events") and c["attempts"] == 2 for c in log["calls"])


def test_server_that_keeps_failing_gives_partial_marked_collection_and_exit_1(
        tmp_path: Path) -> None:
    fake = FakeVercel(token=TOKEN, always={"request-logs": 503}, echo_token_in_errors=True)
    out = tmp_path / "evidence"
    with fake.serve() as server:
        proc = cli(["collect", "--project", PROJECT_ID, "--api-base", server.url,
                    "--out", str(out), "--since", "2h"],
                   {"VERCEL_TOKEN": TOKEN, "IRKIT_RETRY_SCALE": "0.001"})
    assert proc.returncode == 1, proc.stderr
    log = json.loads((out / "collection.json").read_text())
    assert log["complete"] is False and log["state"] == "finished"
    assert any("request logs" in r and "503" in r for r in log["partial_reasons"])
    failed = next(c for c in log["calls"] if c["name"] == "request logs page 0")
    assert failed["outcome"] == "failed" and failed["attempts"] == 5
    assert "PARTIAL" in proc.stdout and "partial" in proc.stderr
    # the server echoed the Authorization header into its error text: still no token anywhere
    assert sum(r["route"] == "request-logs" for r in fake.requests) == 5
    for path, content in all_output_bytes(out):
        assert TOKEN.encode() not in content, path
    assert TOKEN not in proc.stdout + proc.stderr


def test_cli_full_collection_is_complete_and_token_free(tmp_path: Path) -> None:
    fake = FakeVercel(token=TOKEN, fail={"deployments": [429]})
    out = tmp_path / "evidence"
    with fake.serve() as server:
        proc = cli(["collect", "-p", "shop-web", "--api-base", server.url, "--out", str(out),
                    "--since", "3h", "--follow", "1s", "--metrics-url", server.url + "/metrics",
                    "--json"], {"VERCEL_TOKEN": TOKEN, "IRKIT_RETRY_SCALE": "0.001"})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["complete"] is True and summary["deployments"] == 7
    log = json.loads((out / "collection.json").read_text())
    for entry in log["files"]:
        content = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        assert len(content) == entry["bytes"]
    rows = [json.loads(line) for line in
            (out / "runtime-logs" / "dpl_fake0000.ndjson").read_text().splitlines()]
    assert len(rows) >= 5 and len({r["rowId"] for r in rows}) == len(rows)
    assert (out / "metrics" / "app-metrics.prom").read_text().startswith("# HELP")
    inputs = log["inputs"]
    request_pages = [p for p in inputs["logs"] if p.startswith("request-logs/")]
    assert request_pages == ["request-logs/page-000.json", "request-logs/page-001.json"]
    # build events are loadable logs now, listed once each beside the request-log pages
    event_files = sorted(f"events/{p.name}" for p in (out / "events").iterdir())
    assert event_files and sorted(p for p in inputs["logs"] if p.startswith("events/")) == \
        event_files
    assert "build_events" not in inputs
    assert "metrics/app-metrics.prom" in inputs["metrics"]
    # the app's own endpoint never receives the Vercel token
    assert all(r["authorization"] is None for r in fake.requests if r["route"] == "metrics")
    for path, content in all_output_bytes(out):
        assert TOKEN.encode() not in content, path
        assert PLAIN_ENV_SECRET.encode() not in content, path
    assert TOKEN not in proc.stdout + proc.stderr


def test_ctrl_c_keeps_what_was_collected_and_marks_it(tmp_path: Path) -> None:
    fake = FakeVercel(token=TOKEN)
    out = tmp_path / "evidence"
    stream = out / "runtime-logs" / "dpl_fake0000.ndjson"
    env = {**{k: v for k, v in os.environ.items() if k != "VERCEL_TOKEN"},
           "VERCEL_TOKEN": TOKEN}
    with fake.serve() as server:
        proc = subprocess.Popen([*IRKIT, "collect", "-p", "shop-web", "--api-base",
                                 server.url, "--out", str(out), "--follow", "60s"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not stream.exists()
                                               or stream.stat().st_size < 500):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    log = json.loads((out / "collection.json").read_text())
    assert log["state"] == "interrupted" and log["complete"] is False
    assert any("interrupted" in r for r in log["partial_reasons"])
    listed = next(f for f in log["files"] if f["path"] == "runtime-logs/dpl_fake0000.ndjson")
    assert listed["sha256"] == hashlib.sha256(stream.read_bytes()).hexdigest()
    assert "runtime-logs/dpl_fake0000.ndjson" in log["inputs"]["logs"]


def test_refused_token_is_a_one_line_error_with_exit_2(tmp_path: Path) -> None:
    fake = FakeVercel(token="the-right-token-0000")
    with fake.serve() as server:
        proc = cli(["collect", "-p", "shop-web", "--api-base", server.url,
                    "--out", str(tmp_path / "e")], {"VERCEL_TOKEN": TOKEN})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "VERCEL_TOKEN" in lines[0] and "403" in lines[0]
    assert TOKEN not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_missing_token_is_usage_error(tmp_path: Path) -> None:
    proc = cli(["collect", "-p", "x", "--out", str(tmp_path / "e")], {})
    assert proc.returncode == 2 and "VERCEL_TOKEN is not set" in proc.stderr


def test_optional_sources_are_skipped_not_partial(tmp_path: Path) -> None:
    fake = FakeVercel(token=TOKEN, always={"observability": 402, "request-logs": 404})
    result, _, log = run_collect(fake, tmp_path)
    assert result.complete
    assert {s["what"] for s in log["skipped"]} == {"observability metrics", "request logs"}
    # one refusal is enough to know the plan: not four identical calls
    assert sum(r["route"] == "observability" for r in fake.requests) == 1


def test_team_scoping_sends_team_id_or_slug(tmp_path: Path) -> None:
    fake = FakeVercel(token=TOKEN)
    run_collect(fake, tmp_path, team="team_abc123")
    deployments = [r for r in fake.requests if r["route"] == "deployments"]
    assert all(r["query"].get("teamId") == "team_abc123" for r in deployments)
    fake2 = FakeVercel(token=TOKEN)
    run_collect(fake2, tmp_path / "two", team="acme")
    assert all(r["query"].get("slug") == "acme"
               for r in fake2.requests if r["route"] == "deployments")


def test_out_folder_is_never_reused(tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "old.txt").write_text("x")
    with pytest.raises(IrkitError, match="not an empty directory"):
        run_collect(FakeVercel(token=TOKEN), tmp_path)


def test_collected_files_load_with_irkit_load(tmp_path: Path) -> None:
    from irkit.sources import load_report

    fake = FakeVercel(token=TOKEN)
    _, out, _ = run_collect(fake, tmp_path, since="2h", follow=1.0)
    paths = evidence_paths(out)
    result = load_report([p for kind in ("logs", "deployments", "metrics") for p in paths[kind]])
    assert sorted(result.deployments["deployment_id"]) == \
        sorted(d["uid"] for d in fake.deployments)
    assert len(result.metrics) == 4  # one point per observability query, named by its metric
    assert set(result.metrics["name"]) == {"vercel.request.count",
                                           "vercel.function_invocation.function_duration_ms"}
    raw = json.loads((out / "metrics/raw/observability-vercel.request.count-sum.json").read_text())
    assert "query" not in raw  # the evidence copy is what the API sent
    streamed = (out / "runtime-logs/dpl_fake0000.ndjson").read_text().splitlines()
    event_files = sorted((out / "events").iterdir())
    assert event_files and set(paths["logs"]) >= set(event_files)
    build = result.events[result.events["source"] == "build"]
    # two request-log pages of four + live lines + three build lines per window deployment
    assert len(build) == 3 * len(event_files)
    assert len(result.events) == 8 + len(streamed) + len(build)
    assert set(build["deployment_id"]) == {p.stem for p in event_files}
    assert build["timestamp"].notna().all() and set(build["type"]) == {"stdout"}
    assert len(result.rejected) == 0
    assert {f.format for f in result.files} >= {"request-logs-api", "runtime-logs", "build-events",
                                                "vercel-deployments", "observability-query"}


def test_collections_listing_build_events_separately_still_load_them(tmp_path: Path) -> None:
    """Collections written before build events loaded kept them under inputs.build_events."""
    out = tmp_path / "old"
    (out / "events").mkdir(parents=True)
    (out / "events" / "dpl_a.json").write_text(json.dumps([
        {"created": 1754299010512, "date": 1754299010512, "deploymentId": "dpl_a", "id": "e1",
         "serial": "1754299010512-00001", "text": "Compiled", "type": "stdout"}]))
    (out / "collection.json").write_text(json.dumps({"inputs": {
        "logs": [], "deployments": [], "metrics": [], "build_events": ["events/dpl_a.json"]}}))
    paths = evidence_paths(out)
    assert paths["logs"] == [out / "events" / "dpl_a.json"] and "build_events" not in paths


# -- client unit tests (httpx.MockTransport) ------------------------------------------------------


def test_retry_hints_from_headers() -> None:
    now = 1_000_000.0
    r = httpx.Response(429, headers={"Retry-After": "7"})
    assert server_wait_hint(r, now=now) == 7
    date = email.utils.format_datetime(datetime.fromtimestamp(now + 30, UTC), usegmt=True)
    assert server_wait_hint(httpx.Response(503, headers={"Retry-After": date}), now=now) == 30
    reset = httpx.Response(429, headers={"X-RateLimit-Reset": str(int(now + 12))})
    assert server_wait_hint(reset, now=now) == 12
    assert server_wait_hint(httpx.Response(500), now=now) is None


def test_rate_limit_reset_is_honoured_and_scaled() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"X-RateLimit-Reset": str(int(time.time()) + 20)})
        return httpx.Response(200, json={"ok": True})

    client = VercelClient(TOKEN, transport=httpx.MockTransport(handler), scale=0.5,
                          sleep=slept.append)
    response = client.get("/v6/deployments")
    assert response.ok and len(calls) == 2
    assert 8.5 <= slept[0] <= 11.0  # (≈20 s − elapsed + ≤1 s skew) × 0.5


def test_transport_errors_are_redacted_and_bounded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused while sending {request.headers['authorization']}")

    client = VercelClient(TOKEN, transport=httpx.MockTransport(handler), scale=0,
                          max_attempts=3)
    response = client.get("/v6/deployments")
    assert response.status is None and len(response.attempts) == 3
    assert TOKEN not in json.dumps(response.log_entry())
    assert "[REDACTED]" in response.error


def test_client_errors_are_not_retried_and_auth_is_one_line() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(401, json={"error": {"code": "forbidden"}})

    client = VercelClient(TOKEN, transport=httpx.MockTransport(handler), scale=0, team="acme")
    response = client.get("/v6/deployments", params={"limit": 1})
    assert len(calls) == 1 and "slug=acme" in calls[0]
    with pytest.raises(AuthError) as info:
        client.raise_for_auth(response, "deployments")
    assert "\n" not in str(info.value) and "VERCEL_TOKEN" in str(info.value)


def test_redirects_are_not_followed_with_the_token() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(302, headers={"Location": "https://evil.example/steal"})

    client = VercelClient(TOKEN, transport=httpx.MockTransport(handler), scale=0)
    assert client.get("/v6/deployments").status == 302 and seen == ["api.vercel.com"]


def test_durations_and_names() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("45") == timedelta(seconds=45)
    with pytest.raises(IrkitError, match="--follow"):
        parse_duration("soon", option="--follow")
    fixed = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert parse_since("2d", now=fixed) == fixed - timedelta(days=2)
    assert parse_since("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert "/" not in safe_name("../../etc/passwd")
    assert not safe_name("../x").startswith(".")
    assert Redactor("abcd1234")("x abcd1234 y") == "x [REDACTED] y"
    assert seg("../v2/user") == "..%2Fv2%2Fuser"
    with pytest.raises(IrkitError, match="unencrypted"):
        check_api_base("http://proxy.example.com")
    assert check_api_base("https://proxy.example.com/") == "https://proxy.example.com"
