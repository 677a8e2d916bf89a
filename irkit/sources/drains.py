"""Vercel log drains: NDJSON and JSON-array deliveries, gzip or plain, legacy and current schema.

The legacy (pre-2025 "Log Drains") schema is a subset of the current one, so one all-optional
field list reads both.  Mapping (see SPEC's events table): ``route`` is the drain's ``path`` (the
route pattern) or, when absent, the concrete ``proxy.path`` with id-like segments as ``[id]``;
``path``/``query`` split ``proxy.path``; ``status_code`` is ``statusCode`` else
``proxy.statusCode``, and a top-level ``-1`` (function crashed, no response) sets ``crashed``
with status NA; ``user_agent`` joins the ``proxy.userAgent`` array; the literal dotted keys
``trace.id``/``span.id`` fill ``trace_id``/``span_id`` when ``traceId``/``spanId`` are absent;
``host`` is the requested host (``proxy.host``), else the drain's deployment host; a missing level
is inferred (stderr or status >= 500 or crashed → error, else info).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from irkit.sources import sqlfields as f
from irkit.sources.base import Loaded, Rejections
from irkit.sources.jsoninput import document_records, first_char, head_objects, ndjson_records
from irkit.sources.records import (
    RecordSpec,
    fast_table,
    iter_fast_tables,
    load_records,
    slow_table,
    to_events,
)
from irkit.sources.registry import Format

PROXY_FIELDS: dict[str, object] = {
    "timestamp": "ms", "method": "str", "host": "str", "path": "str", "userAgent": "strs",
    "region": "str", "referer": "str", "statusCode": "int", "clientIp": "str",
    "responseByteSize": "int", "vercelCache": "str", "lambdaRegion": "str", "wafAction": "str",
}
FIELDS: dict[str, object] = {
    "id": "str", "deploymentId": "str", "source": "str", "host": "str", "timestamp": "ms",
    "projectId": "str", "level": "str", "message": "str", "path": "str", "type": "str",
    "statusCode": "int", "requestId": "str", "environment": "str", "branch": "str",
    "ja3Digest": "str", "ja4Digest": "str", "executionRegion": "str", "traceId": "str",
    "spanId": "str", "trace.id": "str", "span.id": "str", "proxy": PROXY_FIELDS,
}

_STATUS = "COALESCE(r.statusCode, r.proxy.statusCode)"
_URL = "r.proxy.path"


def _s(expr: str) -> str:
    return f.nullif_blank(expr)


SELECT = ",\n".join([
    f"{f.epoch_ms('COALESCE(r.timestamp, r.proxy.timestamp)')} AS timestamp",
    f"{f.level('r.level', 'r.type', f'CASE WHEN r.statusCode = -1 THEN 500 ELSE {_STATUS} END')}"
    " AS level",
    f"{_s('lower(r.source)')} AS source",
    f"{_s('r.type')} AS type",
    f"{_s('r.message')} AS message",
    f"CASE WHEN r.statusCode = -1 THEN NULL ELSE {f.status(_STATUS)} END AS status_code",
    "COALESCE(r.statusCode = -1, false) AS crashed",
    f"{_s('upper(r.proxy.method)')} AS method",
    f"{_s('COALESCE(r.proxy.host, r.host)')} AS host",
    f"{f.path_only(_URL)} AS path",
    f"{f.query_string(_URL)} AS query",
    f"{f.route('r.path', f.path_only(_URL))} AS route",
    f"{_s('r.proxy.clientIp')} AS client_ip",
    f"{f.user_agent('r.proxy.userAgent')} AS user_agent",
    f"{_s('r.proxy.referer')} AS referer",
    f"{_s('r.proxy.region')} AS region",
    f"{_s('COALESCE(r.executionRegion, r.proxy.lambdaRegion)')} AS execution_region",
    f"{_s('upper(r.proxy.vercelCache)')} AS cache",
    f"{_s('r.requestId')} AS request_id",
    _s('COALESCE(r.traceId, r."trace.id")') + " AS trace_id",
    _s('COALESCE(r.spanId, r."span.id")') + " AS span_id",
    f"{_s('r.deploymentId')} AS deployment_id",
    f"{_s('r.projectId')} AS project_id",
    f"{_s('r.environment')} AS environment",
    f"{_s('r.branch')} AS branch",
    "CASE WHEN r.proxy.responseByteSize >= 0 THEN r.proxy.responseByteSize END AS bytes",
    f"{_s('lower(r.proxy.wafAction)')} AS waf_action",
    f"{_s('r.ja4Digest')} AS ja4",
    f"{_s('r.ja3Digest')} AS ja3",
])

SPEC = RecordSpec(fields=FIELDS, select=SELECT)

#: Keys only drain log records have together: a log record of a deployment.
_DRAIN_KEYS = ("deploymentId", "projectId", "proxy", "requestId", "source", "host")
#: Keys that mark other NDJSON families (runtime logs, request logs, OTLP, speed insights …).
_OTHER_KEYS = ("timestampInMs", "rowId", "logs", "resourceSpans", "schema", "requestMethod",
               "responseStatusCode", "uid", "deployments")
_DRAIN_HINT = re.compile(r'"(deploymentId|projectId)"\s*:\s*"')
_OTHER_HINT = re.compile(r'"(timestampInMs|rowId|resourceSpans|schema|responseStatusCode)"\s*:')


def is_drain_record(record: dict) -> bool:
    """A drain log record: a ``timestamp`` or ``message`` plus deployment/request context."""
    if any(key in record for key in _OTHER_KEYS):
        return False
    has_body = "timestamp" in record or "message" in record
    return has_body and sum(key in record for key in _DRAIN_KEYS) >= 2


def sniff_ndjson(head: str) -> bool:
    """NDJSON drain delivery: lines of drain log objects (or of arrays of them).

    A damaged first line does not hide the format: any complete drain object among the first
    lines decides; when no line parses at all, key spotting on a ``{``-led head does.
    """
    objects = head_objects(head)
    if objects:
        return any(is_drain_record(obj) for obj in objects)
    if first_char(head) != "{":
        return False
    return bool(_DRAIN_HINT.search(head)) and not _OTHER_HINT.search(head)


def sniff_json(head: str) -> bool:
    """JSON-array drain delivery: ``[ {drain record}, … ]``."""
    if first_char(head) != "[":
        return False
    body = head.lstrip()[1:]
    if first_char(body) in ("]", ""):
        return bool(_DRAIN_HINT.search(head))
    return bool(_DRAIN_HINT.search(head)) and not _OTHER_HINT.search(head)


def read_ndjson(path: Path) -> Loaded:
    """Load an NDJSON drain file: the duckdb fast path, or line by line when it has to be."""
    fast = fast_table(path, SPEC, str(path))
    records = () if fast is not None else ndjson_records(path)
    return load_records(path, "drain-ndjson", SPEC, records, fast)


def read_json(path: Path) -> Loaded:
    """Load a JSON-array drain delivery (``origin_line`` = 1-based record index)."""
    return load_records(path, "drain-json", SPEC, document_records(path))


def iter_event_tables(path: Path | str, batch_rows: int = 250_000,
                      rejections: Rejections | None = None) -> Iterator[pa.Table]:
    """Stream an NDJSON drain file as canonical Arrow tables of about ``batch_rows`` rows.

    Each table has the canonical event columns plus ``_report_ms``/``_report_aws`` (its
    REPORT lines, row-local step done: see :mod:`irkit.sources.lambda_report`).  Memory stays
    bounded by the batch size on the fast path; rejected records (slow path only) go to
    ``rejections`` when given.  Rows come in file order.
    """
    path = Path(path)
    origin = str(path)
    sink = rejections if rejections is not None else Rejections(origin)
    for next_line, table in iter_fast_tables(path, SPEC, origin, batch_rows):
        if table is not None:
            yield table
            continue
        rest = ((line, rec) for line, rec in ndjson_records(path) if line >= next_line)
        slow = slow_table(rest, SPEC, origin, sink)
        for start in range(0, slow.num_rows, batch_rows):
            yield slow.slice(start, batch_rows)
        return


def iter_event_batches(path: Path | str, batch_rows: int = 250_000,
                       rejections: Rejections | None = None) -> Iterator[pd.DataFrame]:
    """:func:`iter_event_tables` as canonical events DataFrames."""
    for table in iter_event_tables(path, batch_rows, rejections):
        yield to_events(table)[0]


FORMATS: list[Format] = [
    Format("drain-ndjson", "events", sniff_ndjson, read_ndjson,
           "Vercel log drain, NDJSON (gzip or plain, legacy or current schema)"),
    Format("drain-json", "events", sniff_json, read_json,
           "Vercel log drain, JSON array delivery"),
]
