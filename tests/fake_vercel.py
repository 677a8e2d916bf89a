"""A fake Vercel API served for real on 127.0.0.1 (starlette under uvicorn in a thread).

Tests talk to it over TCP through ``--api-base``, so retries, timeouts, streaming and pagination
run through the same httpx code paths as against api.vercel.com.  Failures are configurable per
route: ``fail`` queues statuses to answer before behaving (e.g. ``[429, 503]``), ``always`` makes a
route fail forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

PROJECT_ID = "prj_Ab12Cd34Ef56Gh78Ij90Kl12"
OWNER_ID = "team_Fake0123456789"
PLAIN_ENV_SECRET = "plain-env-value-should-never-be-collected"


class ServerThread:
    """Run an ASGI app under uvicorn on a free 127.0.0.1 port in a background thread."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config.setdefault("log_level", "warning")
        config.setdefault("lifespan", "off")
        self.server = uvicorn.Server(uvicorn.Config(app, **config))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def make_deployments(n: int, *, newest_ms: int | None = None, step_ms: int = 600_000,
                     project_id: str = PROJECT_ID) -> list[dict[str, Any]]:
    """``n`` deployments in /v6 shape, newest first, ``step_ms`` apart."""
    newest_ms = newest_ms or int(time.time() * 1000) - 60_000
    out = []
    for i in range(n):
        created = newest_ms - i * step_ms
        out.append({
            "uid": f"dpl_fake{i:04d}", "name": "shop-web", "projectId": project_id,
            "url": f"shop-web-{i:04d}-acme.vercel.app", "created": created,
            "createdAt": created, "buildingAt": created + 3000, "ready": created + 60_000,
            "state": "READY", "readyState": "READY",
            "target": "production" if i % 3 == 0 else None, "source": "git",
            "creator": {"uid": "u_1", "username": "dana"},
            "meta": {"githubCommitSha": f"{i:040x}", "githubCommitRef": "main",
                     "githubCommitMessage": f"change {i}"},
        })
    return out


@dataclass
class FakeVercel:
    """The fake API's state and behaviour; ``app`` is the ASGI application."""

    token: str
    deployments: list[dict[str, Any]] = field(default_factory=lambda: make_deployments(7))
    page_size: int = 3
    request_log_pages: int = 2
    fail: dict[str, list[int]] = field(default_factory=dict)
    always: dict[str, int] = field(default_factory=dict)
    retry_after: str = "1"
    echo_token_in_errors: bool = False
    stream_interval: float = 0.02
    requests: list[dict[str, Any]] = field(default_factory=list)
    served: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def app(self) -> Starlette:
        routes = [
            Route("/v9/projects/{project}", self.project),
            Route("/v6/deployments", self.deployments_page),
            Route("/v3/deployments/{dpl}/events", self.events),
            Route("/api/logs/request-logs", self.request_logs),
            Route("/v1/projects/{project}/deployments/{dpl}/runtime-logs", self.runtime_logs),
            Route("/v2/observability/query", self.observability, methods=["POST"]),
            Route("/metrics", self.app_metrics),
        ]
        return Starlette(routes=routes)

    def serve(self) -> ServerThread:
        return ServerThread(self.app)

    def _gate(self, route: str, request: Request) -> Response | None:
        """Authenticate, record and apply injected failures; None means: behave."""
        auth = request.headers.get("authorization")
        with self.lock:
            self.requests.append({"route": route, "path": request.url.path,
                                  "query": dict(request.query_params), "authorization": auth})
        if route != "metrics" and auth != f"Bearer {self.token}":
            return JSONResponse({"error": {"code": "forbidden", "message": "Not authorized"}},
                                status_code=403)
        with self.lock:
            queue = self.fail.get(route)
            status = queue.pop(0) if queue else self.always.get(route)
        if status is None:
            with self.lock:
                self.served[route] += 1
            return None
        message = "Rate limit exceeded" if status == 429 else "upstream failure"
        if self.echo_token_in_errors:
            message += f" (you sent {auth})"
        headers = {"Retry-After": self.retry_after} if status in (429, 503) else {}
        return JSONResponse({"error": {"code": str(status), "message": message}},
                            status_code=status, headers=headers)

    # -- endpoints --------------------------------------------------------------------------------

    async def project(self, request: Request) -> Response:
        if (denied := self._gate("project", request)) is not None:
            return denied
        if request.path_params["project"] not in (PROJECT_ID, "shop-web"):
            return JSONResponse({"error": {"code": "not_found", "message": "Project not found"}},
                                status_code=404)
        production = next((d for d in self.deployments if d.get("target") == "production"), None)
        return JSONResponse({
            "id": PROJECT_ID, "name": "shop-web", "accountId": OWNER_ID, "framework": "nextjs",
            "env": [{"key": "DATABASE_URL", "type": "plain", "value": PLAIN_ENV_SECRET}],
            "targets": {"production": {"id": production["uid"], "url": production["url"]}
                        if production else None},
        })

    async def deployments_page(self, request: Request) -> Response:
        if (denied := self._gate("deployments", request)) is not None:
            return denied
        query = request.query_params
        until = int(query.get("until", 2**62))
        limit = min(int(query.get("limit", 20)), self.page_size)
        eligible = [d for d in self.deployments if d["created"] <= until]
        page = eligible[:limit]
        more = len(eligible) > limit
        return JSONResponse({"deployments": page, "pagination": {
            "count": len(page), "next": page[-1]["created"] - 1 if more and page else None,
            "prev": page[0]["created"] if page else None}})

    async def events(self, request: Request) -> Response:
        if (denied := self._gate("events", request)) is not None:
            return denied
        dpl = request.path_params["dpl"]
        base = next((d["created"] for d in self.deployments if d["uid"] == dpl), 0)
        items = [{"created": base + i, "date": base + i, "deploymentId": dpl, "id": f"evt_{i}",
                  "serial": f"{base + i}-{i:05d}", "text": f"build step {i}", "type": "stdout",
                  "info": {"type": "build", "name": "bld_1", "entrypoint": "."}}
                 for i in range(3)]
        return JSONResponse(items)

    async def request_logs(self, request: Request) -> Response:
        if (denied := self._gate("request-logs", request)) is not None:
            return denied
        page = int(request.query_params.get("page", 0))
        start = int(request.query_params.get("startDate", 0))
        rows = [{"requestId": f"iad1::req-{page}-{i}", "timestamp": _iso(start + 1000 * i),
                 "deploymentId": self.deployments[0]["uid"], "requestMethod": "GET",
                 "requestPath": f"/api/item/{i}", "statusCode": 500 if i % 2 else 200,
                 "environment": "production", "domain": "shop.example.com",
                 "logs": [{"level": "error" if i % 2 else "info", "message": f"line {i}"}],
                 "events": [{"source": "serverless"}]} for i in range(4)]
        return JSONResponse({"rows": rows, "hasMoreRows": page + 1 < self.request_log_pages})

    async def runtime_logs(self, request: Request) -> Response:
        if (denied := self._gate("runtime-logs", request)) is not None:
            return denied
        dpl = request.path_params["dpl"]

        async def lines() -> Any:
            i = 0
            while True:
                row = {"level": "error" if i % 5 == 0 else "info", "message": f"live {i}",
                       "rowId": f"r_{dpl}_{i}", "source": "serverless",
                       "timestampInMs": int(time.time() * 1000), "domain": "shop.example.com",
                       "messageTruncated": False, "requestMethod": "GET",
                       "requestPath": "/api/live", "responseStatusCode": 200}
                yield (json.dumps(row) + "\n").encode()
                i += 1
                await asyncio.sleep(self.stream_interval)

        return StreamingResponse(lines(), media_type="application/stream+json")

    async def observability(self, request: Request) -> Response:
        if (denied := self._gate("observability", request)) is not None:
            return denied
        query = await request.json()
        start = query["startTime"]
        return JSONResponse({"data": [{"timestamp": start, "value": 12.5}],
                             "summary": [], "statistics": {"rowsRead": 1}})

    async def app_metrics(self, request: Request) -> Response:
        if (denied := self._gate("metrics", request)) is not None:
            return denied
        text = ("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
                'http_requests_total{route="/api/orders",status="500"} 17\n')
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@contextlib.contextmanager
def running(fake: FakeVercel) -> Iterator[ServerThread]:
    """``with running(fake) as server: ... server.url``."""
    with fake.serve() as server:
        yield server
