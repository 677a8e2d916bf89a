"""Percentiles at scale: exact while a group's values are affordable, a mergeable DDSketch beyond.

Why a sketch: an exact percentile needs every value of its group at once (numpy sorts them).
Over a day of drain logs the per-request durations of one group can outgrow memory, and the
Dask engine would have to ship them all to one place.  A DDSketch (the maintained ``ddsketch``
package, Datadog's reference implementation) keeps one counter per logarithmic bucket instead,
so it is small (a few hundred buckets for 1 ms … 1 min), and two sketches of the same accuracy
merge by adding counters, so per-partition sketches combine in any order and grouping.

The bound (``relative_accuracy`` α, default :data:`RELATIVE_ACCURACY` = 0.01).  DDSketch maps a
value ``x > 0`` to bucket ``k = ceil(log_γ x)`` with ``γ = (1 + α) / (1 − α)`` and represents
every value of bucket ``k`` by ``2γ^k / (1 + γ)``, which is within ±α relative of every value in
``(γ^(k−1), γ^k]``.  ``ddsketch``'s own ``get_quantile_value(q)`` therefore returns a value
within ±α relative of the exact *lower* order statistic ``x[⌊q(n−1)⌋]`` of the sorted data —
that is what the package guarantees.  :func:`sketch_quantiles` goes one step further and
interpolates linearly between the representatives of ``x[⌊q(n−1)⌋]`` and ``x[⌈q(n−1)⌉]`` with
numpy's weights; since representatives keep the order and each is within ±α of its value, the
result is within **±α relative of numpy's exact linear-interpolated quantile** (for data of one
sign, as durations are: ``(1 − α)·exact ≤ sketch ≤ (1 + α)·exact``).  Zero (and any value closer
to zero than ``mapping.min_possible``) is counted exactly as 0, a magnitude past
``mapping.max_possible`` (≈1.8e308) as that; NaN and ±inf are not latencies and are skipped by
the sketch (the exact path drops NaN only, as numpy would see ±inf).

Exact or sketch: :func:`group_percentiles` (pandas) and :func:`sql_group_percentiles` (DuckDB)
answer "p50/p95/p99 per group" exactly for groups of at most :func:`exact_max` values (default
:data:`EXACT_MAX`, or ``IRKIT_PERCENTILE_EXACT_MAX``) and by sketch beyond; each row says which
(``exact``).  The SQL path computes the bucket keys in DuckDB (:func:`bucket_partial_sql`) so
only ``(group, sign, bucket, count)`` rows leave the database; :func:`bucket_combine_sql` sums
partials from any number of partitions or workers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

from irkit.errors import IrkitError

#: α: every sketch quantile is within ±1 % (relative) of the exact one (see the module doc).
RELATIVE_ACCURACY = 0.01
#: Groups with at most this many values get exact percentiles: 1M float64 = 8 MB per group,
#: sorted by numpy in well under a second; past it the sketch's few-KB counters win.
EXACT_MAX = 1_000_000
EXACT_MAX_ENV = "IRKIT_PERCENTILE_EXACT_MAX"
QUANTILES: Mapping[str, float] = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
_LN2 = math.log(2)


def exact_max() -> int:
    """The exact-percentile threshold in force: ``IRKIT_PERCENTILE_EXACT_MAX`` or the default."""
    raw = os.environ.get(EXACT_MAX_ENV)
    if raw is None or not raw.strip():
        return EXACT_MAX
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise IrkitError(f"{EXACT_MAX_ENV}={raw[:40]!r}: expected a non-negative integer")
    return value


@lru_cache(maxsize=8)
def mapping(alpha: float = RELATIVE_ACCURACY) -> LogarithmicMapping:
    """ddsketch's logarithmic value↔bucket mapping for ``alpha`` (shared by every path)."""
    return LogarithmicMapping(alpha)


def _multiplier(alpha: float) -> float:
    """``1 / log2(γ)`` computed exactly as ``LogarithmicMapping`` does, so keys agree bit-wise."""
    gamma_mantissa = 2 * alpha / (1 - alpha)
    return (1 / math.log1p(gamma_mantissa)) * math.log(2)


def _finite(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    return arr[np.isfinite(arr)]


def bucket_keys(values: Any, alpha: float = RELATIVE_ACCURACY) -> tuple[np.ndarray, np.ndarray]:
    """``(sign, key)`` of each finite value, vectorised, equal to ``DDSketch.add``'s choice.

    ``sign`` is 1 (positive store), −1 (negative store, keyed by ``|x|``) or 0 (the zero count);
    ``key`` is ``ceil(log2|x| · multiplier)`` — the same arithmetic as ``LogarithmicMapping.key``
    and as :func:`bucket_partial_sql`.
    """
    arr = _finite(values)
    lim = mapping(alpha).min_possible
    sign = np.where(arr > lim, 1, np.where(arr < -lim, -1, 0)).astype(np.int8)
    keys = np.zeros(arr.size, dtype=np.int64)
    nz = sign != 0
    mags = np.minimum(np.abs(arr[nz]), mapping(alpha).max_possible)
    keys[nz] = np.ceil(np.log(mags) / _LN2 * _multiplier(alpha)).astype(np.int64)
    return sign, keys


def sketch_from_counts(signs: Iterable[int], keys: Iterable[int], counts: Iterable[float],
                       alpha: float = RELATIVE_ACCURACY) -> DDSketch:
    """A ``DDSketch`` holding ``counts[i]`` values in bucket ``(signs[i], keys[i])``.

    Built through the public ``add(value, weight)`` with each bucket's representative value,
    which lands in that same bucket; the sketch's ``min``/``max``/``sum`` are therefore the
    representatives', not the data's (quantiles do not use them).
    """
    m = mapping(alpha)
    out = DDSketch(alpha)
    for sign, key, count in zip(signs, keys, counts, strict=True):
        if count <= 0:
            continue
        value = 0.0 if sign == 0 else float(sign) * m.value(int(key))
        out.add(value, float(count))
    return out


def sketch_from_values(values: Any, alpha: float = RELATIVE_ACCURACY) -> DDSketch:
    """The sketch of ``values`` (NaN/inf skipped), bucketed in numpy rather than value by value."""
    sign, keys = bucket_keys(values, alpha)
    if keys.size == 0:
        return DDSketch(alpha)
    lo = int(keys.min())
    code = (keys - lo) * 3 + (sign.astype(np.int64) + 1)
    counts = np.bincount(code)
    used = np.flatnonzero(counts)
    return sketch_from_counts(used % 3 - 1, used // 3 + lo, counts[used], alpha)


def merge(sketches: Iterable[DDSketch], alpha: float = RELATIVE_ACCURACY) -> DDSketch:
    """One sketch of everything the inputs saw (counter sums: associative and commutative)."""
    out = DDSketch(alpha)
    for s in sketches:
        out.merge(s)
    return out


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's ``_lerp`` (the form it uses for ``method='linear'``)."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def sketch_quantiles(sketch: DDSketch, qs: Sequence[float] = tuple(QUANTILES.values())
                     ) -> list[float | None]:
    """Quantiles of ``sketch`` with numpy's linear interpolation between order statistics.

    The order statistic ``i`` is read with the public ``get_quantile_value`` at rank
    ``i + ½`` (half a rank away from any bucket edge, so no rounding can pick a neighbour).
    """
    n = sketch.count
    if n <= 0:
        return [None for _ in qs]

    def order_stat(i: int) -> float:
        if n <= 1:
            return float(sketch.get_quantile_value(0.0))
        q = 1.0 if i >= n - 1 else (i + 0.5) / (n - 1)
        return float(sketch.get_quantile_value(q))

    out: list[float | None] = []
    for q in qs:
        h = (n - 1) * q
        lo = math.floor(h)
        t = h - lo
        a = order_stat(lo)
        out.append(a if t == 0 else _lerp(a, order_stat(lo + 1), t))
    return out


def quantiles(values: Any, qs: Sequence[float] = tuple(QUANTILES.values()), *,
              limit: int | None = None, alpha: float = RELATIVE_ACCURACY
              ) -> tuple[list[float | None], bool]:
    """``(quantiles, exact)`` of one group's values: numpy when ≤ ``limit`` values, else sketch.

    NaN is dropped either way.  ``limit`` defaults to :func:`exact_max`.
    """
    arr = np.asarray(values, dtype="float64")
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return [None for _ in qs], True
    if arr.size <= (exact_max() if limit is None else limit):
        return [float(v) for v in np.quantile(arr, list(qs))], True
    return sketch_quantiles(sketch_from_values(arr, alpha), qs), False


def _result_frame(rows: list[tuple[Any, int, list[float | None], bool]], names: list[str],
                  labels: Sequence[str]) -> pd.DataFrame:
    cols = {"count": [r[1] for r in rows]}
    for j, label in enumerate(labels):
        cols[label] = [r[2][j] for r in rows]
    cols["exact"] = [r[3] for r in rows]
    frame = pd.DataFrame(cols)
    frame["count"] = frame["count"].astype("int64")
    for label in labels:
        frame[label] = frame[label].astype("float64")
    keys = [r[0] for r in rows]
    if len(names) == 1:
        frame.index = pd.Index(keys, name=names[0])
    else:
        frame.index = pd.MultiIndex.from_tuples(keys, names=names)
    return frame


def group_percentiles(values: pd.Series, keys: pd.Series | list[pd.Series] | None = None, *,
                      quantiles_: Mapping[str, float] = QUANTILES, limit: int | None = None,
                      alpha: float = RELATIVE_ACCURACY) -> pd.DataFrame:
    """p50/p95/p99 of ``values`` per group of ``keys`` (one row, index ``None``, without keys).

    Columns: ``count`` (non-NaN values), one per quantile, and ``exact``: whether that row is
    numpy's exact value (``count`` ≤ ``limit``) or the sketch's (within ±α relative of it).
    """
    values = pd.Series(values, dtype="float64").dropna()
    limit = exact_max() if limit is None else limit
    labels, qs = list(quantiles_), list(quantiles_.values())
    if keys is None:
        q, exact = quantiles(values.to_numpy(), qs, limit=limit, alpha=alpha)
        return _result_frame([(None, len(values), q, exact)], ["group"], labels)
    key_list = keys if isinstance(keys, list) else [keys]
    key_list = [k.loc[values.index] for k in key_list]
    names = [str(k.name) for k in key_list]
    rows = []
    for key, group in values.groupby(key_list if len(key_list) > 1 else key_list[0],
                                     sort=True, observed=True):
        q, exact = quantiles(group.to_numpy(), qs, limit=limit, alpha=alpha)
        rows.append((key, len(group), q, exact))
    return _result_frame(rows, names, labels)


# -- DuckDB: bucket counts in SQL --------------------------------------------------------------

def _key_list(keys: Sequence[str]) -> list[str]:
    return [f'"{k}"' for k in keys] if keys else ["0"]


def bucket_partial_sql(relation: str, value: str, keys: Sequence[str] = (),
                       alpha: float = RELATIVE_ACCURACY) -> str:
    """Per group, the DDSketch bucket counts of ``value`` in ``relation``: one partial.

    Columns: the keys (or a constant ``_g`` without keys), ``sign``, ``bucket``, ``n``.  The key
    arithmetic is :func:`bucket_keys`' (``ceil(ln|x| / ln 2 · multiplier)``; the constants are
    spliced as exact float literals).  Run it on any subset of the rows; combine with
    :func:`bucket_combine_sql`.
    """
    lim = repr(mapping(alpha).min_possible)
    mult, ln2, top = repr(_multiplier(alpha)), repr(_LN2), repr(mapping(alpha).max_possible)
    cols = ", ".join(f"{k} AS {k}" if keys else "0 AS _g" for k in _key_list(keys))
    out_keys = ", ".join(_key_list(keys)) if keys else "_g"
    return f"""
    SELECT {out_keys}, sign, bucket, count(*) AS n FROM (
      SELECT {cols},
             CASE WHEN v > {lim} THEN 1 WHEN v < -{lim} THEN -1 ELSE 0 END::TINYINT AS sign,
             CASE WHEN abs(v) > {lim} THEN ceil(ln(least(abs(v), {top})) / {ln2} * {mult})::BIGINT
                  ELSE 0 END AS bucket
      FROM (SELECT *, "{value}"::DOUBLE AS v FROM {relation}) src
      WHERE v IS NOT NULL AND isfinite(v))
    GROUP BY {out_keys}, sign, bucket"""


def bucket_combine_sql(partials: str, keys: Sequence[str] = ()) -> str:
    """Sum the bucket counts of concatenated partials (any split of the rows gives the same)."""
    out_keys = ", ".join(_key_list(keys)) if keys else "_g"
    return (f"SELECT {out_keys}, sign, bucket, sum(n)::BIGINT AS n FROM {partials} "
            f"GROUP BY {out_keys}, sign, bucket")


def sketches_from_buckets(rows: Iterable[Sequence[Any]], n_keys: int = 0,
                          alpha: float = RELATIVE_ACCURACY) -> dict[Any, DDSketch]:
    """One sketch per group from combined bucket rows ``(*keys, sign, bucket, n)``.

    The dict key is the group value (a tuple for several keys; ``None`` without keys, whose
    rows carry the constant ``_g`` column instead).
    """
    grouped: dict[Any, tuple[list[int], list[int], list[float]]] = {}
    for row in rows:
        key = None if n_keys == 0 else (row[0] if n_keys == 1 else tuple(row[:n_keys]))
        signs, keys, counts = grouped.setdefault(key, ([], [], []))
        signs.append(int(row[-3]))
        keys.append(int(row[-2]))
        counts.append(float(row[-1]))
    return {k: sketch_from_counts(*v, alpha=alpha) for k, v in grouped.items()}


def sql_group_percentiles(con: Any, relation: str, value: str, keys: Sequence[str] = (), *,
                          quantiles_: Mapping[str, float] = QUANTILES, limit: int | None = None,
                          alpha: float = RELATIVE_ACCURACY) -> pd.DataFrame:
    """:func:`group_percentiles` computed in DuckDB over ``relation`` (a view, table or
    ``(SELECT …)``), so the values never come into Python.

    Pass 1 counts the buckets of every group (a few hundred rows per group come back).  Pass 2,
    only if some group has ≤ ``limit`` values, computes those groups' exact quantiles with
    DuckDB's ``quantile_cont`` (numpy's linear interpolation; equal up to float rounding in
    the last place).  Groups past ``limit`` are answered by their sketch.  Groups are sorted
    by key, NULL keys last.
    """
    limit = exact_max() if limit is None else limit
    labels, qs = list(quantiles_), list(quantiles_.values())
    sketches = sketches_from_buckets(
        con.sql(bucket_partial_sql(relation, value, keys, alpha)).fetchall(), len(keys), alpha)
    exact: dict[Any, list[float | None]] = {}
    if any(s.count <= limit for s in sketches.values()):
        exact = _sql_exact(con, relation, value, keys, qs, limit)
    rows = []
    for key in sorted(sketches, key=_sort_key):
        s = sketches[key]
        rows.append((key, int(s.count), *((exact[key], True) if key in exact
                                          else (sketch_quantiles(s, qs), False))))
    return _result_frame(rows, list(keys) or ["group"], labels)


def _sort_key(key: Any) -> tuple:
    parts = key if isinstance(key, tuple) else (key,)
    return tuple((p is None, p if p is not None else 0) for p in parts)


def _sql_exact(con: Any, relation: str, value: str, keys: Sequence[str], qs: list[float],
               limit: int) -> dict[Any, list[float | None]]:
    """Exact quantiles of the groups with ≤ ``limit`` values; the larger groups are filtered
    out before DuckDB's quantile aggregate buffers any of their values."""
    qlist = "[" + ", ".join(repr(float(q)) for q in qs) + "]"
    cols = _key_list(keys) if keys else ["_g"]
    select = ", ".join(cols) if keys else "0 AS _g"
    on = " AND ".join(f"s.{c} IS NOT DISTINCT FROM g.{c}" for c in cols)
    sql = f"""
    WITH s AS (SELECT * FROM (SELECT {select}, "{value}"::DOUBLE AS v FROM {relation})
               WHERE v IS NOT NULL AND isfinite(v)),
         g AS (SELECT {", ".join(cols)} FROM s GROUP BY ALL HAVING count(*) <= {int(limit)})
    SELECT {", ".join(f"s.{c}" for c in cols)}, quantile_cont(s.v, {qlist})
    FROM s JOIN g ON {on} GROUP BY ALL"""
    out: dict[Any, list[float | None]] = {}
    for row in con.sql(sql).fetchall():
        key = None if not keys else (row[0] if len(keys) == 1 else tuple(row[:-1]))
        out[key] = [float(x) for x in row[-1]]
    return out
