"""``irkit collect``: pull an incident's Vercel evidence over the REST API before it expires.

What is collected (vercel-formats §2), each raw response byte for byte under ``--out``:

=============================  ================================================================
``project.json``               the project (reduced copy: plain env values never reach the
                               evidence) → project id, owner id, production deployment
``deployments/page-NNN.json``  ``/v6/deployments`` pages, following ``until`` to ``--since``
``deployments.json``           the same deployments merged, once each (what loaders read)
``events/<dpl>.json``          ``/v3/deployments/{id}/events`` build logs of window deployments
``request-logs/page-NNN.json`` the internal request-logs API of the CLI (degrades if gone)
``runtime-logs/<dpl>.ndjson``  ``--follow``: a bounded capture of the live runtime-log stream
``metrics/observability-*``    ``POST /v2/observability/query`` where the plan allows
``metrics/app-metrics.*``      ``--metrics-url``: the app's own metrics endpoint, unauthenticated
``collection.json``            what was asked, when, status, retries, bytes, sha256, complete
=============================  ================================================================

A collection is *complete* only when everything that should exist was fetched; anything that
failed after retries makes it partial (``complete: false`` with ``partial_reasons``, exit 1).
Optional sources that the account does not have (observability on a plan without it, the
request-logs endpoint answering 404) are ``skipped`` with a reason instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from irkit.capture.evidence import CollectionLog, safe_name
from irkit.capture.vercel_api import (
    DEFAULT_API_BASE,
    DEFAULT_REQUEST_LOGS_BASE,
    ApiResponse,
    Attempt,
    VercelClient,
    now_iso,
)
from irkit.errors import IrkitError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

#: Observability queries: (metric, aggregation, groupBy).  Latency lives only here (§4).
OBSERVABILITY_QUERIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("vercel.request.count", "sum", ("http_status",)),
    ("vercel.function_invocation.function_duration_ms", "p50", ()),
    ("vercel.function_invocation.function_duration_ms", "p95", ()),
    ("vercel.function_invocation.function_duration_ms", "p99", ()),
)
#: Project fields kept in project.json.  The full response can hold plain-text env values.
PROJECT_KEYS = ("id", "name", "accountId", "framework", "createdAt", "updatedAt", "live",
                "link", "latestDeployments", "targets", "lastRollbackTarget", "lastAliasRequest")
DEPLOYMENT_SUMMARY_KEYS = ("id", "uid", "url", "createdAt", "created", "buildingAt", "ready",
                           "readyState", "state", "target", "meta", "creator", "alias")


def parse_duration(text: str, *, option: str = "duration") -> timedelta:
    """``90s``, ``15m``, ``1h30m``, ``2d`` → timedelta (a bare number means seconds)."""
    raw = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return timedelta(seconds=float(raw))
    pos, total = 0, 0.0
    for match in _DURATION.finditer(raw):
        if raw[pos:match.start()].strip():
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        pos = match.end()
    if pos == 0 or raw[pos:].strip():
        raise IrkitError(f"{option} {text!r}: expected a duration like 30m, 1h, 1h30m or 2d")
    return timedelta(seconds=total)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``--since``: a duration back from now, or an ISO-8601 time (UTC if no offset)."""
    now = now or datetime.now(UTC)
    try:
        return now - parse_duration(text, option="--since")
    except IrkitError:
        try:
            when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise IrkitError(f"--since {text!r}: expected a duration (1h, 30m, 2d) "
                             "or an ISO-8601 time") from None
        return when if when.tzinfo else when.replace(tzinfo=UTC)


def seg(value: str) -> str:
    """One URL path segment: ids from responses must not be able to steer the request path."""
    return quote(str(value), safe="")


def check_api_base(url: str, option: str = "--api-base") -> str:
    """Refuse to send the token in clear text anywhere but to this machine."""
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise IrkitError(f"{option} {url!r}: expected an http(s) URL")
    if parsed.scheme == "http" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise IrkitError(f"{option} {url!r}: plain http would send VERCEL_TOKEN unencrypted; "
                         "use https (http is allowed for 127.0.0.1/localhost only)")
    return url.rstrip("/")


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass
class CollectOptions:
    """What ``irkit collect`` was asked to do (recorded in ``collection.json``, no secrets)."""

    project: str
    out: Path
    team: str | None = None
    since: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=24))
    until: datetime = field(default_factory=lambda: datetime.now(UTC))
    follow: float | None = None  # seconds of live runtime-log capture
    metrics_url: str | None = None
    api_base: str = DEFAULT_API_BASE
    request_logs_base: str | None = None  # default: vercel.com, or --api-base when that is set
    max_pages: int = 100
    max_event_deployments: int = 25

    def logs_base(self) -> str:
        if self.request_logs_base:
            return self.request_logs_base
        if self.api_base.rstrip("/") == DEFAULT_API_BASE:
            return DEFAULT_REQUEST_LOGS_BASE
        return self.api_base  # proxies and test servers serve both

    def as_params(self) -> dict[str, Any]:
        return {
            "project": self.project, "team": self.team,
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "follow_s": self.follow, "metrics_url": self.metrics_url,
            "api_base": self.api_base, "request_logs_base": self.logs_base(),
            "max_pages": self.max_pages,
        }


@dataclass
class CollectResult:
    """Summary of a collection for the CLI."""

    out: Path
    complete: bool
    partial_reasons: list[str]
    skipped: list[dict[str, str]]
    deployments: int
    files: int

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "complete": self.complete,
                "partial_reasons": self.partial_reasons, "skipped": self.skipped,
                "deployments": self.deployments, "files": self.files}


def _api_message(response: ApiResponse) -> str:
    """The API's own error message (``{"error": {"message"}}``), shortened, or the status."""
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = str(body["error"].get("message") or body["error"].get("code") or "")
        if message:
            return f"{response.describe()}: {' '.join(message.split())[:200]}"
    return response.describe()


class Collector:
    """One collection run: a sequence of steps sharing the client and the log."""

    def __init__(self, options: CollectOptions, client: VercelClient, log: CollectionLog) -> None:
        self.o = options
        self.client = client
        self.log = log
        self.project_id = options.project
        self.owner_id: str | None = options.team if (options.team or "").startswith("team_") \
            else None
        self.production_id: str | None = None
        self.deployments: list[dict[str, Any]] = []

    # -- steps ------------------------------------------------------------------------------------

    def project(self) -> None:
        response = self.client.get(f"/v9/projects/{seg(self.o.project)}")
        self.client.raise_for_auth(response, f"project {self.o.project!r}")
        if response.status == 404:
            self.log.call("project", response, outcome="failed")
            raise IrkitError(f"--project {self.o.project!r}: not found by the Vercel API"
                             + (f" in team {self.o.team!r}" if self.o.team else
                                " (add --team for team projects)"))
        body = response.json() if response.ok else None
        if not isinstance(body, dict):
            self.log.call("project", response, outcome="failed")
            self.log.partial(f"project: {_api_message(response)}; continuing with "
                             f"{self.o.project!r} as the project id")
            return
        self.project_id = str(body.get("id") or self.o.project)
        self.owner_id = self.owner_id or (str(body["accountId"]) if body.get("accountId")
                                          else None)
        production = (body.get("targets") or {}).get("production") or {}
        self.production_id = production.get("id") or None
        reduced = {k: body[k] for k in PROJECT_KEYS if k in body}
        if isinstance(reduced.get("targets"), dict):
            reduced["targets"] = {
                name: {k: v for k, v in (t or {}).items() if k in DEPLOYMENT_SUMMARY_KEYS}
                for name, t in reduced["targets"].items()}
        if isinstance(reduced.get("latestDeployments"), list):
            reduced["latestDeployments"] = [
                {k: v for k, v in (d or {}).items() if k in DEPLOYMENT_SUMMARY_KEYS}
                for d in reduced["latestDeployments"] if isinstance(d, dict)]
        file = self.log.write("project.json", json.dumps(reduced, indent=2).encode())
        self.log.call("project", response, file=file,
                      note="project.json is a reduced copy (no env values); sha256 is of the "
                           "full response")

    def deployment_pages(self) -> None:
        since_ms = epoch_ms(self.o.since)
        params: dict[str, Any] = {"projectId": self.project_id, "limit": 100,
                                  "until": epoch_ms(self.o.until)}
        seen: dict[str, dict[str, Any]] = {}
        cursors: set[int] = set()
        for page in range(1, self.o.max_pages + 1):
            response = self.client.get("/v6/deployments", params=params)
            self.client.raise_for_auth(response, "deployments")
            body = response.json() if response.ok else None
            if not isinstance(body, dict) or not isinstance(body.get("deployments"), list):
                self.log.call(f"deployments page {page}", response, outcome="failed")
                self.log.partial(f"deployments page {page}: {_api_message(response)}")
                break
            file = self.log.write(f"deployments/page-{page:03d}.json", response.content)
            self.log.call(f"deployments page {page}", response, file=file)
            items = [d for d in body["deployments"] if isinstance(d, dict)]
            for item in items:
                key = str(item.get("uid") or item.get("id") or "")
                if key and key not in seen:
                    seen[key] = item
            nxt = (body.get("pagination") or {}).get("next")
            oldest = min((int(d.get("created") or d.get("createdAt") or 0) for d in items),
                         default=0)
            if nxt is None or not items or oldest < since_ms:
                break  # the end, or past --since (this page keeps the deployment before it)
            if not isinstance(nxt, int | float) or int(nxt) in cursors:
                self.log.partial(f"deployments page {page}: pagination cursor {nxt!r} did not "
                                 "advance; stopped")
                break
            cursors.add(int(nxt))
            params = {**params, "until": int(nxt)}
        else:
            self.log.partial(f"deployments: stopped after --max-pages {self.o.max_pages} pages")
        self.deployments = sorted(seen.values(),
                                  key=lambda d: -int(d.get("created") or d.get("createdAt") or 0))
        merged = {"deployments": self.deployments,
                  "pagination": {"count": len(self.deployments), "next": None, "prev": None}}
        self.log.write("deployments.json", json.dumps(merged, indent=1).encode(),
                       input_kind="deployments")

    def window_deployments(self) -> list[dict[str, Any]]:
        since_ms, until_ms = epoch_ms(self.o.since), epoch_ms(self.o.until)
        inside = [d for d in self.deployments
                  if since_ms <= int(d.get("created") or d.get("createdAt") or 0) <= until_ms]
        return inside

    def build_events(self) -> None:
        targets = self.window_deployments()
        if len(targets) > self.o.max_event_deployments:
            self.log.skip("build events", f"{len(targets) - self.o.max_event_deployments} "
                          "older deployments in the window beyond --max-event-deployments")
            targets = targets[: self.o.max_event_deployments]
        for deployment in targets:
            dpl = str(deployment.get("uid") or deployment.get("id"))
            response = self.client.get(f"/v3/deployments/{seg(dpl)}/events",
                                       params={"direction": "forward", "limit": -1})
            if response.ok:
                stream = "stream+json" in response.headers.get("content-type", "")
                file = self.log.write(f"events/{safe_name(dpl)}.{'ndjson' if stream else 'json'}",
                                      response.content, input_kind="logs")
                self.log.call(f"build events {dpl}", response, file=file)
            else:
                self.log.call(f"build events {dpl}", response)
                self.log.partial(f"build events {dpl}: {_api_message(response)}")

    def request_logs(self) -> None:
        params: dict[str, Any] = {"projectId": self.project_id,
                                  "startDate": epoch_ms(self.o.since),
                                  "endDate": epoch_ms(self.o.until)}
        if self.owner_id:
            params["ownerId"] = self.owner_id
        for page in range(self.o.max_pages):
            response = self.client.get("/api/logs/request-logs", base=self.o.logs_base(),
                                       params={**params, "page": page}, scoped=False)
            name = f"request logs page {page}"
            body = response.json() if response.ok else None
            if response.ok and isinstance(body, dict) and isinstance(body.get("rows"), list):
                file = self.log.write(f"request-logs/page-{page:03d}.json", response.content,
                                      input_kind="logs")
                self.log.call(name, response, file=file)
                if not body.get("hasMoreRows") or not body["rows"]:
                    return
                continue
            if response.ok:  # 2xx, but not the shape we know: keep it, say so
                file = self.log.write(f"request-logs/page-{page:03d}.unrecognised",
                                      response.content)
                self.log.call(name, response, file=file, outcome="failed")
                self.log.partial(f"{name}: response is not {{rows, hasMoreRows}} — the internal "
                                 "request-logs API may have changed")
            elif response.status in (400, 401, 403, 404, 405, 410):
                self.log.call(name, response, outcome="skipped")
                self.log.skip("request logs", f"{_api_message(response)} — the internal "
                              "request-logs endpoint is unavailable for this token or changed")
            else:
                self.log.call(name, response)
                self.log.partial(f"{name}: {_api_message(response)}")
            return
        self.log.partial(f"request logs: stopped after --max-pages {self.o.max_pages} pages")

    def observability(self) -> None:
        if not self.owner_id:
            self.log.skip("observability metrics", "owner (team/account) id unknown")
            return
        span = (self.o.until - self.o.since).total_seconds() / 60
        minutes = next((m for m in (1, 5, 15, 60, 240, 1440) if span / m <= 300), 1440)
        for metric, aggregation, group_by in OBSERVABILITY_QUERIES:
            query = {
                "scope": {"type": "project", "ownerId": self.owner_id,
                          "projectIds": [self.project_id]},
                "metric": metric, "aggregation": aggregation,
                "startTime": self.o.since.isoformat().replace("+00:00", "Z"),
                "endTime": self.o.until.isoformat().replace("+00:00", "Z"),
                "granularity": {"minutes": minutes}, "groupBy": list(group_by),
            }
            response = self.client.request("POST", "/v2/observability/query", json=query)
            name = f"observability {metric} {aggregation}"
            if response.ok:
                stem = f"observability-{safe_name(metric)}-{aggregation}.json"
                body = response.json()
                if isinstance(body, dict) and not body.get("metric") and "query" not in body:
                    # The response does not name its metric: keep it raw, and give loaders a
                    # copy that carries the query it answers.
                    file = self.log.write(f"metrics/raw/{stem}", response.content)
                    self.log.write(f"metrics/{stem}",
                                   json.dumps({"query": query, **body}).encode(),
                                   input_kind="metrics")
                else:
                    file = self.log.write(f"metrics/{stem}", response.content,
                                          input_kind="metrics")
                self.log.call(name, response, file=file)
            elif response.status in (400, 401, 402, 403, 404):
                self.log.call(name, response, outcome="skipped")
                self.log.skip("observability metrics", f"{_api_message(response)} (needs "
                              "Observability Plus; the endpoint is semi-internal)")
                return  # the same answer for every metric
            else:
                self.log.call(name, response)
                self.log.partial(f"{name}: {_api_message(response)}")

    def follow_runtime_logs(self, seconds: float) -> None:
        target = self.production_id or next(
            (str(d.get("uid") or d.get("id")) for d in self.deployments
             if (d.get("state") or d.get("readyState")) == "READY"), None)
        if not target:
            self.log.partial("runtime logs: no production or READY deployment to follow")
            return
        relative = f"runtime-logs/{safe_name(target)}.ndjson"
        path = self.log.path(relative)
        digest, size = hashlib.sha256(), 0
        got_200 = False
        with open(path, "wb") as fh:
            try:
                for item in self.client.stream_lines(
                        f"/v1/projects/{seg(self.project_id)}/deployments/{seg(target)}/runtime-logs",
                        duration=seconds, params={"format": "lines"}):
                    if isinstance(item, bytes):
                        fh.write(item)
                        fh.flush()
                        digest.update(item)
                        size += len(item)
                        continue
                    got_200 = got_200 or item.status == 200
                    self.log.call(f"runtime logs {target}", item, file=relative,
                                  outcome="ok" if item.status == 200 and not item.error
                                  else "failed")
            finally:  # also on Ctrl-C: what arrived is evidence and is listed
                os.fsync(fh.fileno())
                self.log.add_file(relative, size, digest.hexdigest(), "logs")
                self.log.save()
        calls = [c for c in self.log.data["calls"] if c["name"] == f"runtime logs {target}"]
        if not got_200 or any(c["outcome"] == "failed" for c in calls):
            last = calls[-1] if calls else {}
            self.log.partial(f"runtime logs {target}: stream interrupted or refused "
                             f"(last: HTTP {last.get('status')}, {last.get('error')})")
        self.log.save()

    def app_metrics(self, url: str) -> None:
        """Snapshot the app's own metrics endpoint — without the Vercel token."""
        started = now_iso()
        response = ApiResponse(method="GET", url=url, started=started)
        try:
            with httpx.Client(timeout=15.0, follow_redirects=True) as plain:
                answer = plain.get(url)
            response.status, response.content = answer.status_code, answer.content
            response.headers = {k: v for k in ("content-type",)
                                if (v := answer.headers.get(k))}
        except httpx.HTTPError as exc:
            response.error = f"{type(exc).__name__}: {exc}"
        response.finished = now_iso()
        response.attempts.append(Attempt(at=started, status=response.status,
                                         error=response.error))
        if not response.ok:
            self.log.call("app metrics", response)
            self.log.partial(f"--metrics-url: {response.describe()}")
            return
        kind = response.headers.get("content-type", "")
        looks_json = "json" in kind or response.content.lstrip()[:1] in (b"{", b"[")
        file = self.log.write(f"metrics/app-metrics.{'json' if looks_json else 'prom'}",
                              response.content, input_kind="metrics")
        self.log.call("app metrics", response, file=file)

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> None:
        self.project()
        self.deployment_pages()
        self.build_events()
        self.request_logs()
        self.observability()
        if self.o.metrics_url:
            self.app_metrics(self.o.metrics_url)
        if self.o.follow:
            self.follow_runtime_logs(self.o.follow)


def collect(options: CollectOptions, client: VercelClient) -> CollectResult:
    """Run a collection into ``options.out``; the folder and its log survive any failure.

    Raises :class:`~irkit.errors.IrkitError` for usage and auth problems (after logging them);
    returns a result with ``complete=False`` when evidence is missing.
    """
    log = CollectionLog.create(options.out, options.as_params(), client.redact)
    collector = Collector(options, client, log)
    try:
        collector.run()
    except KeyboardInterrupt:
        log.partial("interrupted by the user; files collected so far are kept")
        log.finish("interrupted")
        raise
    except IrkitError as exc:
        log.partial(str(exc))
        log.finish("failed")
        raise
    except Exception as exc:  # keep the evidence and the log, then let the CLI report it
        log.partial(f"internal error: {type(exc).__name__}: {exc}")
        log.finish("failed")
        raise
    complete = log.finish()
    return CollectResult(out=options.out, complete=complete,
                         partial_reasons=list(log.data["partial_reasons"]),
                         skipped=list(log.data["skipped"]),
                         deployments=len(collector.deployments),
                         files=len(log.data["files"]))


def default_follow(value: str | None) -> float | None:
    """``--follow DURATION`` → seconds (None when not asked)."""
    if not value:
        return None
    seconds = parse_duration(value, option="--follow").total_seconds()
    if not math.isfinite(seconds) or seconds <= 0:
        raise IrkitError(f"--follow {value!r}: must be a positive duration")
    return seconds
