"""The canonical tables: column names, dtypes and a validator.

Every loader maps its input into one of these tables and everything else reads them, so this
module is the single place where a column is named or typed.  The contracts are those of
SPEC.md: missing values are ``pd.NA`` (never empty strings or sentinels), strings use pandas'
nullable string dtype, times are tz-aware UTC and ids are always strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

#: Nullable, Arrow-backed string dtype (missing values are ``pd.NA``).
STRING = pd.StringDtype("pyarrow")
#: Tz-aware UTC timestamps, microsecond resolution (pandas 3's default).
TIMESTAMP = pd.DatetimeTZDtype(unit="us", tz="UTC")

LEVELS = ("debug", "info", "warning", "error", "fatal")
#: Levels that count as errors for error rates and pattern triage.
ERROR_LEVELS = frozenset({"error", "fatal"})

EVENT_COLUMNS: dict[str, object] = {
    "timestamp": TIMESTAMP,
    "level": STRING,
    "source": STRING,
    "type": STRING,
    "message": STRING,
    "status_code": pd.Int16Dtype(),
    "crashed": pd.BooleanDtype(),
    "method": STRING,
    "host": STRING,
    "path": STRING,
    "query": STRING,
    "route": STRING,
    "client_ip": STRING,
    "user_agent": STRING,
    "referer": STRING,
    "region": STRING,
    "execution_region": STRING,
    "cache": STRING,
    "request_id": STRING,
    "trace_id": STRING,
    "span_id": STRING,
    "deployment_id": STRING,
    "project_id": STRING,
    "environment": STRING,
    "branch": STRING,
    "duration_ms": pd.Float64Dtype(),
    "bytes": pd.Int64Dtype(),
    "waf_action": STRING,
    "ja4": STRING,
    "ja3": STRING,
    "origin_file": STRING,
    "origin_line": pd.Int64Dtype(),
}

DEPLOYMENT_COLUMNS: dict[str, object] = {
    "deployment_id": STRING,
    "url": STRING,
    "created": TIMESTAMP,
    "building_at": TIMESTAMP,
    "ready": TIMESTAMP,
    "state": STRING,
    "target": STRING,
    "source": STRING,
    "commit_sha": STRING,
    "commit_ref": STRING,
    "commit_message": STRING,
    "author": STRING,
}

METRIC_COLUMNS: dict[str, object] = {
    "timestamp": TIMESTAMP,
    "name": STRING,
    "labels": object,  # dict[str, str] per row
    "value": pd.Float64Dtype(),
    "unit": STRING,
    "origin_file": STRING,
}

REJECTED_COLUMNS: dict[str, object] = {
    "origin_file": STRING,
    "origin_line": pd.Int64Dtype(),
    "reason": STRING,
    "raw": STRING,
}

TABLES: dict[str, dict[str, object]] = {
    "events": EVENT_COLUMNS,
    "deployments": DEPLOYMENT_COLUMNS,
    "metrics": METRIC_COLUMNS,
    "rejected": REJECTED_COLUMNS,
}


class SchemaError(ValueError):
    """A table does not match its canonical schema."""


def empty(table: str = "events") -> pd.DataFrame:
    """An empty table with the canonical columns and dtypes."""
    columns = TABLES[table]
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


def conform(frame: pd.DataFrame | Mapping[str, object], table: str = "events",
            columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical columns, in order, cast to their dtypes.

    Missing columns are added as all-NA; extra columns are dropped; empty strings in string
    columns become NA (the spec forbids empty-string sentinels).  ``columns``: only these
    canonical columns (a reader that needs a few columns need not build the all-NA rest).
    """
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    if columns is None:
        columns = TABLES[table]
    else:
        wanted = set(columns)
        columns = {name: dtype for name, dtype in TABLES[table].items() if name in wanted}
    n = len(frame)
    out: dict[str, pd.Series] = {}
    for name, dtype in columns.items():
        if name in frame.columns:
            series = frame[name]
            if dtype is object:
                out[name] = series.astype(object)
                continue
            if isinstance(dtype, pd.DatetimeTZDtype):
                series = pd.to_datetime(series, utc=True).astype(dtype)
            else:
                series = series.astype(dtype)
            if dtype == STRING:
                series = series.mask(series == "")
            out[name] = series.reset_index(drop=True)
        else:
            out[name] = pd.Series(pd.array([None] * n, dtype=dtype) if dtype is not object
                                  else [None] * n, dtype=dtype)
    return pd.DataFrame(out)


def validate(frame: pd.DataFrame, table: str = "events") -> None:
    """Raise :class:`SchemaError` unless ``frame`` has the canonical columns and dtypes.

    Checks column names and order, dtypes, that string columns hold no empty strings and that
    ``level`` only takes the canonical values.  Tests and loaders call this; it is cheap enough
    to run on every load.
    """
    columns = TABLES[table]
    if list(frame.columns) != list(columns):
        missing = [c for c in columns if c not in frame.columns]
        extra = [c for c in frame.columns if c not in columns]
        raise SchemaError(f"{table}: columns differ (missing {missing}, extra {extra}, or order)")
    for name, dtype in columns.items():
        if dtype is object:
            continue
        if frame[name].dtype != dtype:
            raise SchemaError(f"{table}.{name}: dtype {frame[name].dtype}, expected {dtype}")
        if dtype == STRING and bool((frame[name] == "").any()):
            raise SchemaError(f"{table}.{name}: empty strings (missing values must be NA)")
    if table == "events":
        bad = set(frame["level"].dropna().unique()) - set(LEVELS)
        if bad:
            raise SchemaError(f"events.level: unexpected values {sorted(bad)}")


#: String columns that stay strings in :func:`compact`: nearly every value is distinct.
UNIQUE_STRINGS = frozenset({"request_id", "trace_id", "span_id", "message"})


def compact(frame: pd.DataFrame, keep: frozenset[str] = UNIQUE_STRINGS) -> pd.DataFrame:
    """``frame`` with its repetitive string columns as pandas categoricals.

    Why: a reduced table of 10M requests repeats a handful of routes, regions and deployment
    ids; as categoricals they take a few bytes a row instead of the string each time.  Values
    and missing values are unchanged; every analysis accepts either form.
    """
    out = frame.copy(deep=False)
    for name in out.columns:
        if name not in keep and out[name].dtype == STRING:
            out[name] = out[name].astype("category")
    return out


def most_common(values: pd.Series) -> pd.Series:
    """Counts of the non-missing values, most common first, ties in order of first appearance.

    Why not ``value_counts()``: on a categorical (see :func:`compact`) it also lists categories
    that do not occur and orders ties by category, so a reduced table and the events it came
    from could disagree on, say, the busiest routes.  This gives the same answer for string and
    categorical columns; the index holds ``STRING`` values.
    """
    codes, uniques = pd.factorize(values)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    order = np.argsort(-counts, kind="stable")
    labels = pd.Series(uniques).astype(STRING).array.take(order)
    return pd.Series(counts[order], index=pd.Index(labels, name=values.name), name="count")


def fill_missing(values: pd.Series, fallback: pd.Series | str) -> pd.Series:
    """``values.fillna(fallback)`` (a value, or a column of the same rows) that also works on a
    categorical: a categorical cannot take a value outside its categories, so the fallback
    values that are needed become categories first; only the rows to fill are looked at."""
    missing = values.isna()
    fill = fallback[missing].astype(object) if isinstance(fallback, pd.Series) else fallback
    if isinstance(values.dtype, pd.CategoricalDtype):
        needed = fill.dropna().unique() if isinstance(fill, pd.Series) else [fill]
        values = values.cat.add_categories(pd.Index(needed).difference(values.cat.categories))
    return values.fillna(fill)


def categorical_by_code(per_code: Sequence[object], codes: np.ndarray) -> pd.Categorical:
    """Row values from one value per distinct input (``per_code[c]`` for row code ``c``;
    code -1 or a ``None`` value: missing), as a categorical of strings.

    Why: columns derived from a factorized column (a user agent's class, a path's probe) take
    a byte or two a row this way, where a string column would take the string each time.
    """
    inverse, labels = pd.factorize(pd.Series(list(per_code), dtype=object))
    rows = np.where(codes >= 0, inverse[np.maximum(codes, 0)] if len(inverse) else -1, -1)
    return pd.Categorical.from_codes(rows, categories=pd.Index(labels, dtype=STRING))


def astype_keeping_categories(frame: pd.DataFrame,
                              dtypes: Mapping[str, object]) -> pd.DataFrame:
    """``frame.astype(dtypes)``, except that categorical columns stay categorical.

    Why: reduced tables keep their repetitive strings as categoricals (see
    :func:`irkit.engine.local.frame`); casting them back to strings would rebuild the memory
    the categoricals saved.
    """
    keep = {name: dtype for name, dtype in dtypes.items()
            if name in frame.columns and not isinstance(frame[name].dtype, pd.CategoricalDtype)}
    return frame.astype(keep)
