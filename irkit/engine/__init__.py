"""Execution engines: where loading and the event-volume reductions run.

* ``local`` (default): streaming load into hour-partitioned Parquet in this process, DuckDB
  reductions over the partitions (bounded memory, spills to disk past ``memory_limit``).
* ``dask``: the same load on a ``dask.distributed`` cluster (one task per input file, writing
  the same partition layout), then the same reductions.

Selected by name, or by ``IRKIT_ENGINE`` / ``IRKIT_SCHEDULER`` / ``IRKIT_MEMORY_LIMIT``.
Both produce the same partitions and therefore the same ``findings.json``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from irkit.engine.partitions import FileLoad, Partitions, ProgressFn
from irkit.errors import IrkitError

ENGINES = ("local", "dask")


@dataclass
class Engine:
    """An engine by name; subclasses decide where :meth:`load` runs."""

    memory_limit: str | None = None
    batch_rows: int | None = None
    name: str = "local"

    def load(self, paths: Sequence[str | os.PathLike[str]], events_dir: Path, *,
             origins: Mapping[str, str] | None = None,
             progress: ProgressFn | None = None) -> tuple[Partitions, list[FileLoad]]:
        """Stream ``paths`` into partitions under ``events_dir`` and mark the load complete."""
        from irkit.engine.partitions import BATCH_ROWS, load_partitions

        return load_partitions(paths, events_dir, batch_rows=self.batch_rows or BATCH_ROWS,
                               origins=origins, progress=progress)

    def findings(self, parts: Partitions, *, incident_id: str, severity: str,
                 deployments: pd.DataFrame | None, metrics: pd.DataFrame | None,
                 rejected_count: int, window: Any = None,
                 notes: Iterable[Mapping[str, Any]] | None = None, con: Any = None,
                 extras: dict[str, Any] | None = None) -> dict[str, Any]:
        """findings.json from the partitions (DuckDB reductions + the analysis modules).

        ``con``: a DuckDB connection whose ``ev`` view is ``parts`` (reused, so the REPORT
        join is built once per run); ``extras`` receives the reduced tables (see
        :func:`irkit.engine.findings.findings_from_view`).
        """
        from irkit.engine import local
        from irkit.engine.findings import findings_from_view

        own = con is None
        if own:
            con = local.connect(self.memory_limit, temp_dir=local.spill_dir(parts.root.parent))
            local.events_view(con, parts)
        try:
            return findings_from_view(con, view="ev", incident_id=incident_id,
                                      severity=severity, deployments=deployments,
                                      metrics=metrics, rejected_count=rejected_count,
                                      window=window, notes=notes, extras=extras)
        finally:
            if own:
                con.close()

    def close(self) -> None:
        """Release cluster resources (nothing to do locally)."""


@dataclass
class Settings:
    """Engine choice after flags and environment are combined."""

    name: str = "local"
    scheduler: str | None = None
    memory_limit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def settings(name: str | None = None, scheduler: str | None = None,
             memory_limit: str | None = None) -> Settings:
    """Flags win over ``IRKIT_ENGINE`` / ``IRKIT_SCHEDULER`` / ``IRKIT_MEMORY_LIMIT``."""
    chosen = (name or os.environ.get("IRKIT_ENGINE") or "local").strip().lower()
    if chosen not in ENGINES:
        raise IrkitError(f"--engine {chosen!r}: expected one of {', '.join(ENGINES)}")
    return Settings(chosen, scheduler or os.environ.get("IRKIT_SCHEDULER") or None,
                    memory_limit or os.environ.get("IRKIT_MEMORY_LIMIT") or None)


def get_engine(name: str | None = None, *, scheduler: str | None = None,
               memory_limit: str | None = None, batch_rows: int | None = None) -> Engine:
    """The engine called ``name`` (or ``IRKIT_ENGINE``), connected and ready."""
    conf = settings(name, scheduler, memory_limit)
    if conf.memory_limit:
        from irkit.engine.local import _size

        _size(conf.memory_limit)
    if conf.name == "dask":
        from irkit.engine.dask import DaskEngine

        if not conf.scheduler:
            raise IrkitError("--engine dask needs --scheduler ADDRESS (or IRKIT_SCHEDULER)")
        return DaskEngine.connect(conf.scheduler, memory_limit=conf.memory_limit,
                                  batch_rows=batch_rows)
    return Engine(memory_limit=conf.memory_limit, batch_rows=batch_rows)


__all__ = ["ENGINES", "Engine", "get_engine", "settings"]
