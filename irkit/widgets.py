"""``irkit.explore(events)``: an ipywidgets explorer over an events table.

Controls for time range, level, route, status class, deployment and region filter the events;
every change recomputes the pattern table (:func:`irkit.analysis.patterns.patterns`) and the
error-rate and latency figures (:mod:`irkit.plots`) on the filtered rows.  The filtering and
recomputation live in :class:`Explorer` itself, not in widget callbacks, so the same object can
be driven from Python (tests, scripts) by setting control values.

Widgets need a live frontend: in a notebook executed by papermill/nbclient, or outside
IPython, nothing would ever render them (and ipywidgets state in exported HTML needs a CDN), so
the explorer degrades to static output there — the same table and figures, rendered with
:mod:`irkit.display` — see :func:`irkit.display.is_static_context`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from irkit import display, plots, schema
from irkit.analysis import buckets
from irkit.display import is_static_context

ALL = "(all)"
#: Options shown in a dropdown at most (the busiest values).
MAX_OPTIONS = 60
#: Time-range slider resolution (number of steps).
SLIDER_STEPS = 120
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "crashed", "no status")


def _options(series: pd.Series, *, label: Any = None) -> list[tuple[str, Any]]:
    """Dropdown options: ``(all)`` then the busiest values (label text cut, value kept raw)."""
    counts = series.dropna().astype(str).value_counts().head(MAX_OPTIONS)
    out: list[tuple[str, Any]] = [(ALL, ALL)]
    for value, n in counts.items():
        name = label(value) if label is not None else value
        name = name if len(name) <= 60 else name[:59] + "…"
        out.append((f"{name} ({n:,})", value))
    return out


class Explorer:
    """Filter controls bound to a pattern table and figures over one events table.

    Attributes worth driving from code: ``controls`` (name → widget: ``time``, ``level``,
    ``route``, ``status``, ``deployment``, ``region``), ``filtered`` (the rows the controls
    select), ``pattern_table`` and ``figures`` (recomputed by :meth:`update` on every control
    change), ``widget`` (the ipywidgets box to display in a live notebook).
    """

    def __init__(self, events: pd.DataFrame, deployments: pd.DataFrame | None = None, *,
                 static: bool | None = None, top_patterns: int = 15) -> None:
        import ipywidgets as w

        self.events = events
        self.deployments = deployments
        self.static = is_static_context() if static is None else static
        self.top_patterns = top_patterns
        self.pattern_table: pd.DataFrame = pd.DataFrame()
        self.figures: dict[str, Any] = {}
        self.filtered: pd.DataFrame = events
        self._edges = self._time_edges(events)
        self._status_cache: pd.DataFrame | None = None

        level_options = [lv for lv in schema.LEVELS if lv in set(events["level"].dropna())]
        labels = self._deployment_labels()
        self.controls: dict[str, Any] = {
            "time": w.SelectionRangeSlider(
                options=[(self._edge_label(t), t) for t in self._edges],
                index=(0, len(self._edges) - 1), description="time (UTC)",
                continuous_update=False, layout=w.Layout(width="98%")),
            "level": w.SelectMultiple(options=level_options, value=tuple(level_options),
                                      description="level", rows=min(5, len(level_options) or 1)),
            "route": w.Dropdown(options=_options(events["route"]), value=ALL,
                                description="route"),
            "status": w.Dropdown(options=[ALL, *STATUS_CLASSES], value=ALL,
                                 description="status"),
            "deployment": w.Dropdown(options=_options(events["deployment_id"],
                                                      label=lambda d: labels.get(d, d)),
                                     value=ALL, description="deployment"),
            "region": w.Dropdown(options=_options(events["region"]), value=ALL,
                                 description="region"),
        }
        self._summary = w.HTML()
        self._table = w.HTML()
        self._plots = w.Output()
        self.widget = w.VBox([
            self.controls["time"],
            w.HBox([self.controls["level"],
                    w.VBox([self.controls["route"], self.controls["status"]]),
                    w.VBox([self.controls["deployment"], self.controls["region"]])]),
            self._summary, self._table, self._plots,
        ])
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.update()

    # -- filtering ---------------------------------------------------------------------------

    @staticmethod
    def _time_edges(events: pd.DataFrame) -> list[pd.Timestamp]:
        times = events["timestamp"].dropna()
        if times.empty:
            now = pd.Timestamp.now(tz="UTC").floor("1min")
            return [now, now + pd.Timedelta("1min")]
        start, end = times.min(), times.max()
        freq = buckets.auto_freq(start, end, max_buckets=SLIDER_STEPS)
        edges = pd.date_range(start.floor(freq), end.floor(freq) + pd.Timedelta(freq),
                              freq=freq)
        return list(edges)

    @staticmethod
    def _edge_label(ts: pd.Timestamp) -> str:
        return ts.strftime("%m-%d %H:%M")

    def _deployment_labels(self) -> dict[str, str]:
        if self.deployments is None or len(self.deployments) == 0:
            return {}
        return {str(r["deployment_id"]): (str(r["deployment_id"])[:14] + " "
                                           + plots.deployment_label(r))
                for r in self.deployments.to_dict("records")}

    def _request_classes(self) -> pd.DataFrame:
        """Status class per request id (computed once: filtering by class keeps whole requests)."""
        if self._status_cache is None:
            reqs = buckets.requests(self.events)
            self._status_cache = pd.DataFrame({
                "request_id": reqs["request_id"],
                "klass": plots.status_class(reqs["status_code"], reqs["failed"]),
            }).dropna(subset=["request_id"])
        return self._status_cache

    def _status_mask(self, events: pd.DataFrame, klass: str) -> pd.Series:
        """Rows of requests in status class ``klass``, plus id-less rows whose own status is."""
        classes = self._request_classes()
        ids = classes.loc[classes["klass"] == klass, "request_id"]
        in_request = events["request_id"].isin(ids).fillna(False)
        loose = events["request_id"].isna()
        own = plots.status_class(events["status_code"], events["crashed"].fillna(False))
        return in_request | (loose & (own == klass))

    def filter(self) -> pd.DataFrame:
        """The rows the current control values select (does not update the outputs)."""
        ev = self.events
        c = self.controls
        lo, hi = c["time"].value
        mask = (ev["timestamp"] >= lo) & (ev["timestamp"] < hi)
        levels = tuple(c["level"].value)
        if set(levels) != set(c["level"].options):
            mask &= ev["level"].isin(list(levels)).fillna(False)
        for name, column in (("route", "route"), ("deployment", "deployment_id"),
                             ("region", "region")):
            value = c[name].value
            if value != ALL:
                mask &= (ev[column] == value).fillna(False)
        if c["status"].value != ALL:
            mask &= self._status_mask(ev, c["status"].value)
        return ev[mask.to_numpy(bool)]

    # -- outputs -----------------------------------------------------------------------------

    def _on_change(self, _change: dict[str, Any]) -> None:
        self.update()

    def update(self) -> None:
        """Re-filter and recompute the pattern table and figures; redraw when live."""
        from irkit.analysis.patterns import patterns

        self.filtered = self.filter()
        self.pattern_table = patterns(self.filtered, deployments=self.deployments,
                                      top=self.top_patterns)
        self.figures = {
            "error_rate": plots.error_rate(self.filtered, self.deployments),
            "latency": plots.latency_bands(self.filtered, self.deployments),
        }
        self._summary.value = self.summary_html()
        self._table.value = display.table_html(
            self.pattern_table, columns=self._table_columns(), caption="Error patterns",
            max_rows=self.top_patterns)
        if not self.static:
            self._plots.clear_output(wait=True)
            with self._plots:
                for fig in self.figures.values():
                    fig.show(renderer="plotly_mimetype")

    def _table_columns(self) -> list[str]:
        wanted = ("pattern_id", "count", "share", "template", "first_seen", "last_seen",
                  "new_since_deployment")
        return [c for c in wanted if c in self.pattern_table.columns]

    def summary_html(self) -> str:
        """One escaped line: rows selected, error rows, time span."""
        ev = self.filtered
        errors = int(ev["level"].isin(list(schema.ERROR_LEVELS)).fillna(False).sum())
        lo, hi = self.controls["time"].value
        return (f"<b>{len(ev):,}</b> of {len(self.events):,} events selected, "
                f"<b>{errors:,}</b> at error/fatal level, "
                f"{display.format_value(lo)} – {display.format_value(hi)}")

    def show_static(self) -> None:
        """Print the current selection as static output (summary, pattern table, figures)."""
        from IPython.display import HTML
        from IPython.display import display as ipy_display

        ipy_display(HTML(self.summary_html()))
        ipy_display(HTML(self._table.value))
        for fig in self.figures.values():
            display.show_figure(fig)

    def _ipython_display_(self) -> None:
        if self.static:
            self.show_static()
        else:
            from IPython.display import display as ipy_display

            ipy_display(self.widget)

    def set(self, **values: Any) -> Explorer:
        """Set several controls at once (one recomputation), e.g. ``set(status="5xx")``."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown explorer controls: {sorted(unknown)}")
        for name, control in self.controls.items():
            if name in values:
                control.unobserve(self._on_change, names="value")
                try:
                    control.value = _coerce(control, values[name])
                finally:
                    control.observe(self._on_change, names="value")
        self.update()
        return self


def _coerce(control: Any, value: Any) -> Any:
    """Accept plain Python values for the multi-value controls (a level list, a time pair)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        value = tuple(value)
        if control.__class__.__name__ == "SelectionRangeSlider":
            options = [opt[1] if isinstance(opt, tuple) else opt for opt in control.options]
            lo, hi = (buckets.to_utc(v) for v in value)
            lo_opt = max((o for o in options if o <= lo), default=options[0])
            hi_opt = min((o for o in options if o >= hi), default=options[-1])
            return (lo_opt, hi_opt)
    return value


def explore(events: pd.DataFrame, deployments: pd.DataFrame | None = None, *,
            static: bool | None = None, top_patterns: int = 15) -> Explorer:
    """Build an :class:`Explorer` over ``events`` (display it, or drive it with ``.set``).

    ``static=None`` detects the context (:func:`is_static_context`): live widgets in JupyterLab,
    static table and figures under papermill or outside a notebook.
    """
    return Explorer(events, deployments, static=static, top_patterns=top_patterns)
