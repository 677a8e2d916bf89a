"""Error patterns of an events table: the public API of the pattern engine.

``pattern_ids(messages)`` labels messages; ``patterns(events)`` is the triage table that replaces
``grep -E "ERROR|FATAL" | sort | uniq -c | sort -nr``; ``pattern_series(events)`` gives the
per-minute counts for sparklines.  The mining itself lives in :mod:`irkit.analysis.grouping`
(pandas-free, shared with the command line).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from irkit import schema
from irkit.analysis.grouping import Engine, group_messages, pattern_id_for

#: Example messages kept per pattern.
EXAMPLES = 3

PATTERN_COLUMNS = [
    "pattern_id", "template", "count", "share", "first_seen", "last_seen", "levels",
    "status_codes", "routes", "deployments", "new_since_deployment", "examples",
]


def pattern_ids(messages: Iterable[str], *, engine: Engine | None = None) -> list[str]:
    """One stable pattern id per message, in the same order.

    Missing messages (``None``/NA) are labelled as the empty message.
    """
    msgs = ["" if m is None or m is pd.NA else str(m) for m in messages]
    return group_messages(msgs, engine=engine).ids()


def _select(events: pd.DataFrame, levels: Iterable[str] | None) -> pd.DataFrame:
    if levels is None:
        return events
    wanted = {str(lv).lower() for lv in levels}
    return events[events["level"].isin(wanted).fillna(False).astype(bool)]


def label(events: pd.DataFrame, *, levels: Iterable[str] | None = schema.ERROR_LEVELS,
          engine: Engine | None = None) -> pd.DataFrame:
    """The selected events with two added columns, ``pattern_id`` and ``template``."""
    chosen = _select(events, levels)
    has_text = chosen["message"].notna().to_numpy(dtype=bool)
    grouping = group_messages(chosen["message"][has_text].astype(str).tolist(), engine=engine)
    ids = pd.Series(pd.NA, index=chosen.index, dtype=schema.STRING)
    templates = ids.copy()
    ids[has_text] = grouping.ids()
    templates[has_text] = grouping.per_line_templates()
    # A failed request often has no log text (an edge 500, a crash): name it by what is known
    # of it instead of lumping every such row into one empty pattern.
    silent = templates[~has_text].index
    if len(silent):
        described = _describe_silent(chosen.loc[silent])
        templates[silent] = described
        ids[silent] = [pattern_id_for(t, "silent") for t in described]
    out = chosen.copy()
    out["pattern_id"] = ids
    out["template"] = templates
    return out


def _describe_silent(rows: pd.DataFrame) -> list[str]:
    """``(no message) GET /api/orders/[orderId] → 500`` for rows without a message."""
    status = rows["status_code"].astype("string").fillna("?")
    status = status.mask(rows["crashed"].fillna(False).astype(bool), "crashed")
    method = rows["method"].fillna("")
    route = rows["route"].fillna(rows["path"]).fillna("")
    return [" ".join(f"(no message) {m} {r}".split()) + f" → {s}"
            for m, r, s in zip(method, route, status, strict=True)]


def _counts(series: pd.Series) -> dict:
    vc = series.dropna().value_counts()
    return {(k.item() if hasattr(k, "item") else k): int(v) for k, v in vc.items()}


def _deployment_order(labelled: pd.DataFrame, deployments: pd.DataFrame | None) -> list[str]:
    """Deployment ids in the order they went live."""
    if deployments is not None and len(deployments) and "created" in deployments:
        ordered = deployments.sort_values("created", kind="stable")["deployment_id"].dropna()
        order = [str(d) for d in ordered]
    else:
        order = []
    seen_in_events = (labelled.dropna(subset=["deployment_id"])
                      .groupby("deployment_id", sort=False)["timestamp"].min()
                      .sort_values(kind="stable"))
    for dep in seen_in_events.index:
        if str(dep) not in order:
            order.append(str(dep))
    return order


def patterns(
    events: pd.DataFrame,
    *,
    deployments: pd.DataFrame | None = None,
    top: int | None = None,
    levels: Iterable[str] | None = schema.ERROR_LEVELS,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """One row per pattern of the selected events (ERROR/FATAL by default), most frequent first.

    ``new_since_deployment`` names the deployment during whose life the pattern first appeared
    when no earlier deployment's events carried it: the "what did this deploy break" question.
    Pass ``levels=None`` to group every event.
    """
    labelled = label(events, levels=levels, engine=engine)
    if labelled.empty:
        return _empty_table()
    total = len(labelled)
    order = _deployment_order(labelled, deployments)
    rank = {d: i for i, d in enumerate(order)}
    rows = []
    for pid, grp in labelled.groupby("pattern_id", sort=False):
        deps = _counts(grp["deployment_id"])
        new_since = None
        if deps and order:
            first = min(deps, key=lambda d: rank.get(d, len(order)))
            first_rank = rank.get(first, len(order))
            # "new" only when an earlier deployment existed and had events without the pattern
            earlier = set(order[:first_rank])
            had_events = set(labelled["deployment_id"].dropna().unique()) | set(
                events["deployment_id"].dropna().unique())
            if first_rank > 0 and earlier & had_events:
                new_since = first
        examples = list(dict.fromkeys(grp["message"].dropna().astype(str)))[:EXAMPLES]
        rows.append({
            "pattern_id": pid,
            "template": grp["template"].iloc[0],
            "count": len(grp),
            "share": len(grp) / total,
            "first_seen": grp["timestamp"].min(),
            "last_seen": grp["timestamp"].max(),
            "levels": _counts(grp["level"]),
            "status_codes": _counts(grp["status_code"]),
            "routes": _counts(grp["route"]),
            "deployments": deps,
            "new_since_deployment": new_since,
            "examples": examples,
        })
    table = pd.DataFrame(rows, columns=PATTERN_COLUMNS)
    table = table.sort_values(["count", "pattern_id"], ascending=[False, True], kind="stable")
    table = table.reset_index(drop=True)
    if top is not None:
        table = table.head(top)
    return _typed(table)


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    table = table.astype({"pattern_id": schema.STRING, "template": schema.STRING,
                          "count": "int64", "share": "float64",
                          "new_since_deployment": schema.STRING})
    for col in ("first_seen", "last_seen"):
        table[col] = pd.to_datetime(table[col], utc=True).astype(schema.TIMESTAMP)
    return table


def _empty_table() -> pd.DataFrame:
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in PATTERN_COLUMNS})
    return _typed(empty)


def pattern_series(
    events: pd.DataFrame,
    freq: str = "1min",
    *,
    levels: Iterable[str] | None = schema.ERROR_LEVELS,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Counts per time bucket (index, UTC) and pattern (one column per pattern id)."""
    labelled = label(events, levels=levels, engine=engine)
    labelled = labelled.dropna(subset=["timestamp"])
    if labelled.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="timestamp"))
    bucket = labelled["timestamp"].dt.floor(freq)
    table = (labelled.assign(bucket=bucket)
             .groupby(["bucket", "pattern_id"]).size()
             .unstack("pattern_id", fill_value=0))
    full = pd.date_range(table.index.min(), table.index.max(), freq=freq, name="timestamp")
    table = table.reindex(full, fill_value=0)
    table.columns = [str(c) for c in table.columns]
    # most frequent pattern first, like patterns()
    order = table.sum().sort_values(ascending=False, kind="stable").index
    return table[list(order)].astype("int64")
