"""The data half of a run: evidence copied byte for byte, loaded once, tables, findings.

Raw inputs are copied first (hashing while copying, then re-hashing the copy) so the evidence is
exactly what was collected even if the source changes later; everything downstream is computed
from the copies.  Findings are computed here, by the package, so the numbers in
``findings.json`` never depend on a notebook having run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from irkit import __version__, schema
from irkit.engine import Engine
from irkit.engine.partitions import ProgressFn
from irkit.errors import IrkitError
from irkit.incident.notes import default_author
from irkit.incident.secrets import check_no_secrets
from irkit.incident.tables import dumps, write_table

#: Evidence kinds, in the order they are copied and listed.
KINDS = ("logs", "deployments", "metrics", "traces", "notes")
CHUNK = 1 << 20


@dataclass
class IngestResult:
    """What ingesting produced (paths relative to the run folder)."""

    evidence: list[dict[str, Any]]
    counts: dict[str, int]
    findings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    #: the IPs/CIDRs to block, from the engine's per-client reduction (``reports/blocklist``)
    blocklist: pd.DataFrame | None = None
    engine: str = "local"


def check_inputs(inputs: Mapping[str, Sequence[str | os.PathLike[str]]]) -> dict[str, list[Path]]:
    """Resolve and check every input path before anything is written (one-line errors)."""
    checked: dict[str, list[Path]] = {}
    for kind, paths in inputs.items():
        if kind not in KINDS:
            raise IrkitError(f"evidence kind {kind!r}: expected one of {', '.join(KINDS)}")
        for raw in paths:
            path = Path(raw).expanduser()
            if not path.is_file():
                raise IrkitError(f"{path}: no such file ({kind} evidence)")
            if not os.access(path, os.R_OK):
                raise IrkitError(f"{path}: not readable ({kind} evidence)")
            checked.setdefault(kind, []).append(path.resolve())
    return checked


def _unique_name(folder: Path, name: str) -> Path:
    target = folder / name
    n = 2
    while target.exists():
        stem, dot, ext = name.partition(".")
        target = folder / f"{stem}-{n}{dot}{ext}"
        n += 1
    return target


def copy_file(src: Path, dest: Path) -> str:
    """Copy byte for byte, hashing what was read.

    The copy itself is hashed again by the manifest, and the runner checks the two hashes
    agree (:func:`check_copies`), so a bad copy cannot go unnoticed without a third read here.
    """
    digest = hashlib.sha256()
    with open(src, "rb") as fin, open(dest, "xb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
    return digest.hexdigest()


def check_copies(inventory: list[dict[str, Any]], manifest_files: Mapping[str, Any]) -> None:
    """Each evidence copy must hash (in the manifest) to what was read from the original."""
    for item in inventory:
        entry = manifest_files.get(item["path"]) or {}
        if entry.get("sha256") != item["sha256"]:
            raise IrkitError(f"{item['original_path']}: the evidence copy {item['path']} does "
                             "not match what was read from the original (disk error?)")


def copy_evidence(inputs: Mapping[str, Sequence[Path]], evidence_dir: Path,
                  run_dir: Path) -> list[dict[str, Any]]:
    """Copy every input into ``evidence/<kind>/`` and return the chain-of-custody inventory."""
    inventory = []
    for kind in KINDS:
        for src in inputs.get(kind, []):
            folder = evidence_dir / kind
            folder.mkdir(parents=True, exist_ok=True)
            dest = _unique_name(folder, src.name)
            stat = src.stat()
            sha = copy_file(src, dest)
            inventory.append({
                "kind": kind,
                "path": dest.relative_to(run_dir).as_posix(),
                "original_path": str(src),
                "sha256": sha,
                "size": dest.stat().st_size,
                "original_mtime": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
                "collected_at": datetime.now(UTC).isoformat(),
                "collected_by": default_author(),
            })
    return inventory


def _relative_origins(frame: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """Point ``origin_file`` at the evidence copy relative to the run (runs can be moved)."""
    if "origin_file" not in frame.columns or frame.empty:
        return frame
    col = frame["origin_file"]
    uniques = col.dropna().unique()
    lookup = {u: mapping.get(u, mapping.get(Path(u).name, u)) for u in uniques}
    if all(k == v for k, v in lookup.items()):
        return frame
    return frame.assign(origin_file=col.map(lookup).astype(col.dtype))


def window_of(events: pd.DataFrame, start: Any = None, end: Any = None) -> dict[str, Any]:
    """The investigation window: the given bounds, else the span of the events."""
    ts = events["timestamp"].dropna() if "timestamp" in events else pd.Series([], dtype=object)
    return window_bounds(ts.min() if len(ts) else None, ts.max() if len(ts) else None,
                         start, end)


def window_bounds(first: Any, last: Any, start: Any = None, end: Any = None) -> dict[str, Any]:
    """The given bounds, else the first/last event time; a reversed window is an error."""
    from irkit.analysis.buckets import to_utc

    lo = to_utc(start) if start is not None else to_utc(first)
    hi = to_utc(end) if end is not None else to_utc(last)
    if lo is not None and hi is not None and lo > hi:
        raise IrkitError(f"window: start {lo} is after end {hi}")
    return {"start": lo, "end": hi}


def _event_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """Split loadable files into event files (streamed into partitions) and the small rest.

    Routed by the detected format's kind, as ``load_report`` does; empty and unknown files go
    with the events so the partition loader reports them with the loaders' own message.
    """
    from irkit.errors import InputFormatError
    from irkit.sources import registry

    events: list[Path] = []
    other: list[Path] = []
    for path in paths:
        try:
            kind = registry.detect(path).kind
        except InputFormatError:
            kind = "events"
        (events if kind == "events" else other).append(path)
    return events, other


def ingest_evidence(inputs: Mapping[str, Sequence[str | os.PathLike[str]]], run_dir: Path, *,
                    incident_id: str, severity: str, window_start: Any = None,
                    window_end: Any = None, engine: str | Engine | None = None,
                    scheduler: str | None = None, memory_limit: str | None = None,
                    load_progress: ProgressFn | None = None) -> IngestResult:
    """Copy, load once into partitions, write the tables and ``findings.json`` into ``run_dir``.

    Events stream into ``tables/events/hour=…`` (bounded memory, see
    :mod:`irkit.engine.partitions`) on the chosen engine (``IRKIT_ENGINE`` by default: the
    embedded out-of-core one); findings are computed from the partitions by SQL reductions, so
    nothing here holds the whole events table.  ``tables/events.parquet`` — what templates
    read — is exported from the partitions by DuckDB (spilling past the memory limit).
    """
    from irkit.engine import get_engine

    timings: dict[str, float] = {}
    checked = check_inputs(inputs)
    own_engine = not isinstance(engine, Engine)
    eng = (get_engine(engine, scheduler=scheduler, memory_limit=memory_limit)
           if own_engine else engine)
    try:
        return _ingest(checked, run_dir, eng, timings, incident_id=incident_id,
                       severity=severity, window_start=window_start, window_end=window_end,
                       load_progress=load_progress)
    finally:
        if own_engine:
            eng.close()


def _ingest(checked: Mapping[str, Sequence[Path]], run_dir: Path, eng: Engine,
            timings: dict[str, float], *, incident_id: str, severity: str, window_start: Any,
            window_end: Any, load_progress: ProgressFn | None) -> IngestResult:
    from irkit.engine import local
    from irkit.incident.reduced import spool_paths, write_reduced
    from irkit.sources import LoadResult, load_report

    evidence_dir = run_dir / "evidence"
    tables_dir = run_dir / "tables"
    evidence_dir.mkdir(parents=True, exist_ok=True)
    tables_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    inventory = copy_evidence(checked, evidence_dir, run_dir)
    (evidence_dir / "evidence.json").write_text(
        dumps({"incident_id": incident_id, "files": inventory}), encoding="utf-8")
    check_no_secrets(evidence_dir)  # fail fast; the whole run is scanned again at the end
    timings["copy evidence"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    mapping: dict[str, str] = {}
    for item in inventory:
        absolute = str(run_dir / item["path"])
        mapping[absolute] = item["path"]
        mapping[Path(absolute).name] = item["path"]
    loadable = [run_dir / item["path"] for item in inventory if item["kind"] != "notes"]
    event_files, other_files = _event_files(loadable)
    parts, loads = eng.load([str(p) for p in event_files], tables_dir / "events",
                            origins={str(p): mapping[str(p)] for p in event_files},
                            progress=load_progress)
    # logs alone are a valid incident: no deployments or metrics means empty side tables
    side = load_report([str(p) for p in other_files]) if other_files else LoadResult()
    timings["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rejected_frames = [f.rejected_frame for f in loads
                       if f.rejected_frame is not None and len(f.rejected_frame)]
    rejected = (pd.concat([*rejected_frames, side.rejected], ignore_index=True)
                if rejected_frames else side.rejected)
    tables = {
        "deployments": side.deployments,
        "metrics": _relative_origins(side.metrics, mapping),
        "rejected": _relative_origins(schema.conform(rejected, "rejected"), mapping),
    }
    for name, frame in tables.items():
        write_table(frame, tables_dir / f"{name}.parquet", name)
    timings["write tables"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    con = local.connect(eng.memory_limit, temp_dir=local.spill_dir(tables_dir))
    try:
        local.events_view(con, parts)
        lo, hi = con.execute("SELECT min(timestamp), max(timestamp) FROM ev").fetchall()[0]
        window = window_bounds(lo, hi, window_start, window_end)
        extras: dict[str, Any] = {}
        findings = eng.findings(parts, con=con, incident_id=incident_id, severity=severity,
                                deployments=tables["deployments"], metrics=tables["metrics"],
                                rejected_count=len(tables["rejected"]),
                                window=(window["start"], window["end"]), extras=extras,
                                spool_to=spool_paths(tables_dir))
        timings["findings"] = time.perf_counter() - t0
        t0 = time.perf_counter()  # what the templates read instead of the events table
        write_reduced(tables_dir, extras, con=con, start=window["start"], end=window["end"])
        timings["reduced tables"] = time.perf_counter() - t0
        blocklist = extras["security_evidence"].blocklist
        extras.clear()  # the reduced frames are on disk: free them before the export's sort
        t0 = time.perf_counter()
        local.export_events(con, tables_dir / "events.parquet")
        timings["events table"] = time.perf_counter() - t0
    finally:
        con.close()
        shutil.rmtree(tables_dir / local.SPILL_DIR, ignore_errors=True)
    findings.setdefault("incident_id", incident_id)
    findings.setdefault("severity", severity)
    findings.setdefault("irkit_version", __version__)
    (run_dir / "findings.json").write_text(dumps(findings), encoding="utf-8")

    counts = {"events": parts.rows, **{name: len(frame) for name, frame in tables.items()}}
    return IngestResult(evidence=inventory, counts=counts, findings=findings, timings=timings,
                        blocklist=blocklist, engine=eng.name)
