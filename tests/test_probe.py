"""``irkit probe`` against real servers on 127.0.0.1 (plain HTTP and TLS with a test CA)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from fake_vercel import ServerThread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from irkit import schema
from irkit.capture.probe import PHASES, probe, summary, to_metrics, write_metrics

DELAY = 0.06  # the server thinks this long before answering: first byte must show it
HOST = "irkit-probe.test"


async def health(request: Request) -> PlainTextResponse:
    await asyncio.sleep(DELAY)
    return PlainTextResponse("ok\n" * 100, headers={
        "x-vercel-id": "fra1::iad1::abc12-1754300000010-0123456789ab",
        "x-vercel-cache": "MISS", "age": "0"})


APP = Starlette(routes=[Route("/api/health", health)])


def local_resolver(mapping: dict[str, str]):
    def resolve(host: str, port: int, *args: object) -> list[tuple]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (mapping[host], port))]
    return resolve


def assert_ordered(result) -> None:
    assert result.error is None, result.error
    assert result.dns_ms is not None and result.connect_ms is not None
    assert result.first_byte_ms is not None and result.total_ms is not None
    assert 0 <= result.dns_ms <= result.connect_ms <= result.first_byte_ms <= result.total_ms
    if result.tls_ms is not None:
        assert result.connect_ms <= result.tls_ms <= result.first_byte_ms


def test_timings_present_and_ordered_over_http() -> None:
    with ServerThread(APP) as server:
        results = probe(f"http://{HOST}:{server.port}/api/health", 3, interval=0,
                        resolver=local_resolver({HOST: "127.0.0.1"}))
    assert [r.seq for r in results] == [1, 2, 3]
    for r in results:
        assert_ordered(r)
        assert r.status == 200 and r.remote_ip == "127.0.0.1" and r.tls_ms is None
        assert r.bytes == 300
        # the server's think time lies between connecting and the first byte
        assert r.first_byte_ms - r.connect_ms >= DELAY * 1000 * 0.9
        assert r.headers["x-vercel-cache"] == "MISS"
        assert r.headers["x-vercel-id"].startswith("fra1::iad1::")
    stats = summary(results)
    assert stats["failed"] == 0 and stats["total_ms"]["min"] <= stats["total_ms"]["max"]


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST}"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_phase_is_timed_and_certificate_checked_against_the_host_name(
        tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    trust = ssl.create_default_context(cafile=str(cert))
    with ServerThread(APP, ssl_certfile=str(cert), ssl_keyfile=str(key)) as server:
        good = probe(f"https://{HOST}:{server.port}/api/health", 2, interval=0, verify=trust,
                     resolver=local_resolver({HOST: "127.0.0.1"}))
        wrong = probe(f"https://other.test:{server.port}/api/health", 1, interval=0,
                      verify=trust, resolver=local_resolver({"other.test": "127.0.0.1"}))
    for r in good:
        assert_ordered(r)
        assert r.tls_ms is not None and r.tls_ms > r.connect_ms and r.status == 200
    # connecting by address must not weaken verification: the name is still checked
    assert wrong[0].status is None and "certificate" in wrong[0].error.lower()
    assert wrong[0].connect_ms is not None and wrong[0].first_byte_ms is None


def test_dns_failure_is_recorded_not_raised() -> None:
    [result] = probe("http://nowhere.invalid/", 1, resolver=local_resolver({}))
    assert result.status is None and "DNS lookup of nowhere.invalid failed" in result.error
    assert not result.ok and result.connect_ms is None


def test_metrics_table_and_files(tmp_path: Path) -> None:
    with ServerThread(APP) as server:
        results = probe(f"{server.url}/api/health", 2, interval=0)
    frame = to_metrics(results)
    schema.validate(frame, "metrics")
    names = set(frame["name"])
    assert {f"probe_{p}" for p in PHASES} - {"probe_tls_ms"} <= names
    total = frame[frame["name"] == "probe_total_ms"]
    assert len(total) == 2 and (total["unit"] == "ms").all()
    assert total["labels"].iloc[0]["status"] == "200"
    assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"

    as_json = json.loads(write_metrics(results, tmp_path / "probe.json").read_text())
    assert {m["name"] for m in as_json["metrics"]} == names
    prom = write_metrics(results, tmp_path / "probe.prom").read_text()
    assert prom.count("# TYPE probe_total_ms gauge") == 1
    assert prom.count("probe_total_ms{") == 2
    try:
        from irkit.sources import load_metrics
    except ImportError:
        return  # metrics loader not there yet: the shapes above are its contract
    for path in (tmp_path / "probe.json", tmp_path / "probe.prom"):
        loaded = load_metrics(path)
        assert len(loaded[loaded["name"] == "probe_total_ms"]) == 2, path


def test_cli_json_and_exit_codes(tmp_path: Path) -> None:
    with ServerThread(APP) as server:
        proc = subprocess.run([sys.executable, "-m", "irkit", "probe", f"{server.url}/api/health",
                               "-n", "2", "--interval", "0", "--json",
                               "--out", str(tmp_path / "m.json")],
                              capture_output=True, text=True, timeout=60)
        table = subprocess.run([sys.executable, "-m", "irkit", "probe",
                                f"{server.url}/api/health", "-n", "1"],
                               capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["results"]) == 2 and data["summary"]["failed"] == 0
    assert (tmp_path / "m.json").exists()
    assert table.returncode == 0 and "MISS" in table.stdout and "first" not in table.stderr
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    down = subprocess.run([sys.executable, "-m", "irkit", "probe", f"http://127.0.0.1:{dead}/",
                           "-n", "1", "--json"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 1
    assert json.loads(down.stdout)["results"][0]["error"].startswith("ConnectError")
    bad = subprocess.run([sys.executable, "-m", "irkit", "probe", "ftp://x/"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "ftp://x/" in bad.stderr and "Traceback" not in bad.stderr
