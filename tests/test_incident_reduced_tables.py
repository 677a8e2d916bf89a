"""The engine's reduced tables kept with a run, and templates that use them instead of events.

A run writes ``tables/requests.parquet``, ``security_rows.parquet``, ``patterns.parquet`` and
``pattern_counts.parquet``; ``load_inputs`` hands them out without reading the events table.
Every number and figure the templates show from them must equal what the same call computes
from the whole events table (the templates' former input) on the demo incident.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from incident_support import demo_runs

from irkit import plots, schema
from irkit.analysis import buckets, security
from irkit.analysis import patterns as pat
from irkit.analysis.onset import find_onset
from irkit.errors import IrkitError
from irkit.incident.tables import REDUCED_TABLES, load_inputs, read_table, write_table

EVENTS = 8_000


def _ingest(out: Path, **window: str):
    from irkit.demo import generate
    from irkit.incident.ingest import ingest_evidence

    inc = generate(out / "raw", seed=3, events=EVENTS)
    ingest_evidence({"logs": list(inc.logs), "deployments": [inc.deployments],
                     "metrics": [inc.metrics], "traces": [inc.traces]},
                    out / "run", incident_id="incident-demo", severity="SEV-2", **window)
    return out / "run"


def _paths(run: Path, tables: Path | None = None) -> dict[str, str]:
    tables = tables or run / "tables"
    return {"events_path": str(tables / "events.parquet"),
            "deployments_path": str(tables / "deployments.parquet"),
            "metrics_path": str(tables / "metrics.parquet"),
            "rejected_path": str(tables / "rejected.parquet"),
            "findings_path": str(run / "findings.json")}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _ingest(tmp_path_factory.mktemp("reduced"))


def _template_views(requests: pd.DataFrame, rows: pd.DataFrame, table: pd.DataFrame,
                    series: pd.DataFrame, deployments: pd.DataFrame,
                    ips: list[str]) -> dict[str, object]:
    """What the templates compute and show, as comparable values (figures as JSON)."""
    onset = find_onset(requests)
    return {
        "onset": (onset.onset, onset.recovery, onset.method),
        **{f.__name__: f(requests, deployments, onset).to_json()
           for f in (plots.error_rate, plots.status_mix, plots.latency_bands,
                     plots.latency_heatmap)},
        "histogram": plots.duration_histogram(requests, onset).to_json(),
        "sparklines": plots.pattern_sparklines(table.head(15), series, deployments=deployments,
                                               onset=onset).to_json(),
        "pir_error_rate": plots.error_rate(requests, deployments, onset.onset).to_json(),
        "data_access": security.data_access(rows, ips),
        "auth_failures": security.auth_failures(rows),
    }


def _assert_same(left: dict[str, object], right: dict[str, object]) -> None:
    assert left.keys() == right.keys()
    for key, value in left.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, right[key], obj=key)
        else:
            assert value == right[key], key


def _strings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with categorical columns as canonical strings (values compared, not storage)."""
    return frame.astype({c: schema.STRING for c in frame.columns
                         if isinstance(frame[c].dtype, pd.CategoricalDtype)})


def _clients_with_2xx(events: pd.DataFrame) -> list[str]:
    ok = events[events["status_code"].between(200, 299).fillna(False)]
    return sorted(ok["client_ip"].dropna().unique())[:40]


@pytest.mark.xdist_group("reduced-demo")
def test_reduced_tables_are_written_with_compact_dtypes(run: Path) -> None:
    tables = run / "tables"
    for name, file in REDUCED_TABLES.items():
        assert (tables / file).is_file(), name
    reqs = read_table(tables / "requests.parquet", "requests")
    assert list(reqs.columns) == list(buckets.REQUEST_COLUMNS)
    assert reqs["timestamp"].dtype == schema.TIMESTAMP and reqs["status_code"].dtype == "Int16"
    # repetitive strings stay categorical on disk and back (request ids stay strings)
    assert isinstance(reqs["route"].dtype, pd.CategoricalDtype)
    assert reqs["request_id"].dtype == schema.STRING
    rows = read_table(tables / "security_rows.parquet", "security_rows")
    assert all(rows[c].dtype == schema.EVENT_COLUMNS[c] for c in rows.columns
               if not isinstance(rows[c].dtype, pd.CategoricalDtype))
    assert isinstance(rows["client_ip"].dtype, pd.CategoricalDtype)
    events = read_table(tables / "events.parquet", "events")
    assert len(reqs) < len(events) and len(rows) < len(events)  # reductions, not copies


@pytest.mark.xdist_group("reduced-demo")
def test_templates_numbers_equal_the_events_based_computation(run: Path) -> None:
    data = load_inputs(**_paths(run))
    ips = [s["ip"] for s in data.findings["security"]["suspicious_ips"]]
    reduced = {"requests": data.requests, "rows": data.security_rows,
               "table": data.pattern_table, "series": data.pattern_series}
    assert "events" not in data.loaded()  # nothing above read the events table
    events = data.events
    ips += _clients_with_2xx(events)  # suspicious clients got no 2xx in the demo: add some
    # requests and per-client rows: the same frames the events reduce to
    pd.testing.assert_frame_equal(_strings(reduced["requests"]), buckets.requests(events))
    pd.testing.assert_frame_equal(_strings(security.requests_table(reduced["rows"])),
                                  _strings(security.requests_table(events)))
    full_table = pat.patterns(events, deployments=data.deployments)
    pd.testing.assert_frame_equal(reduced["table"], full_table)
    error_lines = events[events["level"].isin(["error", "fatal"])]
    pd.testing.assert_frame_equal(reduced["series"], pat.pattern_series(error_lines))
    new = _template_views(reduced["requests"], reduced["rows"], reduced["table"],
                          reduced["series"], data.deployments, ips)
    old = _template_views(events, events, pat.patterns(events, deployments=data.deployments,
                                                       top=15),
                          pat.pattern_series(error_lines), data.deployments, ips)
    assert len(new["data_access"]) > 0 and len(new["auth_failures"]) > 0  # tables not empty
    # the security report's stored tables: what the functions give on the events
    suspicious = [s["ip"] for s in data.findings["security"]["suspicious_ips"]]
    pd.testing.assert_frame_equal(data.auth_failures, security.auth_failures(events),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(data.data_access, security.data_access(events, suspicious),
                                  check_dtype=False)
    assert new["onset"][0] is not None and len(reduced["table"]) > 1
    _assert_same(new, old)


@pytest.mark.xdist_group("reduced-demo")
def test_redacted_inputs_redact_the_reduced_tables(run: Path) -> None:
    plain = load_inputs(**_paths(run))
    data = load_inputs(**_paths(run), redact=True)
    raw_ips = set(plain.security_rows["client_ip"].dropna())
    shown = set(data.security_rows["client_ip"].dropna()) | set(
        data.requests["client_ip"].dropna())
    assert raw_ips and not raw_ips & shown
    assert all(ip.startswith("ip-") for ip in shown)
    text = (data.pattern_table.to_json(date_format="iso")
            + data.pattern_series.to_json(date_format="iso"))
    assert not any(ip in text for ip in raw_ips)
    # requests-based figures equal the figures of the redacted events (as before)
    ev = data.events
    for f in (plots.error_rate, plots.latency_heatmap):
        assert f(data.requests, data.deployments).to_json() == f(ev, data.deployments).to_json()
    pd.testing.assert_frame_equal(security.auth_failures(data.security_rows),
                                  security.auth_failures(ev))


@pytest.mark.xdist_group("reduced-demo")
def test_run_without_reduced_tables_falls_back_to_its_events(run: Path, tmp_path: Path) -> None:
    """A run archived before the reduced tables existed still renders, with the same values."""
    old = tmp_path / "tables"
    old.mkdir()
    for name in ("events", "deployments", "metrics", "rejected"):
        shutil.copy(run / "tables" / f"{name}.parquet", old)
    legacy = load_inputs(**_paths(run, old))
    current = load_inputs(**_paths(run))
    pd.testing.assert_frame_equal(legacy.requests, _strings(current.requests))
    pd.testing.assert_frame_equal(legacy.pattern_table, current.pattern_table)
    pd.testing.assert_frame_equal(legacy.pattern_series, current.pattern_series)
    assert "events" in legacy.loaded()
    # the fallback's request table is declared: find_onset passes it through as is
    assert buckets.requests(legacy.requests) is legacy.requests


@pytest.mark.xdist_group("reduced-demo")
def test_pattern_counts_summed_over_many_batches(run: Path, monkeypatch) -> None:
    """Labelling batch by batch (a bucket split across batches) gives the one-pass counts."""
    import duckdb

    from irkit.engine import reduce
    from irkit.incident.reduced import pattern_counts_of_view

    events_file = run / "tables" / "events.parquet"
    con = duckdb.connect()
    con.execute("CREATE VIEW ev AS SELECT *, (row_number() OVER ())::BIGINT AS _seq "
                f"FROM read_parquet('{events_file}')")
    monkeypatch.setattr(reduce, "PATTERN_BATCH_ROWS", 37)
    counts = pattern_counts_of_view(con, "ev")
    events = read_table(events_file, "events")
    expected = pat.pattern_counts(pat.label(events))
    assert not counts.duplicated(["bucket", "pattern_id"]).any()
    pd.testing.assert_frame_equal(counts.reset_index(drop=True), expected.reset_index(drop=True))
    assert counts["count"].sum() == int(events["level"].isin(["error", "fatal"]).sum())


def test_pattern_table_round_trips_breakdowns_and_examples(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "pattern_id": ["p1", "p2"], "template": ["db <*> timeout", "(no message) GET / → 500"],
        "count": [3, 1], "share": [0.75, 0.25],
        "first_seen": pd.to_datetime(["2025-01-31T10:00Z", "2025-01-31T10:01Z"]),
        "last_seen": pd.to_datetime(["2025-01-31T10:05Z", "2025-01-31T10:01Z"]),
        "levels": [{"error": 2, "fatal": 1}, {"error": 1}],
        "status_codes": [{500: 2, 503: 1}, {}], "routes": [{"/api/[id]": 3}, {"/": 1}],
        "deployments": [{"dpl_1": 3}, {}], "new_since_deployment": ["dpl_1", None],
        "examples": [["db 1 timeout", 'quote " and \\u2028'], []],
    })
    from irkit.analysis.pattern_partials import _typed

    table = _typed(table)
    path = write_table(table, tmp_path / "patterns.parquet", "patterns")
    back = read_table(path, "patterns")
    pd.testing.assert_frame_equal(back, table)
    assert list(back.loc[0, "status_codes"]) == [500, 503]  # integer keys stay integers


def test_bad_reduced_table_is_a_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "requests.parquet"
    junk.write_bytes(b"PAR1 not parquet")
    with pytest.raises(IrkitError, match=r"requests\.parquet: unreadable requests table"):
        read_table(junk, "requests")
    other = tmp_path / "other.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(other)
    with pytest.raises(IrkitError, match=r"other\.parquet: not a requests table"):
        read_table(other, "requests")
    with pytest.raises(IrkitError, match=r"nope\.parquet: no patterns table"):
        read_table(tmp_path / "nope.parquet", "patterns")


@pytest.mark.xdist_group("reduced-window")
def test_reduced_tables_cover_the_findings_window(tmp_path: Path) -> None:
    """With a window, the reduced tables are the window's (what findings.json describes)."""
    full = read_table(_ingest(tmp_path / "full") / "tables" / "events.parquet", "events")
    ts = full["timestamp"]
    start = ts.min() + (ts.max() - ts.min()) / 3
    end = ts.max() - (ts.max() - ts.min()) / 3
    run = _ingest(tmp_path / "win", window_start=start.isoformat(), window_end=end.isoformat())
    data = load_inputs(**_paths(run))
    inside = full[full["timestamp"].between(start, end)].reset_index(drop=True)
    pd.testing.assert_frame_equal(_strings(data.requests), buckets.requests(inside))
    pd.testing.assert_frame_equal(data.pattern_table,
                                  pat.patterns(inside, deployments=data.deployments))
    assert data.findings["impact"]["requests"] == len(data.requests)


@pytest.mark.xdist_group("e2e")
def test_irkit_open_lists_reduced_tables_and_templates_use_them(tmp_path_factory) -> None:
    from irkit.display import markdown

    runs = demo_runs(tmp_path_factory)
    run = Path(runs.first["run_dir"])
    manifest = json.loads((run / "manifest.json").read_text())
    for file in REDUCED_TABLES.values():
        entry = manifest["files"][f"tables/{file}"]
        assert entry["size"] == (run / "tables" / file).stat().st_size
    assert "reduced tables" in manifest["times"]["seconds"]
    # the executed investigation notebook shows the events-based onset/recovery
    events = read_table(run / "tables" / "events.parquet", "events")
    onset = find_onset(events)
    findings = json.loads((run / "findings.json").read_text())
    expected = markdown("Error onset: **{onset}** · recovery: **{recovery}** · method: {method}",
                        onset=pd.Timestamp(findings["error_onset"]), recovery=onset.recovery,
                        method=onset.method)
    nb = nbformat.read(run / "notebooks" / "investigation.ipynb", as_version=4)
    shown = json.dumps([o for c in nb.cells for o in c.get("outputs", [])])
    assert json.dumps(expected)[1:-1] in shown
    for name in ("investigation", "security_evidence", "pir"):
        source = "".join(c.source for c in nbformat.read(
            run / "notebooks" / f"{name}.ipynb", as_version=4).cells)
        assert "data.events" not in source, name
