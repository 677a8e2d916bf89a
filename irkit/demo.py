"""A generated, deterministic demo incident: Vercel drain NDJSON, deployments, metrics, traces.

The demo feeds ``irkit demo``, the tests and the benchmarks, so it has to look like real Vercel
evidence (current drain schema field by field, ``/v6/deployments`` JSON, Prometheus text
exposition with explicit timestamps, OTLP/JSON traces) and it has to come with the *truth*: when
the errors started, which deployment caused them, which clients were attackers.  Analyses are
tested against that truth.

Everything is derived from one ``numpy`` generator seeded by ``seed``: the same seed writes the
same bytes.  Lines are built from string templates rather than ``json.dumps`` per record so that
the streaming writer for benchmarks stays in the hundreds of thousands of records per second.

Scenarios (``generate(..., scenario=...)``):

``default``
    Deployment A (good, the day before) serves until deployment B (bad) becomes ready about
    50 minutes into the two-hour window.  From then on ``/api/orders/[orderId]`` fails with a new
    multi-line Node.js ``TypeError`` stack trace and every function route gets slower, until the
    rollback deployment C (a redeploy of A) is ready about 30 minutes later.  Meanwhile a scanner
    probes ``/.env``-style paths, a brute-force client hammers ``/api/login`` with 401s, a
    Googlebot crawler and an office NAT (many browsers behind one IP) are heavy but benign.
``latency_creep``
    Deployment B makes function latency grow steadily for the rest of the window; no error spike,
    no rollback.  ``onset`` is B's ready time, ``recovery`` is ``None``.
``no_deployment``
    The database behind the API times out for ~25 minutes (``ETIMEDOUT`` errors, which also occur
    at a low rate all the time, so the pattern is *not* new); no deployment in the window.
``low_traffic``
    The default incident at 1/40 of the traffic, without the attackers.
``quiet``
    Normal traffic, no error-level log at all, one deployment (before the window), no attackers.

Truth latencies come from the REPORT durations written to the drain: ``latency_before_*`` over
requests received in ``[window_start, onset)``, ``latency_after_*`` over ``[onset, recovery)``
(``[onset, window_end)`` when there is no recovery).
"""

from __future__ import annotations

import bisect
import functools
import gzip
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SCENARIOS = ("default", "latency_creep", "no_deployment", "low_traffic", "quiet")

PROJECT_ID = "prj_Ab12Cd34Ef56Gh78Ij90Kl12"
PROJECT_NAME = "shop-web"
CUSTOM_HOST = "shop.example.com"
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
#: Start of the demo window (a fixed instant: the output must not depend on "now").
WINDOW_START = pd.Timestamp("2026-03-10T13:00:00Z")
WINDOW = pd.Timedelta(hours=2)

EDGE_REGIONS = ("iad1", "sfo1", "fra1", "cdg1", "bom1", "lhr1", "hnd1", "gru1")
EDGE_WEIGHTS = (0.27, 0.16, 0.15, 0.10, 0.09, 0.11, 0.07, 0.05)
FUNCTION_REGION = "iad1"

#: (route pattern, drain source, share of normal traffic, median REPORT duration in ms)
ROUTES: tuple[tuple[str, str, float, float], ...] = (
    ("/", "lambda", 0.18, 45.0),
    ("/products/[slug]", "lambda", 0.22, 80.0),
    ("/api/orders/[orderId]", "lambda", 0.14, 120.0),
    ("/api/cart", "edge", 0.10, 0.0),
    ("/api/login", "lambda", 0.03, 150.0),
    ("static", "static", 0.33, 0.0),
)
ROUTE_INDEX = {r[0]: i for i, r in enumerate(ROUTES)}
ORDERS = ROUTE_INDEX["/api/orders/[orderId]"]
ENTRYPOINTS = {
    "/": ".next/server/app/page.js",
    "/products/[slug]": ".next/server/app/products/[slug]/page.js",
    "/api/orders/[orderId]": ".next/server/app/api/orders/[orderId]/route.js",
    "/api/cart": ".next/server/app/api/cart/route.js",
    "/api/login": ".next/server/app/api/login/route.js",
}
STATIC_PATHS = (
    "/favicon.ico", "/_next/static/chunks/main-app-4f9c2d1e8b7a6350.js",
    "/_next/static/chunks/webpack-0b5d2f3a9c8e7d61.js", "/_next/static/css/a1b2c3d4e5f60718.css",
    "/_next/static/chunks/app/layout-7e6d5c4b3a291807.js", "/images/hero.webp", "/robots.txt",
    "/_next/static/media/inter-latin.woff2",
)
SLUGS = ("linen-shirt", "trail-runner-2", "ceramic-mug", "wool-beanie", "denim-jacket",
         "canvas-tote", "espresso-beans-1kg", "desk-lamp", "yoga-mat", "rain-shell")

BROWSER_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/133.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.3 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:135.0) Gecko/20100101 Firefox/135.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/133.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/133.0.0.0 Safari/537.36 Edg/133.0.0.0",
)
GOOGLEBOT_UA = ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
SCANNER_UAS = ("sqlmap/1.8.3#stable (https://sqlmap.org)",
               "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)", "curl/8.5.0")
BRUTEFORCE_UA = "python-requests/2.32.3"
SCANNER_PATHS = (
    "/.env", "/.env.local", "/.env.production", "/.git/config", "/.git/HEAD", "/wp-login.php",
    "/wp-admin/setup-config.php", "/xmlrpc.php", "/phpmyadmin/", "/pma/index.php",
    "/..%2f..%2fetc/passwd", "/cgi-bin/.%2e/.%2e/.%2e/etc/passwd", "/config.json",
    "/.aws/credentials",
    "/server-status", "/actuator/env", "/backup.sql", "/.DS_Store", "/vendor/phpunit/phpunit/src/"
    "Util/PHP/eval-stdin.php", "/api/.env", "/admin/.env", "/.svn/entries", "/web.config",
    "/debug/default/view", "/.well-known/security.txt", "/owa/auth/logon.aspx", "/solr/admin/info",
)

SCANNER_IP = "185.220.101.47"
BRUTEFORCE_IP = "45.155.205.233"
CRAWLER_IP = "66.249.66.1"
OFFICE_NAT_IP = "81.2.69.160"

TYPE_ERROR_HEAD = "TypeError: Cannot read properties of undefined (reading 'id')"
DB_TIMEOUT_HEAD = "Error: connect ETIMEDOUT 10.2.3.4:5432"
NEXT_RUNTIME = "/var/task/node_modules/next/dist/compiled/next-server/app-route.runtime.prod.js"

#: Histogram buckets (seconds) of the demo's Prometheus duration histogram.
BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class DemoIncident:
    """The files of one generated incident and the truth the analyses must find."""

    logs: list[Path]
    deployments: Path
    metrics: Path
    traces: Path
    truth: dict[str, Any] = field(default_factory=dict)
    scenario: str = "default"
    seed: int = 0


# --------------------------------------------------------------------------------------------
# Drain line template (current schema).  Optional fields arrive as ready-made fragments
# ("" when absent, otherwise '"key":value,') so that one ``str.format`` builds a line.

_DRAIN_LINE = (
    '{{"id":"{0}","deploymentId":"{1}","source":"{2}","host":"{3}","timestamp":{4},'
    '"projectId":"' + PROJECT_ID + '","projectName":"' + PROJECT_NAME + '","level":"{5}",'
    '{6}{7}{8}{9}"requestId":"{10}","environment":"production","branch":"main",{11}{12}'
    '"proxy":{{"timestamp":{13},"method":"{14}","host":"' + CUSTOM_HOST + '","path":{15},'
    '"userAgent":[{16}],"region":"{17}",{18}"statusCode":{19},"clientIp":"{20}",'
    '"scheme":"https","responseByteSize":{21},"pathType":"{22}","vercelCache":"{23}",{24}'
    '"vercelId":"{10}"}}}}\n'
)


@functools.lru_cache(maxsize=8192)
def _js(text: str) -> str:
    """A JSON string literal (quotes included) for text that may hold anything."""
    return json.dumps(text, ensure_ascii=False)


@dataclass
class _Request:
    """One HTTP request and the log rows Vercel would drain for it."""

    t_ms: int
    route: str
    source: str
    method: str
    path: str  # concrete path with query string
    ip: str
    ua: str
    region: str
    status: int
    duration_ms: float  # REPORT duration (0 when the source has none)
    deployment: int  # index into the deployment list
    bytes: int
    messages: list[tuple[str, str, str]]  # (level, type, text) before the REPORT line
    trace_id: str | None = None
    span_id: str | None = None
    referer: str | None = None


# --------------------------------------------------------------------------------------------
# Small deterministic building blocks


def _hex(rnd: random.Random, digits: int) -> str:
    return f"{rnd.getrandbits(4 * digits):0{digits}x}"


def _token(rnd: random.Random, alphabet: str, n: int) -> str:
    return "".join(rnd.choices(alphabet, k=n))


def _uuid(rnd: random.Random) -> str:
    h = _hex(rnd, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _request_id(rnd: random.Random, edge: str, t_ms: int) -> str:
    """An x-vercel-id style request id: ``<edge>::<fn region>::<node>-<epoch ms>-<hex12>``."""
    return f"{edge}::{FUNCTION_REGION}::{_token(rnd, _ALNUM, 5)}-{t_ms}-{_hex(rnd, 12)}"


def _ip_pool(rng: np.random.Generator, n: int) -> list[str]:
    """Public-looking client addresses (no private, loopback or reserved ranges)."""
    firsts = np.array([24, 31, 37, 46, 62, 73, 77, 86, 89, 92, 98, 109, 151, 176, 188, 212, 217])
    a = rng.choice(firsts, n)
    rest = rng.integers(1, 255, (n, 3))
    return [f"{a[i]}.{rest[i, 0]}.{rest[i, 1]}.{rest[i, 2]}" for i in range(n)]


def _type_error_trace(rnd: random.Random) -> str:
    """The default scenario's new error: a Next.js route handler dereferencing undefined."""
    line, col = rnd.randrange(10, 15), rnd.randrange(20, 48)
    digest = rnd.randrange(10**9, 4 * 10**9)
    return (
        f"{TYPE_ERROR_HEAD}\n"
        f"    at handler (/var/task/.next/server/app/api/orders/[orderId]/route.js:{line}:{col})\n"
        f"    at async {NEXT_RUNTIME}:6:{rnd.randrange(38000, 39000)}\n"
        f"    at async ek.execute ({NEXT_RUNTIME}:6:{rnd.randrange(29000, 30000)})\n"
        f"    at async ek.handle ({NEXT_RUNTIME}:6:{rnd.randrange(39000, 40500)}) {{\n"
        f"  digest: '{digest}'\n}}"
    )


def _db_timeout_trace() -> str:
    return (f"{DB_TIMEOUT_HEAD}\n"
            "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1611:16) {\n"
            "  errno: -110,\n  code: 'ETIMEDOUT',\n  syscall: 'connect',\n"
            "  address: '10.2.3.4',\n  port: 5432\n}")


def _report(rnd: random.Random, duration: float) -> str:
    billed = math.ceil(duration)
    mem = rnd.randrange(78, 140)
    return (f"REPORT RequestId: {_uuid(rnd)}\tDuration: {duration:.2f} ms\tBilled Duration: "
            f"{billed} ms\tMemory Size: 1024 MB\tMax Memory Used: {mem} MB\t")


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


# --------------------------------------------------------------------------------------------
# Scenario plan: deployments and the incident interval


@dataclass
class _Plan:
    scenario: str
    deployments: list[dict[str, Any]]  # newest last; "active_from" ms when it starts serving
    onset: pd.Timestamp | None
    recovery: pd.Timestamp | None
    bad: int | None  # index of the bad deployment
    rollback: int | None
    attackers: bool
    background_errors: bool
    traffic_scale: float


def _deployment(rnd: random.Random, created: pd.Timestamp, *, build_s: int, sha: str,
                message: str, author: str, source: str = "git",
                extra_meta: dict[str, str] | None = None) -> dict[str, Any]:
    uid = "dpl_" + _token(rnd, _ALNUM.upper() + _ALNUM[:26], 24)
    url = f"{PROJECT_NAME}-{_token(rnd, _ALNUM, 9)}-acme.vercel.app"
    created_ms = _ms(created)
    building = created_ms + rnd.randrange(2000, 6000)
    ready = building + build_s * 1000
    meta = {"githubCommitSha": sha, "githubCommitRef": "main", "githubCommitMessage": message,
            "githubCommitAuthorName": author.title(), "githubCommitAuthorLogin": author,
            "githubCommitOrg": "acme", "githubCommitRepo": PROJECT_NAME, "githubOrg": "acme",
            "githubRepo": PROJECT_NAME}
    meta.update(extra_meta or {})
    return {
        "uid": uid, "name": PROJECT_NAME, "projectId": PROJECT_ID, "url": url,
        "created": created_ms, "createdAt": created_ms, "buildingAt": building, "ready": ready,
        "state": "READY", "readyState": "READY", "readySubstate": "PROMOTED",
        "target": "production", "source": source, "type": "LAMBDAS",
        "creator": {"uid": "u_" + _hex(rnd, 8), "username": author}, "meta": meta,
        "aliasAssigned": ready + 1000, "aliasError": None, "isRollbackCandidate": True,
        "inspectorUrl": f"https://vercel.com/acme/{PROJECT_NAME}/{uid[4:]}",
    }


def _plan(rnd: random.Random, scenario: str) -> _Plan:
    start = WINDOW_START
    good_sha = _hex(rnd, 40)
    a = _deployment(rnd, start - pd.Timedelta(hours=21, minutes=13), build_s=71, sha=good_sha,
                    message="feat: product recommendations on PDP", author="dana")
    if scenario == "quiet":
        return _Plan(scenario, [a], None, None, None, None, attackers=False,
                     background_errors=False, traffic_scale=1.0)
    if scenario == "no_deployment":
        onset = start + pd.Timedelta(minutes=55, seconds=rnd.randrange(0, 60))
        recovery = onset + pd.Timedelta(minutes=24, seconds=rnd.randrange(0, 60))
        return _Plan(scenario, [a], onset, recovery, None, None, attackers=False,
                     background_errors=True, traffic_scale=1.0)
    b = _deployment(rnd, start + pd.Timedelta(minutes=48, seconds=rnd.randrange(0, 60)),
                    build_s=68, sha=_hex(rnd, 40),
                    message="refactor(orders): load customer via new session helper",
                    author="lee")
    onset = pd.Timestamp(b["aliasAssigned"], unit="ms", tz="UTC")
    if scenario == "latency_creep":
        return _Plan(scenario, [a, b], onset, None, 1, None, attackers=False,
                     background_errors=True, traffic_scale=1.0)
    c = _deployment(rnd, onset + pd.Timedelta(minutes=27, seconds=rnd.randrange(0, 60)),
                    build_s=31, sha=good_sha, message=a["meta"]["githubCommitMessage"],
                    author="dana", source="redeploy",
                    extra_meta={"action": "redeploy", "originalDeploymentId": a["uid"]})
    recovery = pd.Timestamp(c["aliasAssigned"], unit="ms", tz="UTC")
    low = scenario == "low_traffic"
    return _Plan(scenario, [a, b, c], onset, recovery, 1, 2, attackers=not low,
                 background_errors=True, traffic_scale=1 / 40 if low else 1.0)


# --------------------------------------------------------------------------------------------
# Traffic


def _arrival_times(rng: np.random.Generator, n: int, start_ms: int, span_ms: int) -> np.ndarray:
    """Request times with a slow diurnal-ish swell and minute-to-minute noise."""
    minutes = max(span_ms // 60_000, 1)
    m = np.arange(minutes)
    rate = 1.0 + 0.35 * np.sin(2 * np.pi * (m / minutes) * 0.8 - 0.6) + rng.normal(0, 0.06, minutes)
    rate = np.clip(rate, 0.2, None)
    minute = rng.choice(minutes, size=n, p=rate / rate.sum())
    t = start_ms + minute * 60_000 + rng.integers(0, 60_000, n)
    return np.sort(t)


def _serving(plan: _Plan, t_ms: int) -> int:
    """Index of the deployment that serves production traffic at ``t_ms``."""
    current = 0
    for i, dep in enumerate(plan.deployments):
        if dep["aliasAssigned"] <= t_ms:
            current = i
    return current


def _latency_factor(plan: _Plan, t_ms: int, route: str) -> float:
    if plan.onset is None or t_ms < _ms(plan.onset):
        return 1.0
    if plan.recovery is not None and t_ms >= _ms(plan.recovery):
        return 1.0
    if plan.scenario == "latency_creep":
        end = _ms(WINDOW_START + WINDOW)
        frac = (t_ms - _ms(plan.onset)) / max(end - _ms(plan.onset), 1)
        return 1.0 + 2.5 * frac
    if plan.scenario == "no_deployment":
        return 1.0
    return 3.5 if route == "/api/orders/[orderId]" else 1.6


def _normal_requests(rng: np.random.Generator, rnd: random.Random, plan: _Plan,
                     n: int) -> list[_Request]:
    start_ms, span_ms = _ms(WINDOW_START), int(WINDOW.value // 1_000_000)
    times = _arrival_times(rng, n, start_ms, span_ms)
    shares = np.array([r[2] for r in ROUTES])
    route_idx = rng.choice(len(ROUTES), size=n, p=shares / shares.sum())
    pool = _ip_pool(rng, 4000)
    ip_weights = 1.0 / np.arange(1, len(pool) + 1) ** 0.6
    ip_idx = rng.choice(len(pool), size=n, p=ip_weights / ip_weights.sum())
    # heavy benign clients: the office NAT (many browsers) and the Googlebot crawler
    who = rng.random(n)
    edges = rng.choice(len(EDGE_REGIONS), size=n, p=np.array(EDGE_WEIGHTS) / sum(EDGE_WEIGHTS))
    noise = rng.lognormal(0.0, 0.45, n)
    out: list[_Request] = []
    for i in range(n):
        t = int(times[i])
        route, source, _, median = ROUTES[int(route_idx[i])]
        ua = BROWSER_UAS[int(ip_idx[i]) % len(BROWSER_UAS)]
        ip = pool[int(ip_idx[i])]
        if who[i] < 0.06:
            ip, ua = OFFICE_NAT_IP, BROWSER_UAS[rnd.randrange(0, len(BROWSER_UAS))]
        elif who[i] < 0.09:
            ip, ua = CRAWLER_IP, GOOGLEBOT_UA
            if route in ("/api/cart", "/api/login", "/api/orders/[orderId]"):
                route, source, median = "/products/[slug]", "lambda", ROUTES[1][3]
        out.append(_build_request(rnd, plan, t, route, source, median * noise[i], ip, ua,
                                  EDGE_REGIONS[int(edges[i])]))
    return out


def _build_request(rnd: random.Random, plan: _Plan, t: int, route: str, source: str,
                   duration: float, ip: str, ua: str, edge: str) -> _Request:
    """One ordinary request: its concrete path, outcome, duration and log messages."""
    method, status, nbytes = "GET", 200, rnd.randrange(800, 24_000)
    messages: list[tuple[str, str, str]] = []
    referer: str | None = f"https://{CUSTOM_HOST}/"
    incident = plan.onset is not None and t >= _ms(plan.onset) and (
        plan.recovery is None or t < _ms(plan.recovery))
    if route == "static":
        path = STATIC_PATHS[rnd.randrange(0, len(STATIC_PATHS))]
        status = 304 if rnd.random() < 0.2 else 200
        return _Request(t, path, "static", "GET", path, ip, ua, edge, status, 0.0,
                        _serving(plan, t), nbytes if status == 200 else 0, [], referer=referer)
    if route == "/":
        path = "/"
        referer = None
        if rnd.random() < 0.6:  # prerendered page served from the edge cache
            return _Request(t, "/", "static", "GET", "/", ip, ua, edge, 200, 0.0,
                            _serving(plan, t), nbytes, [], referer=referer)
        messages.append(("info", "stdout", f"render / variant={rnd.randrange(1, 4)}"))
    elif route == "/products/[slug]":
        slug = SLUGS[rnd.randrange(0, len(SLUGS))]
        path = f"/products/{slug}" + ("?ref=home" if rnd.random() < 0.2 else "")
        if plan.background_errors and rnd.random() < 0.015:
            slug = f"{slug}-{rnd.randrange(100, 999)}"
            path, status = f"/products/{slug}", 404
            messages.append(("warning", "stdout", f"Product not found: {slug}"))
    elif route == "/api/orders/[orderId]":
        order = rnd.randrange(10_000, 99_999)
        method = "POST" if rnd.random() < 0.2 else "GET"
        path = f"/api/orders/{order}" + ("?expand=items" if rnd.random() < 0.3 else "")
        referer = f"https://{CUSTOM_HOST}/account/orders"
        messages.append(("info", "stdout", f"loading order {order}"))
        if incident and plan.scenario in ("default", "low_traffic") and rnd.random() < 0.55:
            status = 500
            messages.append(("error", "stderr", _type_error_trace(rnd)))
    elif route == "/api/cart":
        method = "POST" if rnd.random() < 0.4 else "GET"
        path = "/api/cart"
        referer = f"https://{CUSTOM_HOST}/cart"
        messages.append(("info", "stdout", f"cart {_hex(rnd, 8)} items={rnd.randrange(0, 7)}"))
    else:  # /api/login
        method, path = "POST", "/api/login"
        referer = f"https://{CUSTOM_HOST}/login"
        if rnd.random() < 0.05:
            status = 401
            messages.append(("warning", "stdout", "login failed: invalid credentials"))
        else:
            messages.append(("info", "stdout", "login ok"))
    if source == "lambda":
        duration *= _latency_factor(plan, t, route)
        db_route = route in ("/api/orders/[orderId]", "/products/[slug]", "/api/login")
        outage = incident and plan.scenario == "no_deployment" and db_route
        if status < 400 and ((outage and rnd.random() < 0.35)
                             or (plan.background_errors and db_route and rnd.random() < 0.003)):
            status = 504
            duration = 10_000 + rnd.gauss(40, 15)
            messages.append(("error", "stderr", _db_timeout_trace()))
    else:
        duration = 0.0
    if status >= 400:
        nbytes = rnd.randrange(60, 400)
    return _Request(t, route, source, method, path, ip, ua, edge, status, max(duration, 1.0),
                    _serving(plan, t), nbytes, messages, referer=referer)


def _attack_requests(rnd: random.Random, plan: _Plan, scale: int) -> list[_Request]:
    """The scanner and the brute-force client of the default scenario."""
    out: list[_Request] = []
    start = _ms(WINDOW_START)
    t = start + rnd.randrange(20, 30) * 60_000
    for rep in range(2):
        for path in SCANNER_PATHS:
            t += rnd.randrange(150, 2500)
            ua = SCANNER_UAS[(rep + len(path)) % len(SCANNER_UAS)]
            denied = "%2f" in path or "%2e" in path
            out.append(_Request(t, path, "firewall" if denied else "static", "GET", path,
                                SCANNER_IP, ua, "fra1", 403 if denied else 404, 0.0,
                                _serving(plan, t), rnd.randrange(100, 300), [], referer=None))
    t = start + rnd.randrange(95, 100) * 60_000
    for _ in range(max(120, scale)):
        t += rnd.randrange(200, 900)
        duration = rnd.lognormvariate(math.log(140), 0.3)
        user = f"{['admin', 'ops', 'dana', 'billing', 'support'][rnd.randrange(0, 5)]}@acme.io"
        out.append(_Request(t, "/api/login", "lambda", "POST", "/api/login", BRUTEFORCE_IP,
                            BRUTEFORCE_UA, "lhr1", 401, duration, _serving(plan, t),
                            rnd.randrange(60, 120),
                            [("warning", "stdout", f"login failed for {user}: bad password")],
                            referer=None))
    return out


# --------------------------------------------------------------------------------------------
# Rows


def _request_rows(rnd: random.Random, req: _Request, deps: list[dict[str, Any]],
                  counter: int) -> tuple[list[tuple[int, str]], int]:
    """The drain lines of one request as ``(timestamp_ms, line)`` pairs."""
    dep = deps[req.deployment]
    rid = _request_id(rnd, req.region, req.t_ms)
    ua = _js(req.ua)
    ppath = _js(req.path)
    referer = f'"referer":{_js(req.referer)},' if req.referer else ""
    status = str(req.status)
    cache = {"static": "HIT", "firewall": "MISS"}.get(req.source, "MISS")
    path_type = {"static": "static" if req.status < 400 else "not_found", "lambda": "func",
                 "edge": "edge", "firewall": "not_found"}[req.source]
    lambda_region = f'"lambdaRegion":"{FUNCTION_REGION}",' if req.source == "lambda" else ""
    exec_region = (f'"executionRegion":"{FUNCTION_REGION}",'
                   if req.source in ("lambda", "edge") else "")
    trace = ""
    if req.trace_id:
        trace = (f'"traceId":"{req.trace_id}","spanId":"{req.span_id}",'
                 f'"trace.id":"{req.trace_id}","span.id":"{req.span_id}",')
    entry = ENTRYPOINTS.get(req.route)
    entry_frag = f'"entrypoint":"{entry}",' if entry and req.source != "static" else ""
    route_frag = f'"path":{_js(req.route)},'
    # WAF verdicts live inside ``proxy`` in Vercel's drain schema.
    waf = ('"wafAction":"deny","wafRuleId":"rule_path_traversal",'
           if req.source == "firewall" else "")
    items: list[tuple[str, str, str | None, int]] = []  # (level, type, message, offset ms)
    n_msg = len(req.messages)
    for k, (level, typ, text) in enumerate(req.messages):
        items.append((level, typ, text, int(req.duration_ms * (k + 1) / (n_msg + 2))))
    if req.source == "lambda":
        items.append(("info", "stdout", _report(rnd, req.duration_ms), int(req.duration_ms) + 2))
    if not items:
        items.append(("info", "", None, rnd.randrange(1, 30)))
    rows: list[tuple[int, str]] = []
    for level, typ, text, offset in items:
        ts = req.t_ms + offset
        counter += 1
        rows.append((ts, _DRAIN_LINE.format(
            f"{ts}{counter:015d}", dep["uid"], req.source, dep["url"], ts, level,
            f'"message":{_js(text)},' if text is not None else "",
            f'"type":"{typ}",' if typ else "", entry_frag, route_frag,
            rid, exec_region, trace, req.t_ms, req.method, ppath, ua, req.region, referer,
            status, req.ip, req.bytes, path_type, cache, lambda_region + waf)))
    return rows, counter


# --------------------------------------------------------------------------------------------
# Side files: deployments, metrics, traces


def _write_deployments(path: Path, deps: list[dict[str, Any]]) -> None:
    newest_first = sorted(deps, key=lambda d: d["created"], reverse=True)
    doc = {"deployments": newest_first,
           "pagination": {"count": len(deps), "next": None, "prev": newest_first[0]["created"]}}
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def _write_metrics(path: Path, requests: list[_Request]) -> None:
    """One Prometheus scrape per minute, each sample with an explicit timestamp (cumulative)."""
    start = _ms(WINDOW_START)
    minutes = int(WINDOW.value // 60_000_000_000)
    def label(r: _Request) -> str:
        return r.route if r.route in ROUTE_INDEX else "static"
    counts: dict[tuple[str, str, int], int] = {}
    hist: dict[str, list[float]] = {}
    by_minute: list[list[_Request]] = [[] for _ in range(minutes + 1)]
    for r in requests:
        by_minute[min(max((r.t_ms - start) // 60_000, 0), minutes)].append(r)
    lines: list[str] = []
    bucket_counts: dict[str, np.ndarray] = {}
    sums: dict[str, float] = {}
    for m in range(1, minutes + 1):
        for r in by_minute[m - 1]:
            key = (label(r), r.method, r.status)
            counts[key] = counts.get(key, 0) + 1
            if r.source == "lambda":
                route = label(r)
                hist.setdefault(route, [])
                seconds = r.duration_ms / 1000
                idx = bisect.bisect_left(BUCKETS, seconds)
                bc = bucket_counts.setdefault(route, np.zeros(len(BUCKETS) + 1, dtype=np.int64))
                bc[idx:] += 1
                sums[route] = sums.get(route, 0.0) + seconds
        ts = start + m * 60_000
        lines.append("# HELP http_requests_total Requests served, by route, method and status.")
        lines.append("# TYPE http_requests_total counter")
        for (route, method, status), value in sorted(counts.items()):
            lines.append(f'http_requests_total{{route="{route}",method="{method}",'
                         f'status="{status}"}} {value} {ts}')
        lines.append("# HELP http_request_duration_seconds Function duration (REPORT).")
        lines.append("# TYPE http_request_duration_seconds histogram")
        for route in sorted(bucket_counts):
            bc = bucket_counts[route]
            for le, value in zip((*[f"{b:g}" for b in BUCKETS], "+Inf"), bc, strict=True):
                lines.append(f'http_request_duration_seconds_bucket{{route="{route}",'
                             f'le="{le}"}} {int(value)} {ts}')
            lines.append(f'http_request_duration_seconds_sum{{route="{route}"}} '
                         f"{sums[route]:.3f} {ts}")
            lines.append(f'http_request_duration_seconds_count{{route="{route}"}} '
                         f"{int(bc[-1])} {ts}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _attr(key: str, value: str | int) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def _write_traces(path: Path, rnd: random.Random, requests: list[_Request],
                  deps: list[dict[str, Any]]) -> None:
    """OTLP/JSON: one resourceSpans per deployment, a server span (+ a DB span) per request."""
    by_dep: dict[int, list[dict[str, Any]]] = {}
    for r in requests:
        if not r.trace_id:
            continue
        start_ns = r.t_ms * 1_000_000 + rnd.randrange(0, 999_999)
        end_ns = start_ns + round(r.duration_ms * 1_000_000)
        root = {
            "traceId": r.trace_id, "spanId": r.span_id, "parentSpanId": "",
            "name": f"{r.method} {r.route}", "kind": 2,
            "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(end_ns),
            "attributes": [_attr("http.request.method", r.method), _attr("http.route", r.route),
                           _attr("url.path", r.path.split("?", 1)[0]),
                           _attr("http.response.status_code", r.status),
                           _attr("client.address", r.ip), _attr("vercel.region", r.region)],
            "status": {"code": 2, "message": "TypeError"} if r.status >= 500 else {"code": 0},
        }
        spans = [root]
        if r.route in ("/api/orders/[orderId]", "/products/[slug]"):
            db_start = start_ns + int(r.duration_ms * 0.1 * 1_000_000)
            db_end = db_start + int(r.duration_ms * 0.6 * 1_000_000)
            spans.append({
                "traceId": r.trace_id, "spanId": _hex(rnd, 16), "parentSpanId": r.span_id,
                "name": "pg.query SELECT", "kind": 3, "startTimeUnixNano": str(db_start),
                "endTimeUnixNano": str(db_end),
                "attributes": [_attr("db.system", "postgresql"),
                               _attr("server.address", "10.2.3.4")],
                "status": {"code": 0}})
        by_dep.setdefault(r.deployment, []).extend(spans)
    resource_spans = []
    for i in sorted(by_dep):
        resource_spans.append({
            "resource": {"attributes": [_attr("service.name", PROJECT_NAME),
                                        _attr("vercel.projectId", PROJECT_ID),
                                        _attr("vercel.deploymentId", deps[i]["uid"]),
                                        _attr("deployment.environment", "production")]},
            "scopeSpans": [{"scope": {"name": "next.js", "version": "15.2.3"},
                            "spans": by_dep[i]}]})
    path.write_text(json.dumps({"resourceSpans": resource_spans}) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Public API


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _quantiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    arr = np.asarray(values)
    return round(float(np.percentile(arr, 50)), 2), round(float(np.percentile(arr, 95)), 2)


def _gzip_bytes(data: bytes) -> bytes:
    """gzip with a zero mtime and no file name, so the bytes depend on the content only."""
    return gzip.compress(data, compresslevel=1, mtime=0)


def generate(out_dir: str | Path, *, seed: int = 0, events: int = 100_000,
             scenario: str = "default") -> DemoIncident:
    """Write one demo incident into ``out_dir`` and return its files and truth.

    ``events`` is the approximate number of drain log lines (the scenario's traffic scale
    applies on top).  The first hour goes to a plain NDJSON file, the second to a gzipped one,
    so that both encodings are always exercised.  The same ``seed`` writes the same bytes.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown demo scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)  # vectorised draws
    rnd = random.Random(seed)  # scalar draws (much cheaper per call than numpy's)
    plan = _plan(rnd, scenario)
    target = max(int(events * plan.traffic_scale), 200)
    attack_scale = target // 250
    attack_rows = (2 * len(SCANNER_PATHS) + 2 * max(120, attack_scale)) if plan.attackers else 0
    n_normal = max(int((target - attack_rows) / 1.30), 50)
    requests = _normal_requests(rng, rnd, plan, n_normal)
    if plan.attackers:
        requests += _attack_requests(rnd, plan, attack_scale)
    requests.sort(key=lambda r: r.t_ms)
    for r in requests:  # Vercel tracing on a sample of function requests
        if r.source == "lambda" and rnd.random() < 0.08:
            r.trace_id, r.span_id = _hex(rnd, 32), _hex(rnd, 16)

    rows: list[tuple[int, str]] = []
    counter = rnd.randrange(10**9, 10**10)
    for r in requests:
        new, counter = _request_rows(rnd, r, plan.deployments, counter)
        rows.extend(new)
    rows.sort(key=lambda x: x[0])
    split = _ms(WINDOW_START + WINDOW / 2)
    first = "".join(line for ts, line in rows if ts < split).encode()
    second = "".join(line for ts, line in rows if ts >= split).encode()
    log1, log2 = out / "drain-1.ndjson", out / "drain-2.ndjson.gz"
    log1.write_bytes(first)
    log2.write_bytes(_gzip_bytes(second))

    deployments, metrics, traces = (out / "deployments.json", out / "metrics.prom",
                                    out / "traces.json")
    _write_deployments(deployments, plan.deployments)
    _write_metrics(metrics, requests)
    _write_traces(traces, rnd, requests, plan.deployments)

    truth = _truth(plan, requests, len(rows))
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return DemoIncident(logs=[log1, log2], deployments=deployments, metrics=metrics,
                        traces=traces, truth=truth, scenario=scenario, seed=seed)


def _truth(plan: _Plan, requests: list[_Request], n_rows: int) -> dict[str, Any]:
    end_ms = _ms(WINDOW_START + WINDOW)
    onset_ms = _ms(plan.onset) if plan.onset is not None else end_ms
    stop_ms = _ms(plan.recovery) if plan.recovery is not None else end_ms
    before = [r.duration_ms for r in requests if r.source == "lambda" and r.t_ms < onset_ms]
    after = [r.duration_ms for r in requests
             if r.source == "lambda" and onset_ms <= r.t_ms < stop_ms]
    b50, b95 = _quantiles(before)
    a50, a95 = _quantiles(after) if plan.onset is not None else (None, None)
    normal = [r for r in requests if r.ip not in (SCANNER_IP, BRUTEFORCE_IP)]

    def rate(rs: list[_Request]) -> float | None:
        return round(sum(r.status >= 500 for r in rs) / len(rs), 4) if rs else None

    example = None
    if plan.scenario in ("default", "low_traffic"):
        example = next(m[2] for r in requests for m in r.messages
                       if m[2].startswith(TYPE_ERROR_HEAD))
    deps = plan.deployments
    return {
        "scenario": plan.scenario,
        "window_start": _iso(WINDOW_START),
        "window_end": _iso(WINDOW_START + WINDOW),
        "onset": _iso(plan.onset),
        "recovery": _iso(plan.recovery),
        "bad_deployment_id": deps[plan.bad]["uid"] if plan.bad is not None else None,
        "rollback_deployment_id": deps[plan.rollback]["uid"] if plan.rollback is not None else None,
        "deployment_ids": [d["uid"] for d in deps],
        "latency_before_p50": b50,
        "latency_before_p95": b95,
        "latency_after_p50": a50,
        "latency_after_p95": a95,
        "error_rate_before": rate([r for r in normal if r.t_ms < onset_ms]),
        "error_rate_during": rate([r for r in normal if onset_ms <= r.t_ms < stop_ms])
        if plan.onset is not None else None,
        "attacker_ips": [SCANNER_IP, BRUTEFORCE_IP] if plan.attackers else [],
        "scanner_ips": [SCANNER_IP] if plan.attackers else [],
        "bruteforce_ips": [BRUTEFORCE_IP] if plan.attackers else [],
        "benign_heavy_ips": [CRAWLER_IP, OFFICE_NAT_IP],
        "new_pattern_example": example,
        "requests": len(requests),
        "events": n_rows,
        "error_events": sum(m[0] == "error" for r in requests for m in r.messages),
        "project_id": PROJECT_ID,
    }


# --------------------------------------------------------------------------------------------
# Streaming writer for benchmarks


def _partial(fixed: dict[int, object]) -> str:
    """:data:`_DRAIN_LINE` with the ``fixed`` fields filled in and ``%s`` slots for the rest.

    The benchmark writer fills the remaining slots with ``%`` formatting: far fewer arguments
    per line than formatting the whole template each time.
    """
    args = ["%s"] * 25
    for index, value in fixed.items():
        args[index] = str(value).replace("%", "%%")
    return _DRAIN_LINE.format(*args)


def _bench_chunks(n_events: int, seed: int, chunk: int = 50_000) -> Iterator[str]:
    """Steady mixed traffic as NDJSON text, ``chunk`` lines at a time (vectorised draws).

    Slots left open per line: id, timestamp, [level, message, route,] request id, proxy
    timestamp, [path,] user agent, region, [status,] client ip, request id again.
    """
    rng = np.random.default_rng(seed)
    rnd = random.Random(seed)
    pool = _ip_pool(rng, 5000)
    uas = [_js(u) for u in (*BROWSER_UAS, GOOGLEBOT_UA)]
    dep = {1: "dpl_7Hq2kLmN3pQrStUvWxYz0123", 3: f"{PROJECT_NAME}-k3j9x2ab1-acme.vercel.app",
           8: "", 11: "", 12: "", 14: "GET", 18: "", 21: 512, 24: ""}
    static = _partial({**dep, 2: "static", 5: "info", 6: "", 7: "",
                       9: '"path":"/favicon.ico",', 15: '"/favicon.ico"', 19: 200,
                       22: "static", 23: "HIT"})
    function = _partial({**dep, 2: "lambda", 7: "", 22: "func", 23: "MISS"})
    # (level, message fragment, status) choices: info lines, REPORT lines, two error patterns
    info = [("info", f'"message":{_js(f"loading order {n}")},"type":"stdout",', 200)
            for n in range(10_000, 10_500)]
    errors = [("error", f'"message":{_js(_type_error_trace(rnd))},"type":"stderr",', 500)
              for _ in range(50)]
    errors.append(("error", f'"message":{_js(_db_timeout_trace())},"type":"stderr",', 504))
    reports = [("info", f'"message":{_js(_report(rnd, d))},"type":"stdout",', 200)
               for d in rng.lognormal(math.log(90), 0.5, 400).tolist()]
    routes = [(f'"path":"{r[0]}",', '"' + r[0].replace("[slug]", "linen-shirt").replace(
        "[orderId]", "10042") + '"') for r in ROUTES if r[1] == "lambda"]
    written, t = 0, _ms(WINDOW_START)
    while written < n_events:
        n = min(chunk, n_events - written)
        times = (t + np.cumsum(rng.integers(0, 40, n))).tolist()
        t = times[-1]
        kind = rng.integers(0, 100, n).tolist()  # <40 static, <70 info, <99 REPORT, else error
        route = rng.integers(0, len(routes), n).tolist()
        ip = rng.integers(0, len(pool), n).tolist()
        ua = rng.integers(0, len(uas), n).tolist()
        edge = rng.integers(0, len(EDGE_REGIONS), n).tolist()
        pick = rng.integers(0, 1 << 30, n).tolist()
        hexes = rng.integers(0, 2**48, n).tolist()
        lines = []
        for i in range(n):
            ts, k, h = times[i], kind[i], hexes[i]
            region = EDGE_REGIONS[edge[i]]
            rid = f"{region}::{FUNCTION_REGION}::{h % 99991:05d}-{ts - 3}-{h:012x}"
            written += 1
            if k < 40:
                lines.append(static % (f"{ts}{written:015d}", ts, rid, ts - 3, uas[ua[i]],
                                       region, pool[ip[i]], rid))
                continue
            choices = info if k < 70 else reports if k < 99 else errors
            level, message, status = choices[pick[i] % len(choices)]
            route_frag, path = routes[route[i]]
            lines.append(function % (f"{ts}{written:015d}", ts, level, message, route_frag, rid,
                                     ts - 3, path, uas[ua[i]], region, status, pool[ip[i]], rid))
        yield "".join(lines)


def write_drain_ndjson(path: str | Path, n_events: int, seed: int = 0) -> Path:
    """Stream ``n_events`` current-schema drain NDJSON lines to ``path`` (gzip if ``.gz``).

    For benchmarks with millions of records: memory stays bounded by one chunk.  The traffic is
    steady (no incident); messages include info lines, REPORT lines and stack traces.
    """
    out = Path(path)
    if out.suffix == ".gz":
        with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                   filename="", compresslevel=1) as fh:
            for text in _bench_chunks(n_events, seed):
                fh.write(text.encode())
    else:
        with open(out, "w", encoding="utf-8") as fh:
            for text in _bench_chunks(n_events, seed):
                fh.write(text)
    return out


# --------------------------------------------------------------------------------------------
# The scribe's side of the demo


def scribe_notes(truth: dict[str, Any]) -> list[dict[str, str]]:
    """What a scribe would have noted during the demo incident: ``{kind, at, text}`` entries.

    Why: ``irkit demo`` should show a PIR as a real incident produces it, with the alert, the
    IC, the mitigation and the resolution on the timeline and response times measured against
    the playbook's SLA, not placeholders.  Times are offsets from the generated onset and
    recovery, so they stay consistent with the data; an incident-free scenario has no notes.
    """
    onset = truth.get("onset")
    recovery = truth.get("recovery")
    if not onset or not recovery:
        return []
    t0, t1 = pd.Timestamp(onset), pd.Timestamp(recovery)
    bad, rollback = truth.get("bad_deployment_id"), truth.get("rollback_deployment_id")
    cause = (f"deployment {bad} introduced a TypeError in /api/orders/[orderId]" if bad
             else "the orders database stopped accepting connections (ETIMEDOUT)")
    fix = (f"rolled back to the previous build ({rollback})" if rollback
           else "database failover completed; connections recovered")

    def at(base: pd.Timestamp, minutes: float) -> str:
        return (base + pd.Timedelta(minutes=minutes)).isoformat()

    return [
        {"kind": "alert", "at": at(t0, 3), "text": "Error-rate alert from monitoring (5xx > 2%)"},
        {"kind": "ic", "at": at(t0, 6), "text": "IC assigned: on-call engineer"},
        {"kind": "root-cause", "at": at(t0, 17), "text": cause},
        {"kind": "mitigation", "at": at(t1, -1), "text": fix},
        {"kind": "resolved", "at": at(t1, 12), "text": "Error rate back to baseline for 10 min"},
    ]
