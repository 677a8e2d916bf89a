"""The data half of a run: evidence copied byte for byte, loaded once, tables, findings.

Raw inputs are copied first (hashing while copying, then re-hashing the copy) so the evidence is
exactly what was collected even if the source changes later; everything downstream is computed
from the copies.  Findings are computed here, by the package, so the numbers in
``findings.json`` never depend on a notebook having run.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from irkit import __version__
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
    events: pd.DataFrame | None = None


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
    lo = pd.Timestamp(start, tz="UTC") if start is not None else (ts.min() if len(ts) else None)
    hi = pd.Timestamp(end, tz="UTC") if end is not None else (ts.max() if len(ts) else None)
    if lo is not None and hi is not None and lo > hi:
        raise IrkitError(f"window: start {lo} is after end {hi}")
    return {"start": lo, "end": hi}


def ingest_evidence(inputs: Mapping[str, Sequence[str | os.PathLike[str]]], run_dir: Path, *,
                    incident_id: str, severity: str, window_start: Any = None,
                    window_end: Any = None, engine: str | None = None) -> IngestResult:
    """Copy, load once, write the Parquet tables and ``findings.json`` into ``run_dir``."""
    from irkit.analysis.findings import compute_findings
    from irkit.sources import load_report

    timings: dict[str, float] = {}
    checked = check_inputs(inputs)
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
    loadable = [run_dir / item["path"] for item in inventory if item["kind"] != "notes"]
    kwargs: dict[str, Any] = {}
    if engine and engine != "local":
        import inspect

        if "engine" not in inspect.signature(load_report).parameters:
            raise IrkitError(f"--engine {engine}: this irkit loads with the local engine only")
        kwargs["engine"] = engine
    result = load_report([str(p) for p in loadable], **kwargs)
    timings["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    mapping: dict[str, str] = {}
    for item in inventory:
        absolute = str(run_dir / item["path"])
        mapping[absolute] = item["path"]
        mapping[Path(absolute).name] = item["path"]
    tables = {
        "events": _relative_origins(result.events, mapping),
        "deployments": result.deployments,
        "metrics": _relative_origins(result.metrics, mapping),
        "rejected": _relative_origins(result.rejected, mapping),
    }
    for name, frame in tables.items():
        write_table(frame, tables_dir / f"{name}.parquet", name)
    timings["write tables"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    window = window_of(tables["events"], window_start, window_end)
    findings = compute_findings(
        incident_id=incident_id, severity=severity, events=tables["events"],
        deployments=tables["deployments"], metrics=tables["metrics"],
        rejected_count=len(tables["rejected"]), window=(window["start"], window["end"]))
    findings.setdefault("incident_id", incident_id)
    findings.setdefault("severity", severity)
    findings.setdefault("irkit_version", __version__)
    (run_dir / "findings.json").write_text(dumps(findings), encoding="utf-8")
    timings["findings"] = time.perf_counter() - t0

    counts = {name: len(frame) for name, frame in tables.items()}
    return IngestResult(evidence=inventory, counts=counts, findings=findings, timings=timings,
                        events=tables["events"])
