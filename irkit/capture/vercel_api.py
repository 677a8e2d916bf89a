"""A small, careful HTTP client for the Vercel REST API.

Why not a generated SDK: during an incident the client must (a) never leak the token — not in
logs, exception text or files —, (b) survive rate limiting and flaky 5xx with bounded, honest
retries, and (c) tell the caller exactly what was asked and what happened, because that record
is evidence too.  Everything here is built on ``httpx`` (timeouts on every call) and
``tenacity`` (retry policy).

Retry policy, mirroring the official CLI: 429 and 503 honour ``Retry-After`` (seconds or an
HTTP date); a 429 without it waits for ``X-RateLimit-Reset`` (epoch seconds); other 5xx and
connection errors back off exponentially with jitter, capped.  Other 4xx are not retried.
``IRKIT_RETRY_SCALE`` (a float, default 1) scales every wait — tests set it tiny.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import tenacity

from irkit import __version__
from irkit.errors import IrkitError

DEFAULT_API_BASE = "https://api.vercel.com"
#: The historical request-logs API lives on vercel.com, not api.vercel.com (vercel-formats §2.5).
DEFAULT_REQUEST_LOGS_BASE = "https://vercel.com"
TOKEN_ENV = "VERCEL_TOKEN"
RETRY_SCALE_ENV = "IRKIT_RETRY_SCALE"

#: Statuses worth another attempt.  501 (not implemented) and 505 never get better.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Response headers copied into the collection log (never request headers: those hold the token).
LOGGED_HEADERS = ("content-type", "content-encoding", "x-ratelimit-limit", "x-ratelimit-remaining",
                  "x-ratelimit-reset", "retry-after", "x-vercel-id")


class AuthError(IrkitError):
    """The API refused the token (401/403): exit 2 with a one-line hint."""


def now_iso() -> str:
    """Current UTC time as ISO-8601 with milliseconds (the collection log's clock)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def token_from_env(env: Mapping[str, str] | None = None) -> str:
    """The Vercel token from ``VERCEL_TOKEN`` — the only place irkit takes it from.

    Never a command-line option: arguments end up in shell history, ``ps`` output and run
    manifests.
    """
    token = (os.environ if env is None else env).get(TOKEN_ENV, "").strip()
    if not token:
        raise IrkitError(f"{TOKEN_ENV} is not set: create a token at "
                         "https://vercel.com/account/tokens and export it")
    return token


class Redactor:
    """Removes secrets from any text before it is shown, logged or written."""

    def __init__(self, *secrets: str | None) -> None:
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        return text


def retry_scale(env: Mapping[str, str] | None = None) -> float:
    """Multiplier applied to every retry wait (``IRKIT_RETRY_SCALE``)."""
    raw = (os.environ if env is None else env).get(RETRY_SCALE_ENV, "")
    try:
        return max(0.0, float(raw)) if raw else 1.0
    except ValueError:
        raise IrkitError(f"{RETRY_SCALE_ENV}={raw!r} is not a number") from None


def server_wait_hint(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``Retry-After``, else ``X-RateLimit-Reset`` on 429."""
    now = time.time() if now is None else now
    retry_after = response.headers.get("retry-after")
    if retry_after:
        retry_after = retry_after.strip()
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - now)
    if response.status_code == 429:
        reset = response.headers.get("x-ratelimit-reset")
        try:
            return max(0.0, float(reset) - now) if reset else None
        except ValueError:
            return None
    return None


@dataclass
class Attempt:
    """One try of a call, as recorded in ``collection.json``."""

    at: str
    status: int | None = None
    error: str | None = None
    wait_s: float | None = None  # how long we waited after this attempt before the next one

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "status": self.status, "error": self.error, "wait_s": self.wait_s}


@dataclass
class ApiResponse:
    """The outcome of a call after retries: the last response (if any) and every attempt."""

    method: str
    url: str  # as sent, without secrets (the token travels in a header, never in the URL)
    started: str
    attempts: list[Attempt] = field(default_factory=list)
    status: int | None = None
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    finished: str | None = None
    #: for streams, whose body is handed on as it arrives: (bytes, sha256) of what was received
    streamed: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is not JSON."""
        import json

        try:
            return json.loads(self.content)
        except ValueError:
            return None

    def describe(self) -> str:
        """Short human text: ``HTTP 503 after 5 attempts`` or the transport error."""
        tries = f"after {len(self.attempts)} attempt{'s' if len(self.attempts) != 1 else ''}"
        if self.status is not None:
            return f"HTTP {self.status} {tries}"
        return f"{self.error or 'no response'} {tries}"

    def log_entry(self) -> dict[str, Any]:
        """This call for the collection log (caller adds name, file, outcome)."""
        return {
            "method": self.method,
            "url": self.url,
            "started": self.started,
            "finished": self.finished,
            "status": self.status,
            "error": self.error,
            "attempts": len(self.attempts),
            "retries": [a.as_dict() for a in self.attempts[:-1]],
            "bytes": self.streamed[0] if self.streamed else len(self.content),
            "sha256": (self.streamed[1] if self.streamed
                       else hashlib.sha256(self.content).hexdigest() if self.content else None),
            "headers": self.headers,
        }


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class VercelClient:
    """Authenticated, team-scoped, retrying access to the Vercel API.

    ``team`` is a team id (``team_…``, sent as ``teamId``) or a team slug (sent as ``slug``).
    ``transport`` lets tests plug in :class:`httpx.MockTransport`.
    """

    def __init__(
        self,
        token: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        team: str | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        max_wait: float = 60.0,
        scale: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise IrkitError(f"{TOKEN_ENV} is empty")
        self.api_base = api_base.rstrip("/")
        self.team = team
        self.max_attempts = max(1, max_attempts)
        self.max_wait = max_wait
        self.scale = retry_scale() if scale is None else scale
        self.redact = Redactor(token)
        self._sleep = sleep
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"irkit/{__version__}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,  # a redirect could carry the Authorization header elsewhere
        )

    # -- plumbing ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VercelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scope_params(self) -> dict[str, str]:
        """``teamId`` / ``slug`` query parameters for the configured team."""
        if not self.team:
            return {}
        return {"teamId": self.team} if self.team.startswith("team_") else {"slug": self.team}

    def url(self, path_or_url: str, base: str | None = None) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{(base or self.api_base).rstrip('/')}/{path_or_url.lstrip('/')}"

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = server_wait_hint(exc.response) if isinstance(exc, _RetryableStatus) else None
        if hint is None:
            # capped exponential backoff with full jitter: 0.5 s, 1 s, 2 s … up to 30 s
            hint = random.uniform(0, min(30.0, 0.5 * 2 ** (state.attempt_number - 1)))
        else:
            hint += random.uniform(0, 1.0)  # a little skew so parallel clients do not stampede
        return min(self.max_wait, hint) * self.scale

    def _error_text(self, exc: BaseException) -> str:
        return self.redact(f"{type(exc).__name__}: {exc}")

    # -- calls ------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        base: str | None = None,
        scoped: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """One logical call with retries; never raises for HTTP or transport failures.

        The caller decides what a failure means (fatal, partial, skipped); 401/403 can be turned
        into :class:`AuthError` with :meth:`raise_for_auth`.
        """
        query = {**(self.scope_params() if scoped else {}), **(params or {})}
        request = self._http.build_request(method, self.url(path_or_url, base), params=query,
                                           json=json, headers=headers)
        result = ApiResponse(method=method, url=self.redact(str(request.url)), started=now_iso())

        def attempt() -> httpx.Response:
            record = Attempt(at=now_iso())
            result.attempts.append(record)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                record.error = self._error_text(exc)
                raise
            response.read()
            record.status = response.status_code
            if response.status_code in RETRY_STATUSES:
                raise _RetryableStatus(response)
            return response

        def before_sleep(state: tenacity.RetryCallState) -> None:
            result.attempts[-1].wait_s = round(state.upcoming_sleep, 3)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type((_RetryableStatus, httpx.TransportError)),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        response: httpx.Response | None
        try:
            response = retrying(attempt)
        except _RetryableStatus as exc:
            response = exc.response
        except httpx.TransportError as exc:
            response = None
            result.error = self._error_text(exc)
        if response is not None:
            result.status = response.status_code
            result.content = response.content
            result.headers = {k: v for k in LOGGED_HEADERS if (v := response.headers.get(k))}
        result.finished = now_iso()
        return result

    def get(self, path_or_url: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path_or_url, **kwargs)

    def raise_for_auth(self, response: ApiResponse, what: str) -> None:
        """Turn 401/403 into the one-line token message (exit 2)."""
        if response.status in (401, 403):
            scope = f" for team {self.team!r}" if self.team else ""
            raise AuthError(f"{what}: HTTP {response.status} — the Vercel API refused the token in "
                            f"{TOKEN_ENV}{scope} (expired, revoked, or without access to this "
                            "project/team)")

    def stream_lines(
        self,
        path: str,
        *,
        duration: float,
        params: Mapping[str, Any] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[bytes | ApiResponse]:
        """Read a line stream (runtime logs) for ``duration`` seconds, reconnecting on drops.

        Yields body chunks (``bytes``, as received, decoded from any transport compression) and,
        once per connection, an :class:`ApiResponse` with its status and attempts for the
        collection log.  Ending because the time is up is normal, not an error.
        """
        deadline = time.monotonic() + duration
        query = {**self.scope_params(), **(params or {})}
        url = self.url(path)
        reconnects = 0
        while time.monotonic() < deadline and not stop():
            call = ApiResponse(method="GET", url="", started=now_iso())
            record = Attempt(at=call.started)
            call.attempts.append(record)
            remaining = max(0.5, deadline - time.monotonic())
            timeout = httpx.Timeout(10.0, read=remaining + 1.0)
            received = 0
            digest = hashlib.sha256()
            try:
                with self._http.stream("GET", url, params=query, timeout=timeout) as response:
                    call.url = self.redact(str(response.request.url))
                    record.status = call.status = response.status_code
                    call.headers = {k: v for k in LOGGED_HEADERS
                                    if (v := response.headers.get(k))}
                    if response.status_code != 200:
                        response.read()
                        call.content = response.content
                    else:
                        for chunk in response.iter_bytes():
                            received += len(chunk)
                            digest.update(chunk)
                            yield chunk
                            if time.monotonic() >= deadline or stop():
                                break
            except httpx.ReadTimeout:
                pass  # nothing more arrived before the deadline: a normal end
            except httpx.TransportError as exc:
                record.error = call.error = self._error_text(exc)
            call.finished = now_iso()
            if call.status == 200:
                call.streamed = (received, digest.hexdigest())
            yield call
            failed = call.error is not None or (call.status is not None and call.status != 200)
            if not failed and (time.monotonic() >= deadline or stop()):
                break
            if call.status is not None and call.status not in RETRY_STATUSES | {200}:
                break  # 4xx: retrying will not help
            reconnects += 1
            if reconnects >= self.max_attempts:
                break
            self._sleep(min(self.max_wait, 0.5 * 2 ** reconnects) * self.scale)
