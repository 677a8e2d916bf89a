"""Error patterns of an events table: the public API of the pattern engine.

``pattern_ids(messages)`` labels messages; ``patterns(events)`` is the triage table that replaces
``grep -E "ERROR|FATAL" | sort | uniq -c | sort -nr``; ``pattern_series(events)`` gives the
per-minute counts for sparklines (``pattern_counts`` + ``series_from_counts``: the same counts
from labelled lines chunk by chunk).  The mining itself lives in :mod:`irkit.analysis.grouping`
(pandas-free, shared with the command line).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from irkit import schema
from irkit.analysis import pattern_partials
from irkit.analysis.grouping import Engine, StreamingGrouper, group_messages, pattern_id_for
from irkit.analysis.pattern_partials import EXAMPLES, PATTERN_COLUMNS

__all__ = ["EXAMPLES", "PATTERN_COLUMNS", "label", "pattern_counts", "pattern_ids",
           "pattern_series", "patterns", "series_from_counts"]


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
          engine: Engine | None = None, grouper: StreamingGrouper | None = None
          ) -> pd.DataFrame:
    """The selected events with two added columns, ``pattern_id`` and ``template``.

    ``grouper``: a fitted :class:`StreamingGrouper` labels the messages by lookup (one chunk
    of a larger stream: the engines); without it they are mined here, all at once.
    """
    chosen = _select(events, levels)
    has_text = chosen["message"].notna().to_numpy(dtype=bool)
    messages = chosen["message"][has_text].astype(str).tolist()
    grouping = (grouper.assign(messages) if grouper is not None
                else group_messages(messages, engine=engine))
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
        pids = {t: pattern_id_for(t, "silent") for t in set(described)}
        ids[silent] = [pids[t] for t in described]
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
            for m, r, s in zip(method.tolist(), route.tolist(), status.tolist(), strict=True)]


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
    seen = events["deployment_id"].dropna().unique()
    partial = pattern_partials.from_lines(labelled, np.arange(len(labelled)), seen)
    return pattern_partials.table(partial, deployments, top)


def pattern_series(
    events: pd.DataFrame,
    freq: str = "1min",
    *,
    levels: Iterable[str] | None = schema.ERROR_LEVELS,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Counts per time bucket (index, UTC) and pattern (one column per pattern id)."""
    labelled = label(events, levels=levels, engine=engine)
    return series_from_counts(pattern_counts(labelled, freq), freq)


def pattern_counts(labelled: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """Lines per ``(bucket, pattern_id)`` of labelled lines (:func:`label` output), long form.

    Why long form: counts of several chunks of lines add up row-wise (concatenate and sum per
    key), so a caller that labels the lines batch by batch keeps only these rows — bounded by
    patterns × buckets, never by lines — and :func:`series_from_counts` gives the same series
    as labelling every line at once.  Columns ``bucket`` (UTC), ``pattern_id``, ``count``.
    """
    timed = labelled.dropna(subset=["timestamp"])
    counts = (pd.DataFrame({"bucket": timed["timestamp"].dt.floor(freq),
                            "pattern_id": timed["pattern_id"]})
              .groupby(["bucket", "pattern_id"]).size().rename("count").reset_index())
    return counts.astype({"pattern_id": schema.STRING, "count": "int64"})


def series_from_counts(counts: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """:func:`pattern_series`' table from :func:`pattern_counts` rows (of one or many chunks)."""
    if counts.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="timestamp"))
    summed = counts.groupby(["bucket", "pattern_id"])["count"].sum()
    table = summed.unstack("pattern_id", fill_value=0)
    full = pd.date_range(table.index.min(), table.index.max(), freq=freq, name="timestamp")
    table = table.reindex(full, fill_value=0)
    table.columns = [str(c) for c in table.columns]
    # most frequent pattern first, like patterns()
    order = table.sum().sort_values(ascending=False, kind="stable").index
    return table[list(order)].astype("int64")
