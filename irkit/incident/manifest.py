"""The run manifest and ``irkit verify``: what makes the archive tamper-evident.

``manifest.json`` lists the SHA-256 and size of every other file in the run, the run's
parameters (never secrets), package versions, times and command, and the SHA-256 of the previous
run's ``manifest.json``.  Re-hashing finds a changed byte, a deleted or an added file; the hash
chain finds a run that was removed or replaced in the middle of an incident's history.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from irkit.errors import IrkitError
from irkit.incident.ids import is_run_id

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
CHUNK = 1 << 20
#: Packages whose versions change what a run computes or renders.
VERSIONED_PACKAGES = ("irkit", "pandas", "numpy", "pyarrow", "duckdb", "plotly", "papermill",
                      "nbconvert", "nbformat", "nbclient", "ipykernel", "drain3", "ruptures")


def sha256_file(path: Path) -> str:
    """Stream a file through SHA-256 (evidence can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def run_files(run_dir: Path) -> list[str]:
    """Every file of a run (POSIX paths relative to it) except the manifest itself, sorted."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(run_dir):
        for name in filenames:
            rel = Path(dirpath, name).relative_to(run_dir).as_posix()
            if rel != MANIFEST:
                found.append(rel)
    return sorted(found)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def build_manifest(run_dir: Path, *, incident_id: str, run_id: str, params: dict[str, Any],
                   command: list[str] | None, times: dict[str, Any],
                   previous: Path | None) -> dict[str, Any]:
    """Hash every file of ``run_dir`` and describe the run.

    ``previous`` is the manifest of the incident's previous committed run (or None for the first
    run): its SHA-256 links this run into the incident's chain.
    """
    files = {}
    for rel in run_files(run_dir):
        path = run_dir / rel
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return {
        "format": FORMAT_VERSION,
        "incident_id": incident_id,
        "run_id": run_id,
        "command": list(command) if command is not None else list(sys.argv),
        "params": params,
        "times": times,
        "versions": package_versions(),
        "previous_run": previous.parent.name if previous else None,
        "previous_manifest_sha256": sha256_file(previous) if previous else None,
        "files": files,
    }


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> Path:
    path = run_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8")
    return path


@dataclass
class RunCheck:
    """What ``verify`` found in one run."""

    run_dir: Path
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra or self.problems)

    def lines(self) -> list[str]:
        """One human line per finding, each naming the file."""
        out = [f"changed: {self.run_dir / p}" for p in self.changed]
        out += [f"missing: {self.run_dir / p}" for p in self.missing]
        out += [f"extra: {self.run_dir / p}" for p in self.extra]
        out += [f"problem: {self.run_dir}: {p}" for p in self.problems]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "ok": self.ok, "changed": self.changed,
                "missing": self.missing, "extra": self.extra, "problems": self.problems}


def load_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IrkitError(f"{path}: no manifest (not a committed irkit run)") from None
    except (OSError, ValueError) as exc:
        raise IrkitError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise IrkitError(f"{path}: not an irkit manifest (no 'files' map)")
    return data


def verify_run(run_dir: Path) -> RunCheck:
    """Re-hash one run against its manifest."""
    check = RunCheck(run_dir)
    try:
        manifest = load_manifest(run_dir)
    except IrkitError as exc:
        check.problems.append(str(exc))
        return check
    if manifest.get("run_id") != run_dir.name or not is_run_id(run_dir.name):
        check.problems.append(
            f"folder name {run_dir.name!r} is not the committed run {manifest.get('run_id')!r} "
            "(an unfinished or moved run)")
    expected: dict[str, dict[str, Any]] = manifest["files"]
    present = set(run_files(run_dir))
    for rel, entry in sorted(expected.items()):
        path = run_dir / rel
        if rel not in present:
            check.missing.append(rel)
        elif path.stat().st_size != entry.get("size") or sha256_file(path) != entry.get("sha256"):
            check.changed.append(rel)
    check.extra = sorted(present - set(expected))
    return check


def verify_chain(runs: list[Path]) -> list[str]:
    """Check that each run's ``previous_manifest_sha256`` is the hash of the run before it."""
    problems = []
    previous: Path | None = None
    for run in runs:
        try:
            manifest = load_manifest(run)
        except IrkitError:
            previous = run
            continue  # reported by verify_run
        want = sha256_file(previous / MANIFEST) if previous and (previous / MANIFEST).exists() \
            else None
        got = manifest.get("previous_manifest_sha256")
        if previous is None and got is not None:
            problems.append(f"{run.name}: chain points at run {manifest.get('previous_run')!r}, "
                            "which is not in the archive (a run was removed)")
        elif previous is not None and got != want:
            problems.append(f"{run.name}: previous-manifest hash does not match run "
                            f"{previous.name} "
                            "(a run was removed, replaced or edited)")
        previous = run
    return problems


def verify_path(path: Path) -> list[RunCheck]:
    """Verify a run folder, or every run of an incident folder (with the chain between them)."""
    path = Path(path)
    if not path.is_dir():
        raise IrkitError(f"{path}: no such folder (expected a run or an incident folder)")
    if (path / MANIFEST).exists() or is_run_id(path.name) or path.name.startswith(".tmp-"):
        return [verify_run(path)]
    runs_root = path / "runs"
    if not runs_root.is_dir():
        raise IrkitError(f"{path}: neither a run (no manifest.json) nor an incident (no runs/)")
    runs = sorted(p for p in runs_root.iterdir() if p.is_dir() and is_run_id(p.name))
    if not runs:
        raise IrkitError(f"{path}: the incident has no committed runs")
    checks = [verify_run(run) for run in runs]
    by_name = {c.run_dir.name: c for c in checks}
    for problem in verify_chain(runs):
        by_name[problem.split(":", 1)[0]].problems.append(problem.split(": ", 1)[1])
    return checks
