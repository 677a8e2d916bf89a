"""``irkit probe``: the playbook's ``curl -w`` timing loop, as evidence.

Each request opens a fresh connection (as each ``curl`` invocation does) and is timed per phase
through httpcore's ``trace`` extension.  Times are cumulative from the start of the request, like
curl's ``time_namelookup``/``time_connect``/``time_appconnect``/``time_starttransfer``/
``time_total``, so they are ordered: dns ≤ connect ≤ tls ≤ first byte ≤ total.

DNS is timed separately: the host is resolved here (``getaddrinfo`` in a worker thread, with a
timeout) and the request goes to the resolved address with the original ``Host`` header and TLS
server name, so the connect phase measures TCP alone and certificates are still verified against
the real host name.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import math
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from irkit import __version__, schema
from irkit.errors import IrkitError

PHASES = ("dns_ms", "connect_ms", "tls_ms", "first_byte_ms", "total_ms")
#: Response headers worth keeping: which edge/region served it and whether it was cached.
HEADERS_OF_INTEREST = ("x-vercel-id", "x-vercel-cache", "age", "server", "cache-control",
                       "x-matched-path", "content-type", "location")

Resolver = Callable[..., list[tuple[Any, ...]]]


@dataclass
class ProbeResult:
    """One timed request; times in ms from the start of the request, ``None`` if not reached."""

    seq: int
    url: str
    started: str
    status: int | None = None
    http_version: str | None = None
    remote_ip: str | None = None
    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    first_byte_ms: float | None = None
    total_ms: float | None = None
    bytes: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A response arrived and it is not a server error."""
        return self.status is not None and self.status < 500 and self.error is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ms(start: float, mark: float | None) -> float | None:
    return None if mark is None else round((mark - start) * 1000, 3)


def _mark(marks: dict[str, float], suffix: str) -> float | None:
    """The time of the trace event ending with ``suffix`` (``http11.``/``http2.`` prefixes)."""
    for name, at in marks.items():
        if name.endswith(suffix):
            return at
    return None


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise IrkitError(f"URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise IrkitError(f"URL {url!r}: expected an http:// or https:// URL with a host")
    return parsed


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def probe_once(url: str, seq: int = 1, *, timeout: float = 10.0, method: str = "GET",
               verify: bool = True, resolver: Resolver = socket.getaddrinfo,
               pool: concurrent.futures.ThreadPoolExecutor | None = None) -> ProbeResult:
    """Time one request on a new connection; failures are recorded, never raised."""
    target = _parse(url)
    host = target.host
    port = target.port or (443 if target.scheme == "https" else 80)
    result = ProbeResult(seq=seq, url=url, started=datetime.now(UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z"))
    marks: dict[str, float] = {}

    def trace(name: str, info: dict[str, Any]) -> None:
        marks.setdefault(name, time.perf_counter())

    own_pool = pool is None
    pool = pool or concurrent.futures.ThreadPoolExecutor(max_workers=1)
    client = httpx.Client(verify=verify, timeout=timeout, follow_redirects=False,
                          headers={"User-Agent": f"irkit-probe/{__version__}"})
    start = time.perf_counter()
    try:
        if _is_ip(host):
            address = host
        else:
            future = pool.submit(resolver, host, port, 0, socket.SOCK_STREAM)
            try:
                infos = future.result(timeout=timeout)
            except concurrent.futures.TimeoutError:
                raise httpx.ConnectTimeout(f"DNS lookup of {host} timed out") from None
            except OSError as exc:
                raise httpx.ConnectError(f"DNS lookup of {host} failed: {exc}") from None
            address = str(infos[0][4][0])
        result.dns_ms = _ms(start, time.perf_counter())
        result.remote_ip = address
        host_header = host if target.port is None else f"{host}:{target.port}"
        request = client.build_request(
            method, target.copy_with(host=address),
            headers={"Host": host_header},
            extensions={"trace": trace, "sni_hostname": host})
        response = client.send(request, stream=True)
        try:
            result.status = response.status_code
            result.http_version = response.http_version
            result.headers = {k: v for k in HEADERS_OF_INTEREST
                              if (v := response.headers.get(k)) is not None}
            for chunk in response.iter_raw():
                result.bytes += len(chunk)
        finally:
            response.close()
        result.total_ms = _ms(start, time.perf_counter())
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'failed'}"
    finally:
        client.close()
        if own_pool:
            pool.shutdown(wait=False)
    result.connect_ms = _ms(start, _mark(marks, "connect_tcp.complete"))
    result.tls_ms = _ms(start, _mark(marks, "start_tls.complete"))
    result.first_byte_ms = _ms(start, _mark(marks, "receive_response_headers.complete"))
    return result


def probe(url: str, n: int = 5, *, interval: float = 1.0, timeout: float = 10.0,
          method: str = "GET", verify: bool = True, resolver: Resolver = socket.getaddrinfo,
          sleep: Callable[[float], None] = time.sleep) -> list[ProbeResult]:
    """``n`` timed requests to ``url``, ``interval`` seconds apart."""
    _parse(url)
    if n < 1:
        raise IrkitError(f"-n {n}: need at least one request")
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for seq in range(1, n + 1):
            if seq > 1 and interval > 0:
                sleep(interval)
            results.append(probe_once(url, seq, timeout=timeout, method=method, verify=verify,
                                      resolver=resolver, pool=pool))
    return results


def summary(results: Sequence[ProbeResult]) -> dict[str, Any]:
    """Per-phase min / median / max over the requests that reached each phase."""
    out: dict[str, Any] = {"requests": len(results),
                           "failed": sum(not r.ok for r in results)}
    for phase in PHASES:
        values = sorted(v for r in results if (v := getattr(r, phase)) is not None)
        out[phase] = ({"min": values[0], "p50": values[len(values) // 2], "max": values[-1]}
                      if values else None)
    return out


def to_metrics(results: Sequence[ProbeResult]) -> pd.DataFrame:
    """The probe as a canonical long-form metrics table (``irkit.schema`` "metrics").

    One row per request and phase (``probe_dns_ms`` … ``probe_total_ms``, unit ``ms``), plus
    ``probe_up`` (1 when a non-5xx response arrived) and ``probe_http_status``, labelled with
    the url, host and status so templates can plot latency bands over time.
    """
    rows: list[dict[str, Any]] = []
    for r in results:
        labels = {"url": r.url, "host": _parse(r.url).host,
                  "status": str(r.status) if r.status is not None else "error"}
        stamp = pd.Timestamp(r.started)
        for phase in PHASES:
            value = getattr(r, phase)
            if value is not None:
                rows.append({"timestamp": stamp, "name": f"probe_{phase}", "labels": labels,
                             "value": value, "unit": "ms"})
        rows.append({"timestamp": stamp, "name": "probe_up", "labels": labels,
                     "value": 1.0 if r.ok else 0.0, "unit": pd.NA})
        if r.status is not None:
            rows.append({"timestamp": stamp, "name": "probe_http_status", "labels": labels,
                         "value": float(r.status), "unit": pd.NA})
    if not rows:
        return schema.empty("metrics")
    frame = schema.conform(pd.DataFrame(rows), "metrics")
    schema.validate(frame, "metrics")
    return frame


def _prom_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def write_metrics(results: Sequence[ProbeResult], path: Path) -> Path:
    """Write the metrics table for ``irkit load_metrics``: ``.prom``/``.txt`` as Prometheus text
    exposition (with millisecond timestamps), anything else as ``{"metrics": [...]}`` JSON."""
    frame = to_metrics(results)
    if path.suffix in (".prom", ".txt"):
        lines: list[str] = []
        for name, group in frame.groupby("name", sort=False):
            lines.append(f"# TYPE {name} gauge")
            for row in group.itertuples(index=False):
                labels = ",".join(f'{k}="{_prom_label(str(v))}"' for k, v in row.labels.items())
                millis = int(row.timestamp.timestamp() * 1000)
                lines.append(f"{name}{{{labels}}} {row.value} {millis}")
        text = "\n".join(lines) + "\n"
    else:
        metrics = [{"name": row.name, "labels": row.labels, "value": float(row.value),
                    "unit": None if pd.isna(row.unit) else row.unit,
                    "timestamp": row.timestamp.isoformat().replace("+00:00", "Z")}
                   for row in frame.itertuples(index=False)
                   if not math.isnan(float(row.value))]
        text = json.dumps({"metrics": metrics}, indent=1) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise IrkitError(f"--out {path}: cannot write ({exc.strerror or exc})") from None
    return path
