"""The evidence archive: where incidents and their runs live on disk.

Layout (SPEC "Archive")::

    <archive>/<incident_id>/
        state.json            severity, opened_at, status (mutable, outside runs)
        notes.jsonl           the scribe's timeline (append-only)
        runs/<run_id>/        one folder per ``irkit open``, never overwritten
            evidence/         raw inputs, byte for byte, + evidence.json (chain of custody)
            tables/           events / deployments / metrics / rejected .parquet
            notebooks/        executed templates
            reports/          HTML reports + pir.md
            findings.json  manifest.json

A run is assembled under ``runs/.tmp-<run_id>`` and renamed into place only when complete, so a
crash leaves a dot-folder that :func:`list_runs` and ``irkit verify`` never treat as a run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irkit.errors import IrkitError
from irkit.incident.ids import is_run_id, new_run_id, validate_incident_id

ENV_ARCHIVE = "IRKIT_ARCHIVE"
DEFAULT_ARCHIVE = "incidents"
RUN_SUBDIRS = ("evidence", "tables", "notebooks", "reports")
TMP_PREFIX = ".tmp-"


def archive_root(archive: str | os.PathLike[str] | None = None) -> Path:
    """The archive folder: ``--archive``, else ``$IRKIT_ARCHIVE``, else ``./incidents``."""
    chosen = archive or os.environ.get(ENV_ARCHIVE) or DEFAULT_ARCHIVE
    root = Path(chosen).expanduser()
    if root.exists() and not root.is_dir():
        raise IrkitError(f"archive {root}: exists and is not a folder")
    return root.resolve()


def incident_dir(root: Path, incident_id: str) -> Path:
    """The folder of ``incident_id`` inside ``root``; the id is validated so it cannot escape."""
    validate_incident_id(incident_id)
    path = (root / incident_id).resolve()
    if path.parent != root.resolve():
        raise IrkitError(f"incident id {incident_id!r}: resolves outside the archive {root}")
    return path


def runs_dir(root: Path, incident_id: str) -> Path:
    return incident_dir(root, incident_id) / "runs"


def list_runs(root: Path, incident_id: str) -> list[Path]:
    """The committed runs of an incident, oldest first (temporary/crashed folders excluded)."""
    folder = runs_dir(root, incident_id)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and is_run_id(p.name))


def latest_run(incident_id: str, archive: str | os.PathLike[str] | None = None) -> Path:
    """The newest committed run of ``incident_id`` (used by ``irkit lab`` and ``irkit status``)."""
    root = archive_root(archive)
    runs = list_runs(root, incident_id)
    if not runs:
        raise IrkitError(f"incident {incident_id}: no runs in {root} (run `irkit open` first)")
    return runs[-1]


@dataclass
class PendingRun:
    """A run being assembled under a temporary name; :meth:`commit` makes it visible."""

    root: Path
    incident_id: str
    run_id: str
    path: Path

    @property
    def final_path(self) -> Path:
        return self.path.parent / self.run_id

    def commit(self) -> Path:
        """Rename the finished run into place (atomic on one filesystem) and return its path."""
        final = self.final_path
        if final.exists():  # run ids carry random bits: this is a bug, never overwrite
            raise IrkitError(f"run folder {final} already exists; refusing to overwrite it")
        os.rename(self.path, final)
        _fsync_dir(final.parent)
        self.path = final
        return final

    def discard(self) -> None:
        """Remove the temporary folder (after a failure that must not leave a run behind)."""
        if self.path.name.startswith(TMP_PREFIX) and self.path.exists():
            make_writable(self.path)
            shutil.rmtree(self.path, ignore_errors=True)


def start_run(root: Path, incident_id: str) -> PendingRun:
    """Create ``runs/.tmp-<run_id>/`` with the standard sub-folders."""
    folder = runs_dir(root, incident_id)
    folder.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    path = folder / f"{TMP_PREFIX}{run_id}"
    path.mkdir()
    for sub in RUN_SUBDIRS:
        (path / sub).mkdir()
    return PendingRun(root=root, incident_id=incident_id, run_id=run_id, path=path)


@contextmanager
def incident_lock(root: Path, incident_id: str) -> Iterator[None]:
    """Serialise the commit step of concurrent runs so the manifest chain stays linear."""
    folder = incident_dir(root, incident_id)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def make_read_only(path: Path) -> None:
    """Archived files become 0444 and folders 0555: evidence is not edited in place."""
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o555)
    os.chmod(path, 0o555)


def make_writable(path: Path) -> None:
    """Undo :func:`make_read_only` (tests, and discarding a failed temporary run)."""
    os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames:
            p = os.path.join(dirpath, name)
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
        for name in filenames:
            p = os.path.join(dirpath, name)
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file + rename so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# --- incident state (outside runs: it changes as the incident evolves) -----------------------

def state_path(root: Path, incident_id: str) -> Path:
    return incident_dir(root, incident_id) / "state.json"


def read_state(root: Path, incident_id: str) -> dict[str, Any]:
    """The incident's state (``{}`` before the first ``open``/``note``)."""
    path = state_path(root, incident_id)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IrkitError(f"{path}: unreadable incident state ({exc})") from None


def update_state(root: Path, incident_id: str, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into the state file (creating the incident folder if needed)."""
    with incident_lock(root, incident_id):
        state = read_state(root, incident_id)
        if not state:
            state = {"incident_id": incident_id,
                     "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        state.update({k: v for k, v in changes.items() if v is not None})
        write_json_atomic(state_path(root, incident_id), state)
    return state
