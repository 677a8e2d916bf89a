"""OTLP/JSON trace exports (Vercel trace drains) → canonical events rows, one per span.

Vercel trace drains deliver OTLP ``ExportTraceServiceRequest`` bodies:
``resourceSpans[].scopeSpans[].spans[]`` (``instrumentationLibrarySpans`` in old exporters).
Each span becomes an events row with ``source = "trace"``:

* ``timestamp`` = span start; ``duration_ms`` = (end − start) / 1e6 from the nanosecond strings
  (integers accepted too);
* ``trace_id``/``span_id`` as lowercase hex (base64 ids from protobuf-JSON exporters are
  converted); ``deployment_id``/``project_id`` from the resource attributes
  ``vercel.deploymentId``/``vercel.projectId``; ``environment`` from ``deployment.environment``;
* ``method``, ``route``, ``path``/``query``, ``status_code``, ``host``, ``client_ip``,
  ``user_agent`` from the standard HTTP attributes (current and pre-1.21 semantic conventions);
* ``message`` = span name, ``type`` = span kind (``server``, ``client``, ``internal`` …);
* ``level`` = ``error`` when the span status is ERROR or the HTTP status is ≥ 500, else ``info``.

``origin_line`` is the span's 1-based index in the file, or the line of its document when the
file holds one export per line.  A span without ids or with unreadable times is rejected.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

import pandas as pd

from irkit import schema
from irkit.sources.base import FileReport, Loaded
from irkit.sources.documents import compact, head_opens, read_documents
from irkit.sources.records import BadRecord
from irkit.sources.registry import Format

_KINDS = {0: None, 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_RESOURCE_SPANS = re.compile(r'"resource_?[sS]pans"\s*:')
_HEX = re.compile(r"[0-9a-fA-F]+")
_NS_RANGE = (0, 253402300799 * 10**9)

#: canonical column → attribute keys, first present wins
_SPAN_ATTRS: dict[str, tuple[str, ...]] = {
    "method": ("http.request.method", "http.method"),
    "route": ("http.route",),
    "target": ("url.path", "http.target"),
    "url": ("url.full", "http.url"),
    "query": ("url.query",),
    "status_code": ("http.response.status_code", "http.status_code"),
    "host": ("server.address", "http.host", "net.host.name"),
    "client_ip": ("client.address", "http.client_ip", "net.sock.peer.addr"),
    "user_agent": ("user_agent.original", "http.user_agent"),
    "region": ("vercel.region", "cloud.region"),
    "request_id": ("vercel.requestId", "http.request.header.x-vercel-id"),
}
_RESOURCE_ATTRS: dict[str, tuple[str, ...]] = {
    "deployment_id": ("vercel.deploymentId", "vercel.deployment_id"),
    "project_id": ("vercel.projectId", "vercel.project_id"),
    "environment": ("deployment.environment", "deployment.environment.name", "vercel.env"),
    "host": ("vercel.host",),
}


def sniff(head: str) -> bool:
    """An OTLP/JSON trace export: an object with ``resourceSpans``."""
    return head_opens(head) == "{" and bool(_RESOURCE_SPANS.search(head[:4096]))


def _value(v: object) -> object:
    """An OTLP ``AnyValue`` as a plain Python value."""
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return v["intValue"]
    if "arrayValue" in v:
        values = v["arrayValue"].get("values", []) if isinstance(v["arrayValue"], dict) else []
        return [_value(x) for x in values]
    if "kvlistValue" in v:
        return attributes(v["kvlistValue"].get("values", []))
    return None


def attributes(items: object) -> dict[str, object]:
    """OTLP ``[{key, value: AnyValue}]`` → ``{key: value}`` (bad entries skipped)."""
    out: dict[str, object] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                out[item["key"]] = _value(item.get("value"))
    return out


def _first(attrs: dict[str, object], keys: tuple[str, ...]) -> object:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _id(value: object, name: str, size: int) -> str:
    """Hex id of ``size`` bytes; base64 (protobuf-JSON mapping) is converted to hex."""
    if not isinstance(value, str) or not value:
        raise BadRecord(f"span without {name}")
    if len(value) == 2 * size and _HEX.fullmatch(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return raw.hex()
    raise BadRecord(f"{name} {value[:40]!r} is not a {size}-byte hex id")


def _nanos(value: object, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise BadRecord(f"span without {name}")
    try:
        ns = int(value)  # type: ignore[arg-type]  # numeric strings, ints, floats
    except (TypeError, ValueError, OverflowError):
        raise BadRecord(f"{name} {str(value)[:40]!r} is not an integer") from None
    if not _NS_RANGE[0] < ns <= _NS_RANGE[1]:
        raise BadRecord(f"{name} out of range")
    return ns


def _status(value: object) -> int | None:
    try:
        code = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return code if 100 <= code <= 599 else None


def span_row(span: object, resource: dict[str, object]) -> dict[str, object]:
    """One OTLP span (with its resource attributes) as a canonical events row."""
    if not isinstance(span, dict):
        raise BadRecord(f"span is a {type(span).__name__}, expected an object")
    start = _nanos(span.get("startTimeUnixNano"), "startTimeUnixNano")
    end = _nanos(span.get("endTimeUnixNano"), "endTimeUnixNano")
    attrs = attributes(span.get("attributes"))
    row: dict[str, object] = {col: _first(resource, keys) for col, keys in _RESOURCE_ATTRS.items()}
    for col, keys in _SPAN_ATTRS.items():
        value = _first(attrs, keys)
        if value is not None or col not in row:
            row[col] = value
    target = row.pop("target")
    url = row.pop("url")
    if target is None and isinstance(url, str):
        target = re.sub(r"^[a-z]+://[^/]*", "", url) or "/"
    if isinstance(target, str):
        path, sep, query = target.partition("?")
        row["path"] = path or None
        if row["query"] is None and sep:
            row["query"] = query
    status = span.get("status") if isinstance(span.get("status"), dict) else {}
    http_status = _status(row["status_code"])
    row["status_code"] = http_status
    error = status.get("code") in (2, "2", "STATUS_CODE_ERROR") or (
        http_status is not None and http_status >= 500)
    kind = span.get("kind")
    row.update({
        "timestamp": start,
        "duration_ms": (end - start) / 1e6,
        "trace_id": _id(span.get("traceId"), "traceId", 16),
        "span_id": _id(span.get("spanId"), "spanId", 8),
        "message": str(span.get("name")) if span.get("name") is not None else None,
        "type": _KINDS.get(kind) if isinstance(kind, int) else (
            str(kind).removeprefix("SPAN_KIND_").lower() if kind else None),
        "level": "error" if error else "info",
        "source": "trace",
    })
    for col in ("method", "route", "host", "client_ip", "user_agent", "region", "request_id",
                "deployment_id", "project_id", "environment", "query"):
        if row.get(col) is not None and not isinstance(row[col], str):
            row[col] = str(row[col])
    return row


def _spans(doc: object) -> list[tuple[dict[str, object], object]] | None:
    """``(resource attributes, span)`` pairs of one export, or ``None`` if it is not OTLP."""
    if not isinstance(doc, dict):
        return None
    groups = doc.get("resourceSpans", doc.get("resource_spans"))
    if not isinstance(groups, list):
        return None
    out: list[tuple[dict[str, object], object]] = []
    for group in groups:
        if not isinstance(group, dict):
            out.append(({}, group))
            continue
        res = group.get("resource") if isinstance(group.get("resource"), dict) else {}
        resource = attributes(res.get("attributes"))
        scopes = group.get("scopeSpans", group.get("instrumentationLibrarySpans")) or []
        for scope in scopes if isinstance(scopes, list) else [scopes]:
            spans = scope.get("spans") if isinstance(scope, dict) else scope
            for span in spans if isinstance(spans, list) else [spans]:
                out.append((resource, span))
    return out


def read(path: Path) -> Loaded:
    """Every span of an OTLP/JSON file as an events row, or a rejected record."""
    origin = str(path)
    docs = read_documents(path, origin)
    rows: list[dict[str, object]] = []
    lines: list[int] = []
    index = 0
    for doc_line, doc in docs.items:
        pairs = _spans(doc)
        if pairs is None:
            docs.rejections.add(doc_line, "not an OTLP trace export (no resourceSpans)",
                                compact(doc))
            continue
        for resource, span in pairs:
            index += 1
            line = doc_line if docs.lines_mode else index
            try:
                rows.append(span_row(span, resource))
                lines.append(line)
            except BadRecord as exc:
                docs.rejections.add(line, str(exc), compact(span))
    table = pd.DataFrame(rows)
    if rows:
        table["timestamp"] = pd.to_datetime(table["timestamp"].astype("int64"), unit="ns",
                                            utc=True)
        table["origin_line"] = lines
        table["origin_file"] = origin
    table = schema.conform(table, "events")
    rejected = docs.rejections.frame()
    report = FileReport(origin, "otlp-json", len(table) + len(rejected), len(table),
                        len(rejected))
    return Loaded("events", table, report, rejected)


FORMATS = [
    Format("otlp-json", "events", sniff, read,
           "OTLP/JSON trace export (resourceSpans[].scopeSpans[].spans[]), as a trace drain "
           "delivers it"),
]
