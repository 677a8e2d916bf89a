"""``irkit receive``: a Vercel log-drain endpoint that turns deliveries into an evidence spool.

Protocol (vercel-formats §1.2):

* ``x-vercel-signature`` must be the hex HMAC-SHA1 of the request body keyed with
  ``VERCEL_DRAIN_SECRET``, compared in constant time.  Vercel signs the body it sends, so the
  signature is checked over the **raw bytes as received** (still gzip-compressed when
  ``Content-Encoding: gzip``); because whether Vercel signs before or after compressing is not
  documented, a signature over the decompressed body is accepted too.  Either way only a holder
  of the secret can produce it, and nothing is decompressed before the raw check has been tried
  on a size-limited body.
* Every response carries ``x-vercel-verify`` (``VERCEL_VERIFY_TOKEN``) so the endpoint passes
  Vercel's ownership check; that check is unsigned, so an unsigned request *without a body*
  (or a GET) gets 200 and writes nothing.
* Bodies are a JSON array of log objects or NDJSON (one object per line).  Anything else is 400,
  a missing or wrong signature 403, a body above ``--max-body`` (or decompressing to more than
  16× that) 413 — and in all these cases nothing is written.

Durability: accepted records are appended, one NDJSON line each, to size-rotated spool files by a
single writer thread that fsyncs after each batch and only then releases the waiting requests
(group commit: concurrent deliveries share one fsync).  A 200 therefore means "on disk"; a
failed write is truncated away and answered 503 so Vercel retries.  On SIGTERM uvicorn stops
accepting, lets in-flight requests finish, then the spool drains its queue and closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import hmac
import json
import logging
import os
import queue
import signal
import threading
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from irkit.errors import IrkitError

SECRET_ENV = "VERCEL_DRAIN_SECRET"
VERIFY_ENV = "VERCEL_VERIFY_TOKEN"
DEFAULT_MAX_BODY = 8 * 1024 * 1024
DEFAULT_MAX_FILE = 64 * 1024 * 1024
#: A delivery may decompress to at most this many times ``max_body``.
INFLATE_FACTOR = 16
#: Deliveries up to this size are verified and parsed on the event loop; larger ones in a thread.
INLINE_BYTES = 64 * 1024

log = logging.getLogger("irkit.receive")


class BadDelivery(Exception):
    """A delivery that is answered with an error status and writes nothing."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# -- the spool ------------------------------------------------------------------------------------


class Spool:
    """Append-only, size-rotated NDJSON files; :meth:`append` resolves once data is fsync'ed."""

    def __init__(self, folder: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IrkitError(f"--spool {folder}: cannot create ({exc.strerror or exc})") from None
        if not os.access(folder, os.W_OK):
            raise IrkitError(f"--spool {folder}: not writable")
        self.folder = folder
        self.max_file_bytes = max(1024, max_file_bytes)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self._prefix = f"drain-{stamp}-{os.getpid()}"
        self._seq = 0
        self._fh: Any = None
        self._size = 0
        self._queue: queue.Queue[tuple[bytes, concurrent.futures.Future[int]] | None] = \
            queue.Queue()
        self._closed = False
        self.files: list[Path] = []
        self._thread = threading.Thread(target=self._run, name="irkit-spool", daemon=True)
        self._thread.start()

    def append(self, lines: list[bytes]) -> concurrent.futures.Future[int]:
        """Queue complete NDJSON lines (without newlines); the future gives the line count."""
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(OSError("spool is closed"))
            return future
        self._queue.put((b"".join(line + b"\n" for line in lines), future))
        return future

    def close(self) -> None:
        """Write everything queued, fsync, close.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    # writer thread ------------------------------------------------------------------------------

    def _open_next(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        self._seq += 1
        path = self.folder / f"{self._prefix}-{self._seq:06d}.ndjson"
        self._fh = open(path, "ab")  # noqa: SIM115 - lives across batches, closed on rotation
        self._size = self._fh.tell()
        self.files.append(path)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new name survives a crash too
        finally:
            os.close(dir_fd)

    def _segments(self, batch: list[tuple[bytes, concurrent.futures.Future[int]]]
                  ) -> list[list[tuple[bytes, concurrent.futures.Future[int]]]]:
        """Split a batch where the spool must rotate (a delivery never spans two files)."""
        segments: list[list[tuple[bytes, concurrent.futures.Future[int]]]] = [[]]
        size = self._size if self._fh is not None else 0
        for item in batch:
            if size and size + len(item[0]) > self.max_file_bytes:
                segments.append([])
                size = 0
            segments[-1].append(item)
            size += len(item[0])
        return [seg for seg in segments if seg]

    def _write_batch(self, batch: list[tuple[bytes, concurrent.futures.Future[int]]]) -> None:
        """Write, fsync, then release each file's share of the batch (group commit)."""
        segments = self._segments(batch)
        for index, segment in enumerate(segments):
            size = sum(len(data) for data, _ in segment)
            start = self._size
            try:
                if (self._fh is None or index > 0
                        or (self._size and self._size + size > self.max_file_bytes)):
                    self._open_next()
                    start = self._size
                try:
                    for data, _ in segment:
                        self._fh.write(data)
                    self._fh.flush()
                    os.fsync(self._fh.fileno())
                except OSError:
                    self._fh.truncate(start)  # never leave half a batch that Vercel will resend
                    self._fh.seek(start)
                    raise
            except OSError as exc:
                for rest in segments[index:]:
                    for _, future in rest:
                        future.set_exception(exc)
                return
            self._size = start + size
            for data, future in segment:
                future.set_result(data.count(b"\n"))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch = []
            while item is not None:
                batch.append(item)
                if len(batch) >= 1000:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stopping = item is None
            if batch:
                self._write_batch(batch)
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


# -- parsing and verification ---------------------------------------------------------------------


def sign(body: bytes, secret: bytes) -> str:
    """What Vercel puts in ``x-vercel-signature``: hex HMAC-SHA1 of the body."""
    return hmac.new(secret, body, hashlib.sha1).hexdigest()


def signature_ok(body: bytes, header: str, secret: bytes) -> bool:
    return hmac.compare_digest(sign(body, secret), header.strip().lower())


def inflate(body: bytes, limit: int) -> bytes:
    """Gunzip at most ``limit`` bytes (a small body can inflate enormously)."""
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadDelivery(400, f"gzip body does not decompress: {exc}") from None
    if len(out) > limit or decoder.unconsumed_tail:
        raise BadDelivery(413, f"body decompresses to more than {limit} bytes")
    if not decoder.eof:
        raise BadDelivery(400, "gzip body is truncated")
    return out


def _compact(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def parse_records(body: bytes) -> list[bytes]:
    """A delivery body → one NDJSON line per log record; all-or-nothing.

    NDJSON lines are kept byte for byte (they are the evidence); elements of a JSON array are
    re-serialised compactly, one per line.  Every record must be a JSON object.
    """
    text = body.lstrip(b"\xef\xbb\xbf").strip()
    if not text:
        return []
    if text[:1] == b"[":
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise BadDelivery(400, f"JSON array body does not parse: {exc}") from None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise BadDelivery(400, "JSON array body must hold log objects")
        return [_compact(item) for item in items]
    lines = []
    for number, raw in enumerate(text.split(b"\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise BadDelivery(400, f"NDJSON line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise BadDelivery(400, f"NDJSON line {number} is not a log object")
        lines.append(line)
    return lines


def check_delivery(raw: bytes, signature: str, key: bytes, gzipped: bool,
                   inflate_limit: int) -> list[bytes]:
    """Verify and parse one delivery → its NDJSON lines, or :class:`BadDelivery`."""
    verified = signature_ok(raw, signature, key)
    if not verified and not gzipped:
        raise BadDelivery(403, "signature does not match")
    body = inflate(raw, inflate_limit) if gzipped else raw
    if not verified and not signature_ok(body, signature, key):
        raise BadDelivery(403, "signature does not match")
    return parse_records(body)


# -- the app --------------------------------------------------------------------------------------


@dataclass
class Stats:
    """What the receiver did, logged at shutdown."""

    deliveries: int = 0
    records: int = 0
    rejected: dict[int, int] = field(default_factory=dict)

    def reject(self, status: int) -> None:
        self.rejected[status] = self.rejected.get(status, 0) + 1


def create_app(spool: Spool, *, secret: str, verify_token: str | None = None,
               max_body: int = DEFAULT_MAX_BODY) -> Starlette:
    """The drain endpoint as an ASGI app (any path; POST deliveries, GET for checks)."""
    if not secret:
        raise IrkitError(f"{SECRET_ENV} is not set: the receiver never accepts unsigned logs")
    key = secret.encode()
    extra = {"x-vercel-verify": verify_token} if verify_token else {}
    stats = Stats()

    def answer(status: int, body: dict[str, Any]) -> Response:
        return JSONResponse(body, status_code=status, headers=extra)

    async def read_limited(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body:
            raise BadDelivery(413, f"body larger than {max_body} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise BadDelivery(413, f"body larger than {max_body} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def deliver(request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            return answer(200, {"ok": True})
        try:
            raw = await read_limited(request)
            signature = request.headers.get("x-vercel-signature")
            if signature is None and not raw.strip():
                return answer(200, {"ok": True, "accepted": 0})  # ownership check
            if signature is None:
                raise BadDelivery(403, "missing x-vercel-signature")
            gzipped = ("gzip" in request.headers.get("content-encoding", "").lower()
                       or raw[:2] == b"\x1f\x8b")
            if gzipped or len(raw) > INLINE_BYTES:  # keep the event loop free for other senders
                lines = await run_in_threadpool(check_delivery, raw, signature, key, gzipped,
                                                max_body * INFLATE_FACTOR)
            else:
                lines = check_delivery(raw, signature, key, gzipped, max_body * INFLATE_FACTOR)
        except BadDelivery as exc:
            stats.reject(exc.status)
            return answer(exc.status, {"error": exc.reason})
        if lines:
            try:
                await asyncio.wrap_future(spool.append(lines))
            except OSError as exc:
                log.error("spool write failed: %s", exc)
                stats.reject(503)
                return answer(503, {"error": "spool write failed; retry"})
        stats.deliveries += 1
        stats.records += len(lines)
        return answer(200, {"ok": True, "accepted": len(lines)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        spool.close()
        log.warning("irkit receive: %d deliveries, %d records accepted; rejected %s; spool %s",
                    stats.deliveries, stats.records, stats.rejected or "none", spool.folder)

    app = Starlette(routes=[Route("/{path:path}", deliver, methods=["GET", "HEAD", "POST"])],
                    lifespan=lifespan)
    app.state.stats = stats
    app.state.spool = spool
    return app


def serve(*, host: str, port: int, spool_dir: Path, max_body: int = DEFAULT_MAX_BODY,
          max_file_bytes: int = DEFAULT_MAX_FILE, access_log: bool = False,
          env: dict[str, str] | None = None) -> None:
    """Run the receiver under uvicorn until SIGINT/SIGTERM (graceful: in-flight requests end)."""
    import uvicorn

    environ = os.environ if env is None else env
    secret = environ.get(SECRET_ENV, "")
    if not secret:
        raise IrkitError(f"{SECRET_ENV} is not set: the receiver never accepts unsigned logs")
    if max_body < 1:
        raise IrkitError(f"--max-body {max_body}: must be positive")
    spool = Spool(spool_dir, max_file_bytes=max_file_bytes)
    app = create_app(spool, secret=secret, verify_token=environ.get(VERIFY_ENV) or None,
                     max_body=max_body)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.warning("irkit receive: listening on http://%s:%d, spool %s", host, port, spool_dir)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal with the handler
    # it found installed: a no-op handler makes a graceful stop exit 0 instead of dying by signal.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT,
                                                                     signal.SIGTERM)}
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=access_log,
                    timeout_graceful_shutdown=30, server_header=False)
    finally:
        spool.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
