"""Metrics → the canonical long-form metrics table (timestamp, name, labels, value, unit).

Three inputs:

``prometheus-text``
    Prometheus text exposition, parsed with ``prometheus_client``'s parser.  Every sample is a
    row: histograms stay as their ``_bucket`` rows (``le`` in the labels), ``_sum`` and
    ``_count``; counters keep their ``_total`` names.  Sample timestamps (milliseconds in the
    format) become ``timestamp``; a sample *without* one gets NA — a scrape file does not say
    when it was scraped, and irkit does not guess from file times.  Several scrapes may follow
    each other in one file (families repeated, as the demo writes them).  ``unit`` is taken from
    the family name's unit suffix (``_seconds``, ``_bytes`` …).  A line the parser refuses is a
    rejected record; the other lines still load.
``metrics-json``
    irkit's simple JSON shape: ``{"metrics": [{"name", "labels", "value", "unit",
    "timestamp"}]}`` or a bare list of such objects.  ``timestamp`` is epoch milliseconds, a
    numeric string or ISO-8601; ``labels`` an object (values become strings); ``value`` a number
    or numeric string.
``observability-query``
    A Vercel ``POST /v2/observability/query`` response ``{data: [{timestamp, …}], summary,
    statistics}``: one row per data point and *value* column (numbers), with the string columns of
    the point (the ``groupBy`` dimensions) as labels.  The row name is the value column's name,
    prefixed with the response's ``metric`` (or ``query.metric``) when the response carries it;
    ``summary`` and ``statistics`` are aggregates of the same points and are not rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from irkit import schema
from irkit.sources.base import FileReport, Loaded, Rejections
from irkit.sources.documents import compact, head_opens, iter_records, read_documents, read_text
from irkit.sources.records import BadRecord, parse_ms
from irkit.sources.registry import Format

_SAMPLE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+(\S+)(\s+-?\d+)?\s*$")
_UNIT_SUFFIXES = ("seconds", "milliseconds", "bytes", "ratio", "percent", "celsius", "meters",
                  "volts", "amperes", "joules", "grams")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")
#: Dimension names of Vercel's observability API that hold numbers but are labels, not values.
_NUMERIC_DIMENSIONS = frozenset({"http_status", "status_code", "statusCode", "status"})


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def sniff_prometheus(head: str) -> bool:
    """Prometheus text: ``# HELP``/``# TYPE`` first, or lines shaped ``name{labels} value [ts]``."""
    checked = 0
    for line in head.splitlines()[:200]:
        line = line.strip()
        if not line:
            continue
        if line.startswith(("# HELP ", "# TYPE ")):
            return True
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match or not _is_number(match.group(2)):
            return False
        checked += 1
        if checked >= 3:
            return True
    return checked > 0


_METRICS_KEY = re.compile(r'\A\s*\{\s*"metrics"\s*:\s*\[')
_LIST_OF_METRICS = re.compile(r'\A\s*\[\s*\{[^{}]*"name"\s*:[^{}]*"value"\s*:|'
                              r'\A\s*\[\s*\{[^{}]*"value"\s*:[^{}]*"name"\s*:')
_DATA_KEY = re.compile(r'"data"\s*:\s*\[')
_OBS_KEYS = re.compile(r'"(?:statistics|summary)"\s*:')


def sniff_json(head: str) -> bool:
    """irkit's JSON metrics: ``{"metrics": [...]}`` or a list of ``{name, value, ...}``."""
    return bool(_METRICS_KEY.match(head) or _LIST_OF_METRICS.match(head))


def sniff_observability(head: str) -> bool:
    """An observability query response: an object with a ``data`` list and summary/statistics."""
    return head_opens(head) == "{" and bool(_DATA_KEY.search(head)) and bool(
        _OBS_KEYS.search(head) or re.search(r'"data"\s*:\s*\[\s*(\]|\{\s*"timestamp")', head))


def _unit(family: str) -> str | None:
    name = family
    for suffix in _HISTOGRAM_SUFFIXES:
        name = name.removesuffix(suffix)
    for unit in _UNIT_SUFFIXES:
        if name.endswith("_" + unit):
            return unit
    return None


#: (epoch ms or None, name, labels, value, unit)
Row = tuple[int | None, str, dict, float, str | None]


def _frame(rows: list[Row], origin: str) -> pd.DataFrame:
    if not rows:
        return schema.empty("metrics")
    ts, names, labels, values, units = zip(*rows, strict=True)
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime(pd.array(list(ts), dtype="Int64"), unit="ms", utc=True),
        "name": list(names),
        "labels": list(labels),
        "value": pd.array(list(values), dtype="Float64"),
        "unit": list(units),
        "origin_file": origin,
    })
    return schema.conform(frame, "metrics")


# ------------------------------------------------------------------ Prometheus text


def _samples(text: str) -> list:
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for family in text_string_to_metric_families(text):
        unit = _unit(family.name)
        out.extend((s, unit) for s in family.samples)
    return out


def _sample_row(sample, unit: str | None) -> Row:
    ts = sample.timestamp
    if ts is not None and not isinstance(ts, int | float):  # openmetrics Timestamp object
        ts = float(ts.sec) + ts.nsec / 1e9
    ms = None if ts is None or not math.isfinite(ts) else round(ts * 1000)
    value = float(sample.value)
    return ms, sample.name, dict(sample.labels), value, unit


def _sample_lines(lines: Iterable[str]) -> int:
    return sum(1 for line in lines if line.strip() and not line.lstrip().startswith("#"))


def read_prometheus(path: Path) -> Loaded:
    """All samples of a Prometheus text file; unparsable lines become rejected records."""
    origin = str(path)
    text, complete = read_text(path)
    lines = text.splitlines()
    rejections = Rejections(origin)
    try:
        parsed = _samples(text)
        if len(parsed) != _sample_lines(lines):
            raise ValueError("sample count differs from line count")
        rows = [_sample_row(s, unit) for s, unit in parsed]
    except ValueError:
        rows = _prometheus_by_line(lines, rejections)
    if not complete:
        rejections.add(len(lines) + 1, "gzip stream truncated: the rest is unreadable", None)
    table = _frame(rows, origin)
    rejected = rejections.frame()
    report = FileReport(origin, "prometheus-text", len(table) + len(rejected), len(table),
                        len(rejected))
    return Loaded("metrics", table, report, rejected)


def _prometheus_by_line(lines: list[str], rejections: Rejections) -> list[Row]:
    """Slow path: each sample line parsed under its family's ``# TYPE`` header."""
    rows = []
    header = ""
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] == "TYPE":
                header = line + "\n"
                try:
                    _samples(header)
                except ValueError:
                    header = ""
                    rejections.add(number, "invalid # TYPE line", raw)
            continue
        try:
            parsed = _samples(header + line + "\n")
        except (ValueError, IndexError, TypeError) as exc:
            reason = " ".join(str(exc).split())[:120] or "unparsable sample"
            rejections.add(number, f"invalid Prometheus sample ({reason})", raw)
            continue
        rows.extend(_sample_row(s, unit) for s, unit in parsed)
    return rows


# ------------------------------------------------------------------ JSON shapes


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or value is None:
        raise BadRecord(f"{what} is missing or not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadRecord(f"{what} {str(value)[:40]!r} is not a number") from None
    return number


def _labels(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f"labels is a {type(value).__name__}, expected an object")
    return {str(k): v if isinstance(v, str) else compact(v) for k, v in value.items()}


def metric_row(record: object) -> Row:
    """One ``{name, labels, value, unit, timestamp}`` object as a metrics row."""
    if not isinstance(record, dict):
        raise BadRecord(f"metric is a {type(record).__name__}, expected an object")
    name = record.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRecord("metric without a name")
    unit = record.get("unit")
    return (parse_ms(record.get("timestamp")), name, _labels(record.get("labels")),
            _number(record.get("value"), "value"), str(unit) if unit not in (None, "") else None)


def _metrics_list(doc: object) -> list[object] | None:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("metrics"), list):
        return doc["metrics"]
    return None


def read_json(path: Path) -> Loaded:
    """irkit's JSON metrics shape: one row per metric object."""
    origin = str(path)
    docs = read_documents(path, origin)
    rows = []
    for line, record in iter_records(docs, _metrics_list, "a metrics list"):
        try:
            rows.append(metric_row(record))
        except BadRecord as exc:
            docs.rejections.add(line, str(exc), compact(record))
    table = _frame(rows, origin)
    rejected = docs.rejections.frame()
    report = FileReport(origin, "metrics-json", len(table) + len(rejected), len(table),
                        len(rejected))
    return Loaded("metrics", table, report, rejected)


def _metric_name(doc: dict) -> str | None:
    query = doc.get("query") if isinstance(doc.get("query"), dict) else {}
    name = doc.get("metric") or query.get("metric")
    return name if isinstance(name, str) and name else None


def data_point_rows(point: object, metric: str | None) -> list[Row]:
    """One observability data point → a row per numeric value column, string columns as labels."""
    if not isinstance(point, dict):
        raise BadRecord(f"data point is a {type(point).__name__}, expected an object")
    if point.get("timestamp") is None:
        raise BadRecord("data point without a timestamp")
    ms = parse_ms(point["timestamp"])
    labels: dict[str, str] = {}
    values: dict[str, float] = {}
    for key, value in point.items():
        if key == "timestamp":
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and (
                key not in _NUMERIC_DIMENSIONS):
            values[key] = float(value)
        elif value is not None:
            labels[key] = value if isinstance(value, str) else compact(value)
    if not values:
        raise BadRecord("data point without a numeric value")
    unit = "milliseconds" if metric and metric.endswith("_ms") else None
    rows = []
    for key, value in values.items():
        name = key if metric is None else (metric if key == "value" else f"{metric}:{key}")
        rows.append((ms, name, dict(labels), value,
                     "milliseconds" if key.endswith("_ms") else unit))
    return rows


def read_observability(path: Path) -> Loaded:
    """A ``/v2/observability/query`` response: one row per data point and value column."""
    origin = str(path)
    docs = read_documents(path, origin)
    rows: list[Row] = []
    points = 0
    for line, doc in docs.items:
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            docs.rejections.add(line, "not an observability query response", compact(doc))
            continue
        metric = _metric_name(doc)
        for index, point in enumerate(doc["data"], start=1):
            try:
                rows.extend(data_point_rows(point, metric))
                points += 1
            except BadRecord as exc:
                docs.rejections.add(line if docs.lines_mode else index, str(exc), compact(point))
    table = _frame(rows, origin)
    rejected = docs.rejections.frame()
    report = FileReport(origin, "observability-query", points + len(rejected), len(table),
                        len(rejected))
    return Loaded("metrics", table, report, rejected)


FORMATS = [
    Format("prometheus-text", "metrics", sniff_prometheus, read_prometheus,
           "Prometheus text exposition (counters, gauges, histograms as buckets)"),
    Format("metrics-json", "metrics", sniff_json, read_json,
           'JSON metrics: {"metrics": [{name, labels, value, unit, timestamp}]} or a list'),
    Format("observability-query", "metrics", sniff_observability, read_observability,
           "Vercel /v2/observability/query response {data, summary, statistics}"),
]
