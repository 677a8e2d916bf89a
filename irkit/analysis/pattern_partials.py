"""The pattern table as mergeable partial aggregates: chunks of labelled lines in, one table out.

Why: :func:`irkit.analysis.patterns.patterns` reports, per pattern, a count, first and last
seen, the template, example messages and breakdowns by level, status, route and deployment.
Once every line carries its load-order rank (``ord``), each of those is associative:

* counts add; first/last seen are ``min``/``max``;
* "the template of the pattern's first line" is the template with the smallest ``ord``;
* "the first three distinct messages" are the three smallest-``ord`` distinct messages of the
  chunks' own first three;
* a breakdown ``{value: count}`` keeps ``value_counts``' order (count descending, ties in
  order of first appearance) from the summed counts and the smallest ``ord`` per value.

So a chunk of labelled lines (one hour partition, one batch) reduces to a
:class:`PatternPartial` whose size is bounded by the number of patterns times the distinct
breakdown values — never by the number of lines — partials combine in any order and grouping,
and :func:`table` builds the table.  ``patterns()`` on an in-memory frame is the one-chunk
case of the same code, which is why the out-of-core and Dask engines give identical tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irkit import schema

#: Example messages kept per pattern.
EXAMPLES = 3

PATTERN_COLUMNS = [
    "pattern_id", "template", "count", "share", "first_seen", "last_seen", "levels",
    "status_codes", "routes", "deployments", "new_since_deployment", "examples",
]

#: table column -> the events column it breaks the pattern's lines down by
BREAKDOWNS = {"levels": "level", "status_codes": "status_code", "routes": "route",
              "deployments": "deployment_id"}

_PATTERNS = ("pattern_id", "count", "template", "ord", "first_seen", "last_seen")
_COUNTS = ("pattern_id", "key", "count", "ord")
_EXAMPLES = ("pattern_id", "message", "ord")
_FIRSTS = ("deployment_id", "timestamp", "ord")


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


@dataclass
class PatternPartial:
    """What a chunk of labelled lines contributes to the pattern table (see the module doc).

    ``deployments`` is every deployment that had events in the chunk, selected or not: a
    pattern is "new since" a deployment only when an earlier deployment had events.
    """

    lines: int = 0
    patterns: pd.DataFrame = field(default_factory=lambda: _empty(_PATTERNS))
    breakdowns: dict[str, pd.DataFrame] = field(
        default_factory=lambda: {name: _empty(_COUNTS) for name in BREAKDOWNS})
    examples: pd.DataFrame = field(default_factory=lambda: _empty(_EXAMPLES))
    first_by_deployment: pd.DataFrame = field(default_factory=lambda: _empty(_FIRSTS))
    deployments: frozenset[str] = frozenset()

    def size(self) -> int:
        """Rows held: what bounds this object's memory (patterns, not lines)."""
        return (len(self.patterns) + sum(len(b) for b in self.breakdowns.values())
                + len(self.examples) + len(self.first_by_deployment) + len(self.deployments))


def from_lines(lines: pd.DataFrame, ords: Sequence[int] | np.ndarray,
               deployments: Iterable[object] = ()) -> PatternPartial:
    """The partial of labelled lines (:func:`irkit.analysis.patterns.label` output).

    ``ords`` ranks each line in load order (``_seq`` out of core, the row position in
    memory); ``deployments`` are the deployment ids of *all* the chunk's events.  Each line
    is a one-line partial, so this is :func:`combine`'s own reduction.
    """
    ord_col = np.asarray(ords, dtype="int64")
    ones = np.ones(len(lines), dtype="int64")
    pid, ts = lines["pattern_id"].array, lines["timestamp"].array
    rows = PatternPartial(
        lines=len(lines),
        patterns=pd.DataFrame({"pattern_id": pid, "count": ones,
                               "template": lines["template"].array, "ord": ord_col,
                               "first_seen": ts, "last_seen": ts}),
        breakdowns={name: pd.DataFrame({"pattern_id": pid, "key": lines[col].array,
                                        "count": ones, "ord": ord_col}).dropna(subset=["key"])
                    for name, col in BREAKDOWNS.items()},
        examples=pd.DataFrame({"pattern_id": pid, "message": lines["message"].array,
                               "ord": ord_col}).dropna(subset=["message"]),
        first_by_deployment=pd.DataFrame({"deployment_id": lines["deployment_id"].array,
                                          "timestamp": ts, "ord": ord_col}
                                         ).dropna(subset=["deployment_id"]),
        deployments=frozenset(str(d) for d in deployments if not pd.isna(d)),
    )
    return combine([rows])


def combine(partials: Iterable[PatternPartial]) -> PatternPartial:
    """One partial from many (any order, any grouping: every piece is associative)."""
    items = [p for p in partials]
    if not items:
        return PatternPartial()

    def cat(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frames = [f for f in frames if len(f)] or frames[:1]
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    pats = cat([p.patterns for p in items])
    if len(pats):
        pats = pats.sort_values("ord", kind="stable")
        totals = pats.groupby("pattern_id", sort=False).agg(
            count=("count", "sum"), first_seen=("first_seen", "min"),
            last_seen=("last_seen", "max"))
        # sorted by ord, the first row of a pattern holds its first line's template
        firsts = pats.drop_duplicates("pattern_id")[["pattern_id", "template", "ord"]]
        pats = firsts.join(totals, on="pattern_id").reset_index(drop=True)
    breakdowns = {name: _sum_counts(cat([p.breakdowns[name] for p in items]))
                  for name in BREAKDOWNS}
    examples = (cat([p.examples for p in items]).sort_values("ord", kind="stable")
                .drop_duplicates(["pattern_id", "message"])
                .groupby("pattern_id", sort=False).head(EXAMPLES).reset_index(drop=True))
    deps = cat([p.first_by_deployment for p in items])
    if len(deps):
        deps = (deps.groupby("deployment_id", sort=False)
                .agg(timestamp=("timestamp", "min"), ord=("ord", "min")).reset_index())
    return PatternPartial(lines=sum(p.lines for p in items), patterns=pats,
                          breakdowns=breakdowns, examples=examples, first_by_deployment=deps,
                          deployments=frozenset().union(*(p.deployments for p in items)))


def _sum_counts(frame: pd.DataFrame) -> pd.DataFrame:
    if not len(frame):
        return frame
    return (frame.groupby(["pattern_id", "key"], sort=False)
            .agg(count=("count", "sum"), ord=("ord", "min")).reset_index())


def table(partial: PatternPartial, deployments: pd.DataFrame | None = None,
          top: int | None = None) -> pd.DataFrame:
    """The pattern table (``patterns()``' columns and order) of a combined partial."""
    if partial.lines == 0 or not len(partial.patterns):
        return _typed(_empty(PATTERN_COLUMNS))
    order = _deployment_order(partial.first_by_deployment, deployments)
    rank = {d: i for i, d in enumerate(order)}
    counts = {name: _count_dicts(frame) for name, frame in partial.breakdowns.items()}
    examples: dict[str, list[str]] = {}
    for pid, msg in zip(partial.examples["pattern_id"], partial.examples["message"], strict=True):
        examples.setdefault(pid, []).append(str(msg))
    rows = []
    for r in partial.patterns.itertuples(index=False):
        deps = counts["deployments"].get(r.pattern_id, {})
        new_since = None
        if deps and order:
            first = min(deps, key=lambda d: rank.get(d, len(order)))
            first_rank = rank.get(first, len(order))
            # "new" only when an earlier deployment existed and had events without the pattern
            if first_rank > 0 and set(order[:first_rank]) & partial.deployments:
                new_since = first
        rows.append({
            "pattern_id": r.pattern_id, "template": r.template, "count": int(r.count),
            "share": int(r.count) / partial.lines, "first_seen": r.first_seen,
            "last_seen": r.last_seen,
            **{name: counts[name].get(r.pattern_id, {}) for name in BREAKDOWNS},
            "new_since_deployment": new_since, "examples": examples.get(r.pattern_id, []),
        })
    out = pd.DataFrame(rows, columns=PATTERN_COLUMNS)
    out = out.sort_values(["count", "pattern_id"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    if top is not None:
        out = out.head(top)
    return _typed(out)


def _count_dicts(frame: pd.DataFrame) -> dict[str, dict[object, int]]:
    """Per pattern, ``{value: count}`` in ``value_counts`` order (count desc, first seen)."""
    out: dict[str, dict[object, int]] = {}
    if not len(frame):
        return out
    frame = frame.sort_values(["count", "ord"], ascending=[False, True], kind="stable")
    keys = frame["key"].tolist()  # Python ints and strs, like value_counts' .item()
    for pid, key, n in zip(frame["pattern_id"], keys, frame["count"], strict=True):
        out.setdefault(pid, {})[key.item() if hasattr(key, "item") else key] = int(n)
    return out


def _deployment_order(first_seen: pd.DataFrame, deployments: pd.DataFrame | None) -> list[str]:
    """Deployment ids in the order they went live: the deployments table by ``created``, then
    deployments only the events know, by their first line (ties: load order)."""
    if deployments is not None and len(deployments) and "created" in deployments:
        ordered = deployments.sort_values("created", kind="stable")["deployment_id"].dropna()
        order = [str(d) for d in ordered]
    else:
        order = []
    if len(first_seen):
        seen = first_seen.assign(timestamp=pd.to_datetime(first_seen["timestamp"], utc=True))
        seen = seen.sort_values(["timestamp", "ord"], na_position="last", kind="stable")
        known = set(order)
        for dep in seen["deployment_id"]:
            if str(dep) not in known:
                order.append(str(dep))
                known.add(str(dep))
    return order


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    table = table.astype({"pattern_id": schema.STRING, "template": schema.STRING,
                          "count": "int64", "share": "float64",
                          "new_since_deployment": schema.STRING})
    for col in ("first_seen", "last_seen"):
        table[col] = pd.to_datetime(table[col], utc=True).astype(schema.TIMESTAMP)
    return table


__all__ = ["BREAKDOWNS", "EXAMPLES", "PATTERN_COLUMNS", "PatternPartial", "combine",
           "from_lines", "table"]
