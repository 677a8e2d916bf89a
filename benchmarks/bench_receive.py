"""Throughput of ``irkit receive`` against a bare starlette/uvicorn endpoint on the same machine.

Both servers run as subprocesses on 127.0.0.1 and get the same load: ``--deliveries`` signed
single-record NDJSON deliveries from ``--clients`` threads with keep-alive.  The receiver verifies
the HMAC, parses, appends to the spool and fsyncs before answering; the baseline only answers 200.
The ratio says what verification + durability cost over the bare server stack.

    .venv/bin/python benchmarks/bench_receive.py [--deliveries 3000] [--clients 8] [--runs 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from irkit.capture.receive import sign

SECRET = "bench-secret"
BARE_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def ok(request):
    await request.body()
    return JSONResponse({"ok": True})
app = Starlette(routes=[Route("/{path:path}", ok, methods=["GET", "POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def load(port: int, deliveries: int, clients: int) -> float:
    """Deliveries per second, all answered 200."""
    bodies = [(json.dumps({"id": str(10**27 + i), "message": f"error {i}", "level": "error",
                           "source": "lambda", "timestamp": 1754300000000 + i}) + "\n").encode()
              for i in range(deliveries)]
    failures: list[int] = []

    def worker(part: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # light keep-alive client
        for body in part:
            conn.request("POST", "/", body=body,
                         headers={"x-vercel-signature": sign(body, SECRET.encode())})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures.append(response.status)
        conn.close()

    threads = [threading.Thread(target=worker, args=(bodies[c::clients],))
               for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} deliveries failed: {failures[:5]}")
    return deliveries / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "VERCEL_DRAIN_SECRET": SECRET}
    results: dict[str, list[float]] = {"bare": [], "receive": []}
    for _ in range(args.runs):
        for name in results:
            port = free_port()
            with tempfile.TemporaryDirectory() as spool:
                cmd = ([sys.executable, "-c", BARE_APP, str(port)] if name == "bare" else
                       [sys.executable, "-m", "irkit", "receive", "--port", str(port),
                        "--spool", spool])
                proc = start(cmd, port, env)
                try:
                    results[name].append(load(port, args.deliveries, args.clients))
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)
                if name == "receive":
                    lines = sum(p.read_bytes().count(b"\n") for p in Path(spool).glob("*"))
                    assert lines == args.deliveries, lines
    bare = statistics.median(results["bare"])
    receive = statistics.median(results["receive"])
    print(f"deliveries={args.deliveries} clients={args.clients} runs={args.runs} (median)")
    print(f"bare starlette/uvicorn : {bare:8.0f} deliveries/s")
    print(f"irkit receive (fsync)  : {receive:8.0f} deliveries/s")
    print(f"ratio receive/bare     : {receive / bare:8.2f}")


if __name__ == "__main__":
    main()
