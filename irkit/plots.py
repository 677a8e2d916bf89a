"""Plotly figures for an investigation: error rate, status mix, latency, patterns, timeline.

Every figure answers one playbook question ("review error rates", "check response times",
"check recent deployments") and follows the same rules so that reports read alike:

* **Aggregate first.**  Each function reduces the events to a per-bucket table (via
  :mod:`irkit.analysis.buckets`, the analytics team's definitions of *request*, *error* and
  *bucket*) before building traces, so a figure's JSON size depends on the number of buckets,
  routes and patterns shown, never on the number of events (≤ 1 MB for 1M events).
* **UTC on every time axis**, labelled as such; times are sent to plotly as naive UTC because
  plotly.js ignores zone offsets.
* **Deployments and onset marked** on every time axis (:func:`add_deployment_markers`,
  :func:`add_onset_marker`): a vertical line per deployment labelled with the short commit sha
  and message, a red line at the onset and a green one at recovery.
* **Log text is escaped** with :func:`irkit.safety.html_text` before it reaches a label, tick or
  hover text: plotly renders a subset of HTML in text, and log content is attacker-controlled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from irkit import schema
from irkit.analysis import buckets
from irkit.safety import html_text

#: Most buckets a time-series figure shows; coarser buckets are chosen above this.
MAX_BUCKETS = 480
#: Deployment markers drawn at most (the most recent within the figure's time range).
MAX_DEPLOY_MARKERS = 25
TIME_AXIS_TITLE = "time (UTC)"
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}

_TEMPLATE = "plotly_white"
_STATUS_COLORS = {"2xx": "#2ca02c", "3xx": "#17becf", "4xx": "#ff7f0e", "5xx": "#d62728",
                  "crashed": "#7f0000", "no status": "#9e9e9e"}
_ONSET_COLOR = "#d62728"
_RECOVERY_COLOR = "#2ca02c"
_DEPLOY_COLOR = "#6a3d9a"


# --------------------------------------------------------------------------------------------
# small shared helpers


def short_text(value: Any, limit: int = 60) -> str:
    """First line of ``value``, cut to ``limit`` characters and HTML-escaped, for labels."""
    if value is None or value is pd.NA:
        return ""
    text = str(value).strip().splitlines()[0] if str(value).strip() else ""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html_text(text)


def _naive_utc(times: Any) -> Any:
    """UTC times without zone info: plotly.js would otherwise ignore or misread the offset."""
    if isinstance(times, pd.Timestamp):
        ts = times.tz_convert("UTC") if times.tzinfo else times
        return ts.tz_localize(None)
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index


def _onset_pair(onset: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Accept a timestamp, an ISO string, or an ``Onset`` result (``.onset``/``.recovery``)."""
    if onset is None:
        return None, None
    if hasattr(onset, "onset"):
        return buckets.to_utc(onset.onset), buckets.to_utc(getattr(onset, "recovery", None))
    if isinstance(onset, Mapping):
        return buckets.to_utc(onset.get("onset")), buckets.to_utc(onset.get("recovery"))
    return buckets.to_utc(onset), None


def _choose_freq(start: pd.Timestamp, end: pd.Timestamp, freq: str | None,
                 max_buckets: int = MAX_BUCKETS) -> str:
    return freq or buckets.auto_freq(start, end, max_buckets=max_buckets)


def _base_layout(fig: go.Figure, title: str, *, ytitle: str | None = None,
                 height: int = 420, time_axis: bool = True) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        template=_TEMPLATE,
        height=height,
        margin={"l": 60, "r": 30, "t": 90, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0.99,
                "xanchor": "right"},
    )
    if time_axis:
        if _has_subplots(fig):
            fig.update_xaxes(type="date")
            fig.update_xaxes(title_text=TIME_AXIS_TITLE, row=_last_row(fig), col=1)
        else:
            fig.update_xaxes(title_text=TIME_AXIS_TITLE, type="date")
    if ytitle is not None and not _has_subplots(fig):
        fig.update_yaxes(title_text=ytitle)
    return fig


def _has_subplots(fig: go.Figure) -> bool:
    return getattr(fig, "_grid_ref", None) is not None


def _last_row(fig: go.Figure) -> int | None:
    grid = getattr(fig, "_grid_ref", None)
    return len(grid) if grid else None


def _no_data(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(text=html_text(message), showarrow=False, xref="paper", yref="paper",
                       x=0.5, y=0.5, font={"size": 14, "color": "#777"})
    return fig


def _time_range(fig_times: pd.DatetimeIndex | pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    return pd.Timestamp(fig_times.min()), pd.Timestamp(fig_times.max())


def _finish(fig: go.Figure, *, deployments: pd.DataFrame | None, onset: Any,
            start: pd.Timestamp | None, end: pd.Timestamp | None) -> go.Figure:
    if deployments is not None and len(deployments):
        add_deployment_markers(fig, deployments, start=start, end=end)
    if onset is not None:
        add_onset_marker(fig, onset)
    return fig


# --------------------------------------------------------------------------------------------
# markers


def deployment_times(deployments: pd.DataFrame) -> pd.Series:
    """When each deployment started serving: ``ready``, else ``created`` (UTC)."""
    created = pd.to_datetime(deployments["created"], utc=True)
    if "ready" in deployments.columns:
        ready = pd.to_datetime(deployments["ready"], utc=True)
        return ready.fillna(created)
    return created


def deployment_label(row: Mapping[str, Any], *, limit: int = 40) -> str:
    """``<short sha> <message first line>`` (escaped) — what a responder recognises a deploy by."""
    sha = row.get("commit_sha")
    sha = "" if sha is None or sha is pd.NA else str(sha)[:7]
    if not sha:
        did = row.get("deployment_id")
        sha = "" if did is None or did is pd.NA else str(did)[:12]
    message = short_text(row.get("commit_message"), limit)
    return (html_text(sha) + (" " + message if message else "")).strip()


def add_deployment_markers(fig: go.Figure, deployments: pd.DataFrame | None, *,
                           start: Any = None, end: Any = None,
                           max_markers: int = MAX_DEPLOY_MARKERS,
                           label_chars: int | None = None) -> go.Figure:
    """Draw a labelled vertical line per deployment within [start, end] (all rows of the figure).

    The line is at the time the deployment became ready (its traffic switch), labelled with
    the short commit sha and message; hovering the label shows id, author, ref and time.  Only
    the ``max_markers`` most recent deployments in range are drawn so that a busy project's
    history does not bury the plot.  Labels run vertically along the line and are cut to fit
    the plot height (or ``label_chars``).  Returns ``fig`` (modified in place) for chaining.
    """
    if deployments is None or len(deployments) == 0:
        return fig
    times = deployment_times(deployments)
    keep = times.notna()
    lo, hi = buckets.to_utc(start), buckets.to_utc(end)
    if lo is not None:
        keep &= times >= lo
    if hi is not None:
        keep &= times <= hi
    deps = deployments.loc[keep].assign(_t=times[keep]).sort_values("_t").tail(max_markers)
    if label_chars is None:  # ~6.5 px per character of 10 px text, inside the plot area
        margin = fig.layout.margin
        plot_height = (fig.layout.height or 450) - (margin.t or 90) - (margin.b or 50)
        label_chars = max(10, int(plot_height / 6.5) - 8)
    for record in deps.to_dict("records"):
        x = _naive_utc(record["_t"])
        fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, xref="x", yref="paper",
                      line={"color": _DEPLOY_COLOR, "width": 1, "dash": "dot"}, layer="above")
        hover = "<br>".join(part for part in (
            "deployment " + html_text(record.get("deployment_id")),
            "ready " + x.strftime("%Y-%m-%d %H:%M:%S") + " UTC",
            "commit " + html_text(record.get("commit_sha")),
            "ref " + html_text(record.get("commit_ref")),
            "author " + html_text(record.get("author")),
            short_text(record.get("commit_message"), 200),
        ) if part.strip())
        fig.add_annotation(x=x, xref="x", y=1, yref="paper",
                           text=deployment_label(record, limit=label_chars), hovertext=hover,
                           showarrow=False, textangle=-90, xanchor="right",
                           yanchor="top", font={"size": 10, "color": _DEPLOY_COLOR},
                           bgcolor="rgba(255,255,255,0.7)")
    return fig


def add_onset_marker(fig: go.Figure, onset: Any, recovery: Any = None) -> go.Figure:
    """Mark the error onset (red line) and recovery (green line), shading the span between.

    ``onset`` is a timestamp, an ISO string or the analytics ``Onset`` result (whose
    ``recovery`` is used when ``recovery`` is not given).
    """
    start, rec = _onset_pair(onset)
    if recovery is not None:
        rec = buckets.to_utc(recovery)
    if start is None:
        return fig
    x0 = _naive_utc(start)
    fig.add_shape(type="line", x0=x0, x1=x0, y0=0, y1=1, xref="x", yref="paper",
                  line={"color": _ONSET_COLOR, "width": 2, "dash": "dash"}, layer="above")
    fig.add_annotation(x=x0, xref="x", y=0, yref="paper", yanchor="bottom", xanchor="left",
                       text="onset " + x0.strftime("%H:%M:%S") + " UTC", showarrow=False,
                       font={"size": 10, "color": _ONSET_COLOR},
                       bgcolor="rgba(255,255,255,0.7)")
    if rec is not None and rec > start:
        x1 = _naive_utc(rec)
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=0, y1=1, xref="x", yref="paper",
                      fillcolor=_ONSET_COLOR, opacity=0.07, line={"width": 0}, layer="below")
        fig.add_shape(type="line", x0=x1, x1=x1, y0=0, y1=1, xref="x", yref="paper",
                      line={"color": _RECOVERY_COLOR, "width": 2, "dash": "dash"},
                      layer="above")
        fig.add_annotation(x=x1, xref="x", y=0, yref="paper", yanchor="bottom",
                           xanchor="left", text="recovery " + x1.strftime("%H:%M:%S") + " UTC",
                           showarrow=False, font={"size": 10, "color": _RECOVERY_COLOR},
                           bgcolor="rgba(255,255,255,0.7)")
    return fig


# --------------------------------------------------------------------------------------------
# error rate and status mix


def error_rate(events: pd.DataFrame, deployments: pd.DataFrame | None = None,
               onset: Any = None, *, freq: str | None = None) -> go.Figure:
    """Error rate (% of requests) over time above request and error counts, deploys marked.

    "Request" and "error" are the analytics definitions (:mod:`irkit.analysis.buckets`), so this
    figure and ``findings.json`` agree.
    """
    reqs = buckets.requests(events)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.55, 0.45])
    _base_layout(fig, "Error rate and traffic", height=480)
    fig.update_yaxes(title_text="error rate (%)", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="requests / bucket", row=2, col=1, rangemode="tozero")
    if len(reqs) == 0:
        return _no_data(fig, "no requests in the evidence")
    start, end = _time_range(reqs["timestamp"])
    freq = _choose_freq(start, end, freq)
    table = buckets.counts(reqs, freq)
    rate = (100.0 * table["errors"] / table["requests"].where(table["requests"] > 0))
    x = _naive_utc(table.index)
    fig.add_trace(go.Scatter(x=x, y=rate.round(3), name="error rate %", mode="lines",
                             line={"color": _ONSET_COLOR, "width": 2},
                             hovertemplate="%{y:.2f}%<extra>error rate</extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=table["requests"] - table["errors"], name="ok requests",
                         marker_color="#9ecae1"), row=2, col=1)
    fig.add_trace(go.Bar(x=x, y=table["errors"], name="error requests",
                         marker_color=_ONSET_COLOR), row=2, col=1)
    fig.update_layout(barmode="stack", bargap=0, hovermode="x unified",
                      title_text=f"Error rate and traffic (per {freq} bucket)")
    return _finish(fig, deployments=deployments, onset=onset, start=start, end=end)


def status_class(status: pd.Series, failed: pd.Series) -> pd.Series:
    """``2xx``…``5xx``, ``crashed`` (failed without a status) or ``no status`` per request."""
    code = status.astype("Float64")
    klass = (code // 100).astype("Int64").astype("string") + "xx"
    klass = klass.where(code.between(100, 599), other=pd.NA)
    crashed = failed.to_numpy(bool) & code.isna().to_numpy(bool)
    klass = klass.mask(crashed, "crashed").fillna("no status")
    return klass


def status_mix(events: pd.DataFrame, deployments: pd.DataFrame | None = None,
               onset: Any = None, *, freq: str | None = None) -> go.Figure:
    """Requests per bucket stacked by status class (2xx/3xx/4xx/5xx/crashed/no status)."""
    reqs = buckets.requests(events)
    fig = go.Figure()
    _base_layout(fig, "Status-code mix", ytitle="requests / bucket")
    if len(reqs) == 0:
        return _no_data(fig, "no requests in the evidence")
    start, end = _time_range(reqs["timestamp"])
    freq = _choose_freq(start, end, freq)
    index = buckets.bucket_index(start, end, freq)
    klass = status_class(reqs["status_code"], reqs["failed"])
    table = (pd.DataFrame({"bucket": buckets.floor(reqs["timestamp"], freq), "klass": klass})
             .groupby(["bucket", "klass"]).size().unstack("klass", fill_value=0))
    table.index = table.index.astype(index.dtype)
    table = table.reindex(index, fill_value=0)
    x = _naive_utc(table.index)
    for name, color in _STATUS_COLORS.items():
        if name in table.columns and table[name].any():
            fig.add_trace(go.Bar(x=x, y=table[name], name=name, marker_color=color))
    fig.update_layout(barmode="stack", bargap=0, hovermode="x unified",
                      title_text=f"Status-code mix (requests per {freq} bucket)")
    return _finish(fig, deployments=deployments, onset=onset, start=start, end=end)


# --------------------------------------------------------------------------------------------
# latency


def _durations(events: pd.DataFrame) -> pd.DataFrame:
    """Requests that have a duration (one duration per request, analytics definition)."""
    reqs = buckets.requests(events)
    return reqs[reqs["duration_ms"].notna()]


def _source_name(reqs: pd.DataFrame) -> str:
    sources = reqs["duration_source"].dropna()
    if sources.empty:
        return "unknown source"
    counts = schema.most_common(sources)
    return ", ".join(html_text(name) for name in counts.index[:3])


def latency_percentiles(reqs: pd.DataFrame, freq: str) -> pd.DataFrame:
    """p50/p95/p99 of request durations per bucket (columns ``p50 p95 p99 n``), gap-free."""
    key = buckets.floor(reqs["timestamp"], freq)
    grouped = reqs["duration_ms"].groupby(key)
    table = grouped.quantile(list(QUANTILES.values())).unstack()
    table.columns = list(QUANTILES)
    table["n"] = grouped.size()
    index = buckets.bucket_index(reqs["timestamp"].min(), reqs["timestamp"].max(), freq)
    table.index = table.index.astype(index.dtype)
    return table.reindex(index)


def latency_bands(events: pd.DataFrame, deployments: pd.DataFrame | None = None,
                  onset: Any = None, *, freq: str | None = None,
                  log_y: bool = False) -> go.Figure:
    """p50 / p95 / p99 request duration per bucket as bands; the title names the source.

    Vercel drains carry no latency field, so the durations come from whatever the evidence
    has (REPORT lines, trace spans, request logs) — the title says which, because a p95 from
    trace spans and one from REPORT lines are not the same measurement.
    """
    reqs = _durations(events)
    fig = go.Figure()
    _base_layout(fig, "Latency percentiles", ytitle="duration (ms)")
    if len(reqs) == 0:
        return _no_data(fig, "no durations in the evidence (REPORT lines, spans, request logs)")
    start, end = _time_range(reqs["timestamp"])
    freq = _choose_freq(start, end, freq)
    table = latency_percentiles(reqs, freq)
    x = _naive_utc(table.index)
    styles = {"p50": ("#1f77b4", None), "p95": ("#ff7f0e", "rgba(255,127,14,0.15)"),
              "p99": ("#d62728", "rgba(214,39,40,0.10)")}
    for name in ("p50", "p95", "p99"):
        color, fill = styles[name]
        fig.add_trace(go.Scatter(
            x=x, y=table[name].round(2), name=name, mode="lines", line={"color": color},
            fill="tonexty" if fill else None, fillcolor=fill, connectgaps=False,
            hovertemplate="%{y:.0f} ms<extra>" + name + "</extra>"))
    source = _source_name(reqs)
    fig.update_layout(hovermode="x unified",
                      title_text=f"Latency percentiles per {freq} (source: {source})")
    if log_y:
        fig.update_yaxes(type="log")
    return _finish(fig, deployments=deployments, onset=onset, start=start, end=end)


def latency_heatmap(events: pd.DataFrame, deployments: pd.DataFrame | None = None,
                    onset: Any = None, *, freq: str | None = None, top_routes: int = 15,
                    quantile: float = 0.95) -> go.Figure:
    """Route × time heatmap of a latency quantile (p95 by default) for the busiest routes.

    Shows which routes degraded and when; limited to ``top_routes`` routes by request count so
    its size stays bounded.
    """
    reqs = _durations(events)
    reqs = reqs[reqs["route"].notna()]
    label = f"p{round(quantile * 100):d}"
    fig = go.Figure()
    _base_layout(fig, f"{label} latency by route", ytitle="route", height=460)
    if len(reqs) == 0:
        return _no_data(fig, "no routed requests with durations in the evidence")
    start, end = _time_range(reqs["timestamp"])
    freq = _choose_freq(start, end, freq, max_buckets=MAX_BUCKETS // 2)
    routes = schema.most_common(reqs["route"]).index[:top_routes]
    sub = reqs[reqs["route"].isin(routes)]
    grid = (sub["duration_ms"]
            .groupby([sub["route"], buckets.floor(sub["timestamp"], freq)], observed=True)
            .quantile(quantile).unstack())
    index = buckets.bucket_index(start, end, freq)
    grid.columns = grid.columns.astype(index.dtype)
    grid = grid.reindex(index=list(routes), columns=index)
    z = grid.round(1).to_numpy(dtype=float, na_value=np.nan)
    fig.add_trace(go.Heatmap(
        x=_naive_utc(grid.columns), y=[short_text(r, 50) for r in grid.index], z=z,
        colorscale="YlOrRd", colorbar={"title": {"text": f"{label} ms"}}, hoverongaps=False,
        hovertemplate="%{y}<br>%{x}<br>" + label + " %{z:.0f} ms<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(title_text=f"{label} latency by route per {freq} "
                                 f"(top {len(routes)} routes; source: {_source_name(sub)})",
                      height=max(360, 120 + 26 * len(routes)))
    return _finish(fig, deployments=deployments, onset=onset, start=start, end=end)


def duration_histogram(events: pd.DataFrame, onset: Any = None, *,
                       bins: int = 60) -> go.Figure:
    """Distribution of request durations on a log axis; split before/after onset when given.

    Log-spaced bins because durations span 1 ms to minutes; shares (% of requests) rather than
    counts so the before and after distributions compare despite different traffic.
    """
    reqs = _durations(events)
    reqs = reqs[reqs["duration_ms"] > 0]
    fig = go.Figure()
    _base_layout(fig, "Request duration distribution", ytitle="% of requests",
                 time_axis=False)
    fig.update_xaxes(title_text="duration (ms, log scale)", type="log")
    if len(reqs) == 0:
        return _no_data(fig, "no durations in the evidence")
    values = reqs["duration_ms"].to_numpy(float)
    edges = np.logspace(np.log10(values.min()), np.log10(values.max() * 1.0001), bins + 1)
    start, _ = _onset_pair(onset)
    if start is not None:
        before = (reqs["timestamp"] < start).to_numpy(bool)
        groups = [("before onset", values[before], "#1f77b4"),
                  ("after onset", values[~before], _ONSET_COLOR)]
    else:
        groups = [("all requests", values, "#1f77b4")]
    for name, vals, color in groups:
        if len(vals) == 0:
            continue
        counts, _ = np.histogram(vals, bins=edges)
        share = 100.0 * counts / len(vals)
        fig.add_trace(go.Scatter(
            x=edges, y=np.append(share, share[-1]).round(3), name=f"{name} (n={len(vals):,})",
            mode="lines", line={"shape": "hv", "color": color}, fill="tozeroy",
            hovertemplate="≥ %{x:.1f} ms: %{y:.2f}%<extra>" + name + "</extra>"))
    fig.update_layout(title_text=f"Request duration distribution (source: {_source_name(reqs)})")
    return fig


# --------------------------------------------------------------------------------------------
# patterns and timeline


def pattern_sparklines(pattern_table: pd.DataFrame, series: pd.DataFrame, *,
                       deployments: pd.DataFrame | None = None, onset: Any = None,
                       top: int = 10) -> go.Figure:
    """One small count-over-time line per top pattern, labelled with its (escaped) template.

    ``pattern_table`` is :func:`irkit.analysis.patterns.patterns`'s output and ``series`` its
    :func:`~irkit.analysis.patterns.pattern_series` (time-bucket index, one column per
    pattern id).  Patterns new since a deployment are flagged "NEW".
    """
    table = pattern_table.head(top) if pattern_table is not None else pd.DataFrame()
    ids = [pid for pid in table.get("pattern_id", []) if pid in getattr(series, "columns", [])]
    n = max(len(ids), 1)
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.35 / n + 0.01)
    _base_layout(fig, "Top error patterns over time", height=max(320, 140 + 70 * n))
    fig.update_layout(showlegend=False, margin={"l": 20, "r": 30, "t": 90, "b": 50})
    if not ids:
        return _no_data(fig, "no error patterns")
    data = series[ids]
    data.index = pd.DatetimeIndex(data.index)
    if data.index.tz is None:
        data.index = data.index.tz_localize("UTC")
    if len(data) > MAX_BUCKETS:
        freq = buckets.auto_freq(data.index.min(), data.index.max(), max_buckets=MAX_BUCKETS)
        data = data.resample(freq).sum()
    x = _naive_utc(data.index)
    rows = table.set_index("pattern_id")
    for i, pid in enumerate(ids, start=1):
        row = rows.loc[pid]
        new_since = row.get("new_since_deployment")
        new = new_since is not None and new_since is not pd.NA and bool(new_since)
        count = row.get("count", data[pid].sum())
        label = ("NEW " if new else "") + f"{int(count):,}× " + short_text(row.get("template"), 90)
        fig.add_trace(go.Scatter(x=x, y=data[pid], mode="lines", fill="tozeroy",
                                 line={"color": _ONSET_COLOR if new else "#1f77b4", "width": 1},
                                 name=html_text(pid),
                                 hovertemplate="%{y} events<extra>" + html_text(pid)
                                 + "</extra>"), row=i, col=1)
        fig.update_yaxes(showticklabels=False, rangemode="tozero", row=i, col=1)
        yref = "y domain" if i == 1 else f"y{i} domain"
        fig.add_annotation(text=label, xref="paper", yref=yref, x=0, y=1, xanchor="left",
                           yanchor="bottom", showarrow=False, font={"size": 10})
    start, end = data.index.min(), data.index.max()
    return _finish(fig, deployments=deployments, onset=onset, start=start, end=end)


_KIND_ORDER = ("deployment", "onset", "error", "pattern", "latency", "security", "recovery",
               "rollback", "note")


def event_timeline(timeline: Sequence[Mapping[str, Any]] | pd.DataFrame, *,
                   deployments: pd.DataFrame | None = None, onset: Any = None,
                   max_entries: int = 500) -> go.Figure:
    """The incident timeline (``{time, kind, text}`` entries) as one marker row per kind.

    Hover shows each entry's (escaped) text; short timelines also print it beside the marker.
    """
    frame = pd.DataFrame(list(timeline) if not isinstance(timeline, pd.DataFrame) else timeline)
    fig = go.Figure()
    _base_layout(fig, "Incident timeline", ytitle="")
    if frame.empty or "time" not in frame.columns:
        return _no_data(fig, "no timeline entries")
    frame = frame.assign(time=pd.to_datetime(frame["time"], utc=True, format="ISO8601"))
    frame = frame.dropna(subset=["time"]).sort_values("time").head(max_entries)
    frame["kind"] = frame.get("kind", pd.Series("event", index=frame.index)).fillna("event")
    kinds = [k for k in _KIND_ORDER if k in set(frame["kind"])]
    kinds += sorted(set(frame["kind"].astype(str)) - set(kinds))
    show_text = len(frame) <= 25
    for kind in kinds:
        part = frame[frame["kind"].astype(str) == kind]
        texts = [short_text(t, 300) for t in part.get("text", [""] * len(part))]
        fig.add_trace(go.Scatter(
            x=_naive_utc(part["time"]), y=[html_text(kind)] * len(part), name=html_text(kind),
            mode="markers+text" if show_text else "markers", marker={"size": 11},
            text=[t[:40] for t in texts] if show_text else None, textposition="top right",
            textfont={"size": 9}, hovertext=texts, hoverinfo="x+text"))
    fig.update_yaxes(type="category", categoryorder="array",
                     categoryarray=[html_text(k) for k in kinds])
    fig.update_layout(height=max(280, 140 + 45 * len(kinds)))
    start, end = frame["time"].min(), frame["time"].max()
    return _finish(fig, deployments=deployments, onset=onset, start=start, end=end)


def compare_error_rates(incidents: Mapping[str, pd.DataFrame], *,
                        freq: str | None = None) -> go.Figure:
    """Error rate of several incidents overlaid on "minutes since the first event".

    Incidents happen on different days, so a shared UTC axis would put them far apart; aligning
    each on its own start shows whether they share a shape (sudden spike vs slow creep).
    """
    fig = go.Figure()
    _base_layout(fig, "Error rate by incident", ytitle="error rate (%)", time_axis=False)
    fig.update_xaxes(title_text="minutes since the incident's first event")
    tables = {name: buckets.requests(ev) for name, ev in incidents.items()}
    spans = [(t["timestamp"].min(), t["timestamp"].max()) for t in tables.values() if len(t)]
    if not spans:
        return _no_data(fig, "no requests in the evidence")
    longest = max(end - start for start, end in spans)
    freq = freq or buckets.auto_freq(pd.Timestamp(0, tz="UTC"),
                                     pd.Timestamp(0, tz="UTC") + longest)
    for name, reqs in tables.items():
        if len(reqs) == 0:
            continue
        table = buckets.counts(reqs, freq)
        rate = 100.0 * table["errors"] / table["requests"].where(table["requests"] > 0)
        minutes = (table.index - table.index[0]).total_seconds() / 60.0
        fig.add_trace(go.Scatter(x=np.round(minutes, 3), y=rate.round(3), mode="lines",
                                 name=html_text(name),
                                 hovertemplate="%{y:.2f}%<extra>" + html_text(name)
                                 + "</extra>"))
    fig.update_layout(title_text=f"Error rate by incident (per {freq} bucket)",
                      hovermode="x unified")
    return fig


def figure_bytes(fig: go.Figure) -> int:
    """Size of a figure's JSON — what a report pays for it (tests bound this)."""
    return len(fig.to_json().encode())


__all__: Iterable[str] = (
    "add_deployment_markers", "add_onset_marker", "compare_error_rates", "deployment_label",
    "deployment_times",
    "duration_histogram", "error_rate", "event_timeline", "figure_bytes", "latency_bands",
    "latency_heatmap", "latency_percentiles", "pattern_sparklines", "short_text",
    "status_class", "status_mix",
)
