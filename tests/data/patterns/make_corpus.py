# ruff: noqa: E501  (a table of message shapes reads better unwrapped)
"""Regenerate ``vercel_corpus.jsonl``: realistic Vercel/Next.js error messages, hand-labelled.

Each line is ``{"label": ..., "message": ...}``; messages with the same label are what a person
triaging an incident would call one problem.  The corpus is generated (seeded) from the shapes
below so that ids, IPs, line numbers and user names vary the way they do in real logs; the labels
are the author's judgement, not the engine's output.  Run: ``python make_corpus.py``.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

rng = random.Random(7)
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


def ip() -> str:
    return ".".join(str(rng.randrange(1, 255)) for _ in range(4))


def hexs(n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def alnum(n: int) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789")
                   for _ in range(n))


def rid() -> str:
    return (f"{rng.choice(['iad1', 'sfo1', 'fra1', 'cdg1'])}::{rng.choice(['iad1', 'sfo1'])}::"
            f"{alnum(5).lower()}-{rng.randrange(1_700_000_000_000, 1_800_000_000_000)}-{hexs(12)}")


def node_trace(err: str, fn: str, file: str) -> str:
    line, col = rng.randrange(1, 900), rng.randrange(1, 120)
    return (f"{err}\n    at {fn} (/var/task/.next/server/{file}:{line}:{col})\n"
            f"    at async handler (/var/task/.next/server/app/api/[...slug]/route.js:"
            f"{rng.randrange(1, 99)}:{rng.randrange(1, 99)})\n"
            f"    at async /var/task/node_modules/next/dist/compiled/next-server/app-route.runtime"
            f".prod.js:{rng.randrange(1, 9)}:{rng.randrange(1000, 9999)}\n"
            f"    at process.processTicksAndRejections (node:internal/process/task_queues:"
            f"{rng.randrange(80, 99)}:{rng.randrange(1, 9)})")


def py_trace(err: str, fn: str, file: str) -> str:
    return ("Traceback (most recent call last):\n"
            f'  File "/var/task/{file}", line {rng.randrange(10, 300)}, in {fn}\n'
            "    result = handler(event)\n"
            f'  File "/var/lang/lib/python3.12/site-packages/httpx/_client.py", line '
            f"{rng.randrange(100, 1500)}, in send\n"
            "    raise exc\n"
            f"{err}")


SHAPES = {
    "etimedout": lambda: f"Error: connect ETIMEDOUT {ip()}:5432",
    "econnrefused": lambda: f"Error: connect ECONNREFUSED {ip()}:{rng.choice([6379, 5432, 3306])}",
    "econnreset": lambda: f"Error: read ECONNRESET at TLSWrap.onStreamRead, socket {ip()}:443",
    "undefined_id": lambda: "TypeError: Cannot read properties of undefined (reading 'id')",
    "undefined_map": lambda: "TypeError: Cannot read properties of undefined (reading 'map')",
    "timeout": lambda: f"Task timed out after {rng.randrange(10, 60)}.{rng.randrange(10, 99)} seconds",
    "invocation_timeout": lambda: f"FUNCTION_INVOCATION_TIMEOUT {rid()}",
    "invocation_failed": lambda: f"FUNCTION_INVOCATION_FAILED {rid()}",
    "unique_email": lambda: "PrismaClientKnownRequestError: Unique constraint failed on the fields: "
                            "(`email`)",
    "db_unreachable": lambda: f"Can't reach database server at `{ip()}`:`5432`",
    "user_not_found": lambda: f"User {rng.choice(USERS)}{rng.randrange(1, 999)}@example.com not "
                              "found",
    "fetch_user_404": lambda: f"Error: Failed to fetch user {uuid.UUID(int=rng.getrandbits(128))}: "
                              "404 Not Found",
    "rate_limit": lambda: f"Rate limit exceeded for IP {ip()} on /api/login",
    "payment_declined": lambda: f"Payment failed for order #{rng.randrange(1000, 99999)}: "
                                "card_declined",
    "stripe_webhook": lambda: "Stripe webhook signature verification failed for event "
                              f"evt_{alnum(24)}",
    "session_expired": lambda: f"[auth] Session expired for user {rng.choice(USERS)}",
    "login_failed": lambda: f"Login failed for user {rng.choice(USERS)} from {ip()}",
    "slow_query": lambda: f"Slow query took {rng.randrange(1000, 9000)}ms: SELECT * FROM orders "
                          f"WHERE id = {rng.randrange(1, 99999)}",
    "checkout_500": lambda: f"POST /api/checkout 500 in {rng.randrange(20, 3000)}ms",
    "image_403": lambda: "Image optimization failed: upstream image "
                         f"https://cdn.example.com/img/{hexs(16)}.png responded 403",
    "jwt_expired": lambda: f"JWT verification failed: token expired at 2026-0{rng.randrange(1, 9)}-"
                           f"{rng.randrange(10, 28)}T{rng.randrange(10, 23)}:{rng.randrange(10, 59)}"
                           f":{rng.randrange(10, 59)}Z",
    "deployment_not_ready": lambda: f"Deployment dpl_{alnum(24)} is not ready",
    "json_doctype": lambda: "SyntaxError: Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
    "enoent": lambda: "Error: ENOENT: no such file or directory, open "
                      f"'/var/task/content/posts/{rng.choice(USERS)}-{rng.randrange(1, 99)}.md'",
    "dynamic_usage": lambda: "Error: Dynamic server usage: Route /dashboard/"
                             f"{rng.randrange(1, 999)} couldn't be rendered statically because it "
                             "used `cookies`.",
    "upstream_502": lambda: f"Upstream responded with 502 Bad Gateway after {rng.randrange(1, 30)}."
                            f"{rng.randrange(0, 9)}s",
    "webhook_retries": lambda: f"Webhook delivery {uuid.UUID(int=rng.getrandbits(128))} to "
                               f"https://hooks.example.com/{alnum(10)} failed after 3 retries",
    "memory_limit": lambda: f"Memory limit exceeded: used {rng.randrange(1020, 1100)} MB of 1024 MB",
    "openai_429": lambda: f"OpenAI API error: 429 Rate limit reached for requests (request id "
                          f"req_{hexs(24)})",
    "redis_lost": lambda: f"Redis connection lost, retrying in {rng.randrange(1, 9)}00ms",
    "json_body": lambda: 'Invalid request body: {"order_id": ' + str(rng.randrange(1, 9999))
                         + ', "qty": ' + str(rng.randrange(-9, 0)) + "}",
    "trace_get_user": lambda: node_trace("TypeError: Cannot read properties of null (reading "
                                         "'email')", "getUser", "app/api/users/[id]/route.js"),
    "trace_checkout": lambda: node_trace(f"Error: Order {rng.randrange(100, 9999)} has no items",
                                         "createCheckout", "app/api/checkout/route.js"),
    "trace_python": lambda: py_trace(f"httpx.ConnectTimeout: timed out after {rng.randrange(5, 30)}s",
                                     "fetch_rates", "api/rates.py"),
}


def main() -> None:
    rows = []
    for label, make in SHAPES.items():
        for _ in range(7):
            rows.append({"label": label, "message": make()})
    rng.shuffle(rows)
    out = Path(__file__).with_name("vercel_corpus.jsonl")
    with open(out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} messages, {len(SHAPES)} patterns -> {out}")


if __name__ == "__main__":
    main()
