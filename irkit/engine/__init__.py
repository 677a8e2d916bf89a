"""Execution engines: where loading and the event-volume reductions run.

* ``local`` (default): streaming load into hour-partitioned Parquet in this process, DuckDB
  reductions over the partitions (bounded memory, spills to disk past ``memory_limit``).
* ``dask``: the same load on a ``dask.distributed`` cluster (one task per input file, writing
  the same partition layout), then the same reductions.

Selected by name, or by ``IRKIT_ENGINE`` / ``IRKIT_SCHEDULER`` / ``IRKIT_MEMORY_LIMIT``.
Both produce the same partitions and therefore the same ``findings.json``.

Where the partitions live: by default the folder the caller names (``irkit open``: the run's
``tables/events/``); with ``partitions`` (``--partitions`` / ``IRKIT_PARTITIONS``, a local
path or an fsspec URL such as ``s3://bucket/prefix``) under ``<partitions>/<run_key>/events``,
so that workers without the caller's disk can write and read them.
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
    #: shared storage for the partitions (path or URL); None: the folder ``load`` is given
    partitions: str | None = None
    #: this run's sub-folder of ``partitions`` (``irkit open``: ``<incident>/<run id>``)
    run_key: str = ""

    def partitions_location(self) -> str | None:
        """Where this run's partitions go under ``partitions`` (None without it)."""
        if not self.partitions:
            return None
        keys = [k for k in self.run_key.split("/") if k]
        return "/".join([self.partitions.rstrip("/"), *keys, "events"])

    def events_location(self, events_dir: str | os.PathLike[str]) -> str | os.PathLike[str]:
        """The folder :meth:`load` writes: :meth:`partitions_location`, else ``events_dir``."""
        return self.partitions_location() or events_dir

    def load(self, paths: Sequence[str | os.PathLike[str]], events_dir: str | os.PathLike[str],
             *, origins: Mapping[str, str] | None = None,
             progress: ProgressFn | None = None) -> tuple[Partitions, list[FileLoad]]:
        """Stream ``paths`` into partitions under ``events_dir`` (a path or URL; overridden by
        ``partitions``: see :meth:`events_location`) and mark the load complete."""
        from irkit.engine.partitions import BATCH_ROWS, load_partitions

        return load_partitions(paths, self.events_location(events_dir),
                               batch_rows=self.batch_rows or BATCH_ROWS, origins=origins,
                               progress=progress)

    def findings(self, parts: Partitions, *, incident_id: str, severity: str,
                 deployments: pd.DataFrame | None, metrics: pd.DataFrame | None,
                 rejected_count: int, window: Any = None,
                 notes: Iterable[Mapping[str, Any]] | None = None, con: Any = None,
                 extras: dict[str, Any] | None = None,
                 spool_to: Mapping[str, str | os.PathLike[str]] | None = None
                 ) -> dict[str, Any]:
        """findings.json from the partitions (DuckDB reductions + the analysis modules).

        ``con``: a DuckDB connection whose ``ev`` view is ``parts`` (reused, so the REPORT
        join is built once per run); ``extras`` receives the reduced tables and ``spool_to``
        keeps some as Parquet files (see :func:`irkit.engine.findings.findings_from_view`).
        """
        from irkit.engine import local
        from irkit.engine.findings import findings_from_view

        own = con is None
        if own:  # DuckDB spills to local disk: beside a local folder, else DuckDB's default
            spill = (local.spill_dir(Path(parts.root).parent) if parts.store.is_local
                     else None)
            con = local.connect(self.memory_limit, temp_dir=spill)
            local.events_view(con, parts)
        try:
            return findings_from_view(con, view="ev", incident_id=incident_id,
                                      severity=severity, deployments=deployments,
                                      metrics=metrics, rejected_count=rejected_count,
                                      window=window, notes=notes, extras=extras,
                                      spool_to=spool_to)
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
    partitions: str | None = None


def settings(name: str | None = None, scheduler: str | None = None,
             memory_limit: str | None = None, partitions: str | None = None) -> Settings:
    """Flags win over ``IRKIT_ENGINE`` / ``IRKIT_SCHEDULER`` / ``IRKIT_MEMORY_LIMIT`` /
    ``IRKIT_PARTITIONS``."""
    chosen = (name or os.environ.get("IRKIT_ENGINE") or "local").strip().lower()
    if chosen not in ENGINES:
        raise IrkitError(f"--engine {chosen!r}: expected one of {', '.join(ENGINES)}")
    return Settings(chosen, scheduler or os.environ.get("IRKIT_SCHEDULER") or None,
                    memory_limit or os.environ.get("IRKIT_MEMORY_LIMIT") or None,
                    partitions=partitions or os.environ.get("IRKIT_PARTITIONS") or None)


def get_engine(name: str | None = None, *, scheduler: str | None = None,
               memory_limit: str | None = None, batch_rows: int | None = None,
               partitions: str | None = None) -> Engine:
    """The engine called ``name`` (or ``IRKIT_ENGINE``), connected and ready.

    ``partitions`` (or ``IRKIT_PARTITIONS``) is probed with a tiny write first, so a bad URL,
    missing bucket or unreachable endpoint fails here with one line, before any load.
    """
    conf = settings(name, scheduler, memory_limit, partitions)
    if conf.memory_limit:
        from irkit.engine.local import _size

        _size(conf.memory_limit)
    if conf.partitions:
        from irkit.engine.storage import Storage

        Storage.of(conf.partitions).probe()
    if conf.name == "dask":
        from irkit.engine.dask import DaskEngine

        if not conf.scheduler:
            raise IrkitError("--engine dask needs --scheduler ADDRESS (or IRKIT_SCHEDULER)")
        eng: Engine = DaskEngine.connect(conf.scheduler, memory_limit=conf.memory_limit,
                                         batch_rows=batch_rows)
    else:
        eng = Engine(memory_limit=conf.memory_limit, batch_rows=batch_rows)
    eng.partitions = conf.partitions
    return eng


__all__ = ["ENGINES", "Engine", "get_engine", "settings"]
