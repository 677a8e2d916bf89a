"""``vercel logs`` output of all three CLI generations, and the runtime-logs API stream.

* ``runtime-logs`` — CLI 35–50.11 ``--json`` (and ``--follow --json`` later), which prints the
  runtime-logs API stream (``GET …/runtime-logs``) verbatim: one object per line with
  ``timestampInMs``, ``rowId``, ``requestMethod`` … .  A *delimiter* row (``rowId == ""``,
  ``source == "delimiter"``) means the stream hit its limit: it is kept as a ``warning`` row with
  source ``delimiter`` (not an error: it is a gap in the evidence, not a failure of the app).
* ``request-logs`` — CLI ≥ 50.12 ``--json``: one object per *request* with its ``logs[]``; every
  log line becomes one row sharing the request's fields (a request without logs is one row).
  ``request-logs-api`` is the same data as the internal API's ``{"rows": [...]}`` response.
* ``vercel-logs-text`` — CLI ≤ 34 ``--output short``: ``<ISO time>  <text>`` lines.  The CLI split
  multi-line messages into one line each; indented continuation lines with the same timestamp
  (stack frames) are joined back into one row.  ``REQ``/``RES`` access lines fill method, path,
  client, status and bytes; ANSI colours, when present, give the level (red = stderr = error,
  yellow = warning), otherwise ``…Error:`` heads and stack traces are errors, lines mentioning
  "warning" warnings, the rest info (a RES status >= 500 is an error); ``Duration: …`` lines
  are REPORT remnants and carry ``duration_ms``.

The human layouts of newer CLIs print local clock times without a date or zone, so they cannot
give UTC timestamps; they are recognised and refused with a message asking for ``--json``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from irkit.errors import InputFormatError
from irkit.sources import sqlfields as f
from irkit.sources.base import Loaded
from irkit.sources.jsoninput import (
    document_records,
    first_char,
    head_objects,
    ndjson_records,
    numbered_lines,
)
from irkit.sources.records import RawRejection, RecordSpec, load_records
from irkit.sources.registry import Format


def _s(expr: str) -> str:
    return f.nullif_blank(expr)


# ------------------------------------------------------------------ runtime logs

#: The request a runtime or request-log row belongs to: both generations name it alike.
_REQUEST_TARGET = [
    f"{_s('upper(r.requestMethod)')} AS method",
    f"{_s('r.domain')} AS host",
    f"{f.path_only('r.requestPath')} AS path",
    f"{f.query_string('r.requestPath')} AS query",
    f"{f.route('NULL', f.path_only('r.requestPath'))} AS route",
]

RUNTIME_FIELDS: dict[str, object] = {
    "level": "str", "message": "str", "rowId": "str", "source": "str", "timestampInMs": "ms",
    "domain": "str", "requestMethod": "str", "requestPath": "str", "responseStatusCode": "int",
    "requestId": "str", "deploymentId": "str", "projectId": "str",
}
_DELIMITER = "(r.rowId = '' AND lower(r.source) = 'delimiter')"
RUNTIME = RecordSpec(
    fields=RUNTIME_FIELDS,
    select=",\n".join([
        f"{f.epoch_ms('r.timestampInMs')} AS timestamp",
        f"CASE WHEN {_DELIMITER} THEN 'warning' ELSE "
        f"{f.level('r.level', status_expr='r.responseStatusCode')} END AS level",
        f"{_s('lower(r.source)')} AS source",
        f"CASE WHEN {_DELIMITER} THEN COALESCE({_s('r.message')}, 'runtime-logs stream "
        "delimiter: the stream hit its limit, later logs may be missing') "
        f"ELSE {_s('r.message')} END AS message",
        f"{f.status('r.responseStatusCode')} AS status_code",
        "false AS crashed",
        *_REQUEST_TARGET,
        f"{_s('r.requestId')} AS request_id",
        f"{_s('r.deploymentId')} AS deployment_id",
        f"{_s('r.projectId')} AS project_id",
    ]),
)

# ------------------------------------------------------------------ request logs (CLI >= 50.12)

REQUEST_FIELDS: dict[str, object] = {
    "id": "str", "requestId": "str", "timestamp": "ms", "deploymentId": "str",
    "projectId": "str", "level": "str", "message": "str", "source": "str", "domain": "str",
    "requestMethod": "str", "requestPath": "str", "responseStatusCode": "int",
    "statusCode": "int", "environment": "str", "branch": "str", "cache": "str",
    "traceId": "str", "logs": [{"level": "str", "message": "str"}],
    "events": [{"source": "str"}],
}
_REQ_STATUS = "COALESCE(r.responseStatusCode, r.statusCode)"
REQUEST = RecordSpec(
    fields=REQUEST_FIELDS,
    relation=("(SELECT *, unnest(CASE WHEN len(logs) > 0 THEN logs ELSE [NULL] END) AS lg "
              "FROM {reader})"),
    one_row_per_record=False,
    select=",\n".join([
        f"{f.epoch_ms('r.timestamp')} AS timestamp",
        f"{f.level('COALESCE(r.lg.level, r.level)', status_expr=_REQ_STATUS)} AS level",
        f"{_s('lower(COALESCE(r.source, r.events[1].source))')} AS source",
        f"{_s('CASE WHEN r.lg IS NULL THEN r.message ELSE r.lg.message END')} AS message",
        f"{f.status(_REQ_STATUS)} AS status_code",
        "false AS crashed",
        *_REQUEST_TARGET,
        f"{_s('upper(r.cache)')} AS cache",
        f"{_s('COALESCE(r.requestId, r.id)')} AS request_id",
        f"{_s('r.traceId')} AS trace_id",
        f"{_s('r.deploymentId')} AS deployment_id",
        f"{_s('r.projectId')} AS project_id",
        f"{_s('r.environment')} AS environment",
        f"{_s('r.branch')} AS branch",
    ]),
)

# ------------------------------------------------------------------ legacy text (CLI <= 34)

TEXT_FIELDS: dict[str, object] = {
    "timestamp": "ms", "message": "str", "level": "str", "method": "str", "url": "str",
    "client": "str", "referer": "str", "agent": "str", "status": "int", "bytes": "int",
}
TEXT = RecordSpec(
    fields=TEXT_FIELDS,
    select=",\n".join([
        f"{f.epoch_ms('r.timestamp')} AS timestamp",
        f"{f.level('r.level', status_expr='r.status')} AS level",
        f"{_s('r.message')} AS message",
        f"{f.status('r.status')} AS status_code",
        "false AS crashed",
        f"{_s('r.method')} AS method",
        f"{f.path_only('r.url')} AS path",
        f"{f.query_string('r.url')} AS query",
        f"{f.route('NULL', f.path_only('r.url'))} AS route",
        f"{_s('r.client')} AS client_ip",
        f"{_s('r.agent')} AS user_agent",
        f"{_s('r.referer')} AS referer",
        "CASE WHEN r.bytes >= 0 THEN r.bytes END AS bytes",
    ]),
)

TEXT_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)  (.*)$", re.DOTALL)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_RED = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:31|91)m")
_YELLOW = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:33|93)m")
_REQ = re.compile(r'^REQ "(\S+) (\S+)(?: [^"]*)?" (\S+) - (\S+) "([^"]*)" "([^"]*)"')
_RES = re.compile(r'^RES "(\S+) (\S+)(?: [^"]*)?" (-?\d+) (-?\d+)')
_WARNING = re.compile(r"warning", re.IGNORECASE)
#: Without colours, an uncoloured line is an error only when it plainly is one: a JS/Python-style
#: ``…Error:``/``…Exception:`` head, or a stack trace (joined ``at …`` frames).
_ERROR_TEXT = re.compile(r"^\w*(?:Error|Exception)\b|\n\s+at ")


def _colour_level(raw: str) -> str | None:
    if _RED.search(raw):
        return "error"
    if _YELLOW.search(raw):
        return "warning"
    return None


def _text_record(stamp: str, text: str, colour: str | None) -> dict[str, object]:
    level = colour or ("error" if _ERROR_TEXT.search(text)
                       else "warning" if _WARNING.search(text) else None)
    record: dict[str, object] = {"timestamp": stamp, "message": text, "level": level}
    if match := _REQ.match(text):
        method, url, client, _user, referer, agent = match.groups()
        record.update(method=method, url=url, client=client, referer=referer, agent=agent)
    elif match := _RES.match(text):
        method, url, status, size = match.groups()
        record.update(method=method, url=url, status=int(status), bytes=int(size))
    return record


def split_text_line(raw: str) -> tuple[str, str] | RawRejection:
    """``(timestamp, text)`` of a ``<ISO-8601>  <text>`` line (legacy ``vercel logs``, ``vercel
    inspect --logs``), ANSI colours ignored; a line without the timestamp is rejected."""
    match = TEXT_LINE.match(_ANSI.sub("", raw))
    if match is None:
        return RawRejection("no leading ISO-8601 timestamp", raw)
    stamp, text = match.groups()
    return stamp, text


def stamped_lines(path: Path) -> Iterator[tuple[int, str, tuple[str, str] | RawRejection]]:
    """``(line, raw text, (timestamp, text))`` for every line of a timestamped text log; a line
    without the timestamp, and a cut gzip stream, come with their :class:`RawRejection`."""
    for number, raw in numbered_lines(path):
        if isinstance(raw, RawRejection):
            yield number, "", raw
        else:
            yield number, raw, split_text_line(raw)


def text_records(path: Path) -> Iterator[tuple[int, object]]:
    """Records of legacy ``--output short`` text, continuation lines joined to their event."""
    pending: tuple[int, str, list[str], str | None] | None = None
    for number, raw, parts in stamped_lines(path):
        if isinstance(parts, RawRejection):
            yield number, parts
            continue
        stamp, text = parts
        if pending and pending[1] == stamp and text[:1] in (" ", "\t"):
            pending[2].append(text)
            continue
        if pending:
            yield pending[0], _text_record(pending[1], "\n".join(pending[2]), pending[3])
        pending = (number, stamp, [text], _colour_level(raw))
    if pending:
        yield pending[0], _text_record(pending[1], "\n".join(pending[2]), pending[3])


# ------------------------------------------------------------------ sniffing

_HUMAN = re.compile(r"^(Displaying runtime logs for deployment |Streaming logs for |"
                    r"TIME\s+HOST\s+LEVEL|\d\d:\d\d:\d\d\.\d\d  \S+  )", re.MULTILINE)
_RUNTIME_KEYS = ("timestampInMs", "rowId")


def _objects(head: str) -> list[dict]:
    return head_objects(head) if first_char(head) == "{" else []


def sniff_runtime(head: str) -> bool:
    """Runtime-logs API stream / CLI 35–50.11 ``--json`` lines."""
    return any(any(key in obj for key in _RUNTIME_KEYS) for obj in _objects(head))


def sniff_request_ndjson(head: str) -> bool:
    """CLI ≥ 50.12 ``--json``: one request object per line, with ``logs[]``."""
    return any(isinstance(obj.get("logs"), list)
               and ("requestMethod" in obj or "responseStatusCode" in obj or "domain" in obj)
               for obj in _objects(head))


def sniff_request_api(head: str) -> bool:
    """The request-logs API response: ``{"rows": [...], "hasMoreRows": …}``."""
    return (first_char(head) == "{" and '"hasMoreRows"' in head
            and re.search(r'"rows"\s*:\s*\[', head) is not None)


def sniff_text(head: str) -> bool:
    """Legacy ``vercel logs`` short output: ISO timestamp, two spaces, text (most lines)."""
    lines = [_ANSI.sub("", line) for line in head.splitlines() if line.strip()][:10]
    hits = sum(TEXT_LINE.match(line) is not None for line in lines)
    return bool(lines) and hits * 2 > len(lines)


def sniff_human(head: str) -> bool:
    """Human ``vercel logs`` layouts (CLI ≥ 35): recognised only to refuse them clearly."""
    return _HUMAN.search(head[:4096]) is not None and first_char(head) not in ("{", "[")


# ------------------------------------------------------------------ readers


def read_runtime(path: Path) -> Loaded:
    return load_records(path, "runtime-logs", RUNTIME, ndjson_records(path))


def read_request_ndjson(path: Path) -> Loaded:
    return load_records(path, "request-logs", REQUEST, ndjson_records(path))


def read_request_api(path: Path) -> Loaded:
    return load_records(path, "request-logs-api", REQUEST, document_records(path, ("rows",)))


def read_text(path: Path) -> Loaded:
    return load_records(path, "vercel-logs-text", TEXT, text_records(path))


def read_human(path: Path) -> Loaded:
    raise InputFormatError(
        f"{path}: human-readable `vercel logs` output has local clock times without a date or "
        "time zone; re-run the command with --json and load that")


FORMATS: list[Format] = [
    Format("runtime-logs", "events", sniff_runtime, read_runtime,
           "runtime-logs API stream / `vercel logs --json` (CLI 35-50.11, --follow)"),
    Format("request-logs", "events", sniff_request_ndjson, read_request_ndjson,
           "`vercel logs --json` request logs with logs[] (CLI >= 50.12)"),
    Format("request-logs-api", "events", sniff_request_api, read_request_api,
           "request-logs API response {rows: [...]}"),
    Format("vercel-logs-text", "events", sniff_text, read_text,
           "`vercel logs` short text output (CLI <= 34)"),
    Format("vercel-logs-human", "events", sniff_human, read_human,
           "human `vercel logs` layouts (refused: no dates; use --json)"),
]
