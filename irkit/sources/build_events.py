"""Vercel build/deployment events: the ``/v3/deployments/{id}/events`` API and ``vercel inspect
--logs`` text.

* ``build-events`` / ``build-events-ndjson`` — the events API as ``application/json`` (an array)
  or ``application/stream+json`` (one event per line), as ``irkit collect`` saves them under
  ``events/<dpl>.json``.  Three item shapes (vercel-formats §2.3) share one mapping:

  - flat build-log events ``{created, date, deploymentId, id, serial, text, type, level?, info}``;
  - wrapped events ``{type, created, payload: {deploymentId, date, serial, text?, info?,
    statusCode?, requestId?, proxy?}}`` — the request fields come from ``payload.proxy`` exactly
    as a drain's ``proxy`` is read, ``status_code`` from ``payload.statusCode``;
  - ``{type: "alias-assigned", deploymentId, date, alias: [...], aliasError, aliasWarning}`` —
    one row of source ``deployment`` whose message names the aliases (and the error or warning).

  ``timestamp`` is ``date`` (top level, else the payload's), else ``created`` (epoch ms → UTC);
  ``source`` is ``info.type`` (``build`` when absent, ``request`` for wrapped request events);
  ``type`` is the event type; ``message`` is ``text`` with ANSI codes and its leading/trailing
  line end removed (what the CLI prints); a text-less ``deployment-state`` event says
  ``deployment state: <readyState>``.  ``level``: the event's ``level``; else ``error`` for
  ``stderr``/``fatal`` events, a ``readyState`` of ``ERROR``, an alias error or a status >= 500;
  ``warning`` for an alias warning; else ``info``.

  **Keep-alives** (items with neither ``created`` nor ``date``, which the CLI skips) are
  *rejected* with the reason ``keep-alive (no timestamp)``: they carry no event, so as rows they
  would only dilute counts and rates with untimed nothing; as rejected records they stay in the
  evidence, with their line, and ``rows + rejected`` still accounts for every record.

* ``vercel-inspect-logs`` — ``vercel inspect <url> --logs``: ``<ISO-8601>  <line>`` for every line
  of every build event.  The layout is the legacy ``vercel logs`` short text (same events API),
  so it is told apart by content: a head of timestamped lines with build-output markers
  (``Cloning …``, ``Running build in …``, ``Build Completed …``) and no runtime ``REQ``/``RES``/
  ``Duration:`` lines.  One row per printed line (the CLI trimmed every line, so a multi-line
  event cannot be told from several events of the same millisecond); source ``build``; level from
  the CLI's colours when present (red = error, yellow = warning), else from the text (``npm
  ERR!``, ``…Error:``, ``Failed to compile``, ``exited with <non-zero>`` → error; ``warn``/
  ``warning`` → warning), else info.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from irkit.sources import sqlfields as f
from irkit.sources.base import Loaded
from irkit.sources.cli_output import (
    _ANSI,
    TEXT_FIELDS,
    TEXT_LINE,
    _colour_level,
    stamped_lines,
)
from irkit.sources.documents import compact
from irkit.sources.drains import PROXY_FIELDS
from irkit.sources.jsoninput import document_records, first_char, head_objects, ndjson_records
from irkit.sources.records import RawRejection, RecordSpec, load_records
from irkit.sources.registry import Format

KEEP_ALIVE = "keep-alive (no timestamp)"

INFO_FIELDS: dict[str, object] = {
    "type": "str", "name": "str", "entrypoint": "str", "path": "str", "step": "str",
    "readyState": "str",
}
PAYLOAD_FIELDS: dict[str, object] = {
    "deploymentId": "str", "id": "str", "date": "ms", "created": "ms", "serial": "str",
    "text": "str", "info": INFO_FIELDS, "statusCode": "int", "requestId": "str",
    "proxy": PROXY_FIELDS,
}
FIELDS: dict[str, object] = {
    "created": "ms", "date": "ms", "deploymentId": "str", "id": "str", "serial": "str",
    "text": "str", "type": "str", "level": "str", "info": INFO_FIELDS,
    "payload": PAYLOAD_FIELDS, "alias": "strs", "aliasError": "str", "aliasWarning": "str",
}


def _s(expr: str) -> str:
    return f.nullif_blank(expr)


_P = "r.payload.proxy"
_ALIAS = "lower(r.type) = 'alias-assigned'"
_STATUS = f"COALESCE(r.payload.statusCode, {_P}.statusCode)"
_TEXT = "COALESCE(r.text, r.payload.text)"
_INFO_TYPE = "COALESCE(r.info.type, r.payload.info.type)"
_READY_STATE = "upper(COALESCE(r.info.readyState, r.payload.info.readyState))"
#: The CLI's ``sanitize``: ANSI codes out, one leading and one trailing line end dropped.
_CLEAN_TEXT = (f"regexp_replace(regexp_replace({_TEXT}, '\\x1b\\[[0-9;?]*[A-Za-z]', '', 'g'), "
               "'^\\r?\\n|\\r?\\n$', '', 'g')")
_ALIAS_MESSAGE = (
    "concat('alias assigned: ', COALESCE(array_to_string(r.alias, ', '), '(none)'), "
    "CASE WHEN r.aliasError IS NOT NULL THEN concat(' (error: ', r.aliasError, ')') ELSE '' END, "
    "CASE WHEN r.aliasWarning IS NOT NULL THEN concat(' (warning: ', r.aliasWarning, ')') "
    "ELSE '' END)"
)
#: A ``deployment-state`` event has no text: say which state it reports.
_STATE_MESSAGE = f"'deployment state: ' || {_READY_STATE}"
_LEVEL = (
    "COALESCE(r.level, "
    f"CASE WHEN lower(r.type) = 'fatal' OR {_READY_STATE} = 'ERROR' "
    f"OR ({_ALIAS} AND r.aliasError IS NOT NULL) THEN 'error' "
    f"WHEN {_ALIAS} AND r.aliasWarning IS NOT NULL THEN 'warning' END)"
)
_URL = f"{_P}.path"
_MESSAGE = (f"CASE WHEN {_ALIAS} THEN {_ALIAS_MESSAGE} "
            f"ELSE COALESCE({_CLEAN_TEXT}, {_STATE_MESSAGE}) END")

SELECT = ",\n".join([
    f"{f.epoch_ms('COALESCE(r.date, r.payload.date, r.created, r.payload.created)')} AS timestamp",
    f"{f.level(_LEVEL, 'r.type', _STATUS)} AS level",
    f"CASE WHEN {_ALIAS} THEN 'deployment' ELSE COALESCE({_s(f'lower({_INFO_TYPE})')}, "
    f"CASE WHEN {_P} IS NOT NULL OR r.payload.requestId IS NOT NULL THEN 'request' "
    "ELSE 'build' END) END AS source",
    f"{_s('r.type')} AS type",
    f"{_s(_MESSAGE)} AS message",
    f"{f.status(_STATUS)} AS status_code",
    f"{_s(f'upper({_P}.method)')} AS method",
    f"{_s(f'{_P}.host')} AS host",
    f"{f.path_only(_URL)} AS path",
    f"{f.query_string(_URL)} AS query",
    f"CASE WHEN {_URL} IS NOT NULL THEN {f.route('NULL', f.path_only(_URL))} END AS route",
    f"{_s(f'{_P}.clientIp')} AS client_ip",
    f"{f.user_agent(f'{_P}.userAgent')} AS user_agent",
    f"{_s(f'{_P}.referer')} AS referer",
    f"{_s(f'{_P}.region')} AS region",
    f"{_s(f'{_P}.lambdaRegion')} AS execution_region",
    f"{_s(f'upper({_P}.vercelCache)')} AS cache",
    f"{_s('r.payload.requestId')} AS request_id",
    f"{_s('COALESCE(r.deploymentId, r.payload.deploymentId)')} AS deployment_id",
    f"CASE WHEN {_P}.responseByteSize >= 0 THEN {_P}.responseByteSize END AS bytes",
    f"{_s(f'lower({_P}.wafAction)')} AS waf_action",
])

SPEC = RecordSpec(fields=FIELDS, select=SELECT, one_row_per_record=False)


def _timestamped(record: dict) -> bool:
    payload = record.get("payload")
    stamps = [record.get("created"), record.get("date")]
    if isinstance(payload, dict):
        stamps += [payload.get("created"), payload.get("date")]
    return any(stamp is not None for stamp in stamps)


def without_keep_alives(records: Iterable[tuple[int, object]]) -> Iterator[tuple[int, object]]:
    """Pass records through, turning keep-alives into rejections (see the module docstring)."""
    for line, record in records:
        if isinstance(record, dict) and not _timestamped(record):
            yield line, RawRejection(KEEP_ALIVE, compact(record))
        else:
            yield line, record


# ------------------------------------------------------------------ sniffing (JSON)


def is_build_event(obj: dict) -> bool:
    """One of the three §2.3 item shapes: a ``serial`` (top level or in ``payload``) next to an
    event body, or an ``alias-assigned`` event of a deployment."""
    if obj.get("type") == "alias-assigned" and "deploymentId" in obj:
        return True
    payload = obj.get("payload")
    body = payload if isinstance(payload, dict) else obj
    return "serial" in body and ("deploymentId" in body or "text" in body or "info" in body)


_SERIAL = re.compile(r'"serial"\s*:\s*"')
_ALIAS_EVENT = re.compile(r'"type"\s*:\s*"alias-assigned"')
_EVENT_BODY = re.compile(r'"(?:created|date)"\s*:')


def sniff_json(head: str) -> bool:
    """An events API array: ``[`` and, among the first items, event keys (``serial`` …)."""
    if first_char(head) != "[":
        return False
    return bool(_SERIAL.search(head) or _ALIAS_EVENT.search(head)) and bool(
        _EVENT_BODY.search(head))


def sniff_ndjson(head: str) -> bool:
    """An events stream: JSON lines of which at least one is a build/deployment event."""
    if first_char(head) != "{":
        return False
    return any(is_build_event(obj) for obj in head_objects(head, limit=20))


def read_json(path: Path) -> Loaded:
    return load_records(path, "build-events", SPEC, without_keep_alives(document_records(path)))


def read_ndjson(path: Path) -> Loaded:
    return load_records(path, "build-events-ndjson", SPEC,
                        without_keep_alives(ndjson_records(path)))


# ------------------------------------------------------------------ `vercel inspect --logs`

#: Lines Vercel's build container prints in (nearly) every build, and never at runtime.
_BUILD_MARKER = re.compile(
    r"^(?:Cloning github\.com/|Cloning gitlab\.com/|Cloning bitbucket\.org/|Cloning completed|"
    r"Running build in |Build machine configuration|Retrieving list of deployment files|"
    r"Running \"(?:vercel build|install|npm|pnpm|yarn|bun)|Installing dependencies|"
    r"Vercel CLI \d|Build Completed in |Deploying outputs|Deployment completed|"
    r"Restored build cache|Creating build cache|Uploading build cache|Build cache uploaded)"
)
#: What only the runtime side of legacy ``vercel logs`` prints.
_RUNTIME_MARKER = re.compile(r'^(?:REQ "|RES "|Duration: \d)')
_BUILD_ERROR = re.compile(
    r"^(?:npm ERR!|ERR_PNPM|error\b|Error\b|\w+Error\b|Failed to compile|Build failed)"
    r"|exited with (?:[1-9]\d*)\b", re.IGNORECASE)
_BUILD_WARNING = re.compile(r"\bwarn(?:ing)?\b", re.IGNORECASE)

INSPECT = RecordSpec(
    fields=TEXT_FIELDS,
    select=",\n".join([
        f"{f.epoch_ms('r.timestamp')} AS timestamp",
        f"{f.level('r.level')} AS level",
        "'build' AS source",
        f"{_s('r.message')} AS message",
    ]),
)


def _inspect_lines(head: str) -> list[str]:
    return [_ANSI.sub("", line) for line in head.splitlines() if line.strip()][:200]


def sniff_inspect(head: str) -> bool:
    """Timestamped lines (mostly), at least one build marker and no runtime request lines."""
    lines = _inspect_lines(head)
    leading = sum(TEXT_LINE.match(line) is not None for line in lines[:10])
    if not lines or leading * 2 <= len(lines[:10]):
        return False
    texts = [m.group(2) for m in map(TEXT_LINE.match, lines) if m]
    return (any(_BUILD_MARKER.match(text) for text in texts)
            and not any(_RUNTIME_MARKER.match(text) for text in texts))


def build_line_level(raw: str, text: str) -> str | None:
    """Level of one printed build line: the CLI's colour, else what the text plainly says."""
    colour = _colour_level(raw)
    if colour:
        return colour
    if _BUILD_ERROR.search(text):
        return "error"
    if _BUILD_WARNING.search(text):
        return "warning"
    return None


def inspect_records(path: Path) -> Iterator[tuple[int, object]]:
    """One record per printed line; lines without the leading timestamp are rejected."""
    for number, raw, parts in stamped_lines(path):
        if isinstance(parts, RawRejection):
            yield number, parts
            continue
        stamp, text = parts
        yield number, {"timestamp": stamp, "message": text,
                       "level": build_line_level(raw, text)}


def read_inspect(path: Path) -> Loaded:
    return load_records(path, "vercel-inspect-logs", INSPECT, inspect_records(path))


FORMATS: list[Format] = [
    Format("build-events", "events", sniff_json, read_json,
           "deployment build events API, JSON array (GET /v3/deployments/{id}/events)"),
    Format("build-events-ndjson", "events", sniff_ndjson, read_ndjson,
           "deployment build events API, application/stream+json lines"),
    Format("vercel-inspect-logs", "events", sniff_inspect, read_inspect,
           "`vercel inspect <url> --logs` build log text"),
]
