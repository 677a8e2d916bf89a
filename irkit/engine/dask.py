"""The distributed engine: the load and the reductions run as tasks on a ``dask.distributed``
cluster.

Load: one task per input file streams it into the shared partition layout
(``part-<file>-<batch>`` names never collide, so workers write side by side); the client writes
the ``_SUCCESS`` marker only after every task succeeded.

Reductions (:mod:`irkit.engine.reduce`): one task per hour partition, in two rounds — first
each task's REPORT-join partial and the distinct masked shapes of its error messages (the
client combines the first and fits the pattern grouper on the union of the second, and
broadcasts both back), then each task's partial aggregates of requests, client requests and
totals over its hour, and its error lines labelled by the grouper and reduced to per-pattern
partials.  The client concatenates the partials and runs the combine queries; only those
reduced tables reach pandas — never the error lines.  Counts and pattern ids are exact and
equal to the local engine's: both run the same queries and the same pattern passes.

The partition folder must be reachable by the workers and by ``irkit open`` alike: a shared
disk on one machine, a shared mount, or an fsspec URL (``s3://bucket/prefix``; every worker
reads credentials from its own environment).  Workers get part URLs and register their
filesystem with DuckDB themselves.  The evidence files are read by the workers at the paths
``irkit open`` sees, so a multi-machine cluster needs the run folder on a shared mount.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irkit.engine import Engine
from irkit.engine.partitions import (
    BATCH_ROWS,
    FileLoad,
    Partitions,
    ProgressFn,
    finish_partitions,
    load_file,
    open_partitions,
    start_partitions,
)
from irkit.errors import IrkitError

#: How long to wait for the scheduler before saying it is unreachable.
CONNECT_TIMEOUT_S = 5


@dataclass
class DaskEngine(Engine):
    """Loading on a Dask cluster; see the module docstring."""

    client: Any = None
    address: str = ""
    name: str = "dask"
    futures: list[Any] = field(default_factory=list)

    @classmethod
    def connect(cls, address: str, *, memory_limit: str | None = None,
                batch_rows: int | None = None) -> DaskEngine:
        """Connect to the scheduler at ``address``; an unreachable one is a one-line error."""
        from distributed import Client

        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise IrkitError(f"dask scheduler {address}: unreachable ({reason[:200]})") from None
        return cls(memory_limit=memory_limit, batch_rows=batch_rows, client=client,
                   address=address)

    def load(self, paths: Sequence[str | os.PathLike[str]], events_dir: str | os.PathLike[str],
             *, origins: Mapping[str, str] | None = None,
             progress: ProgressFn | None = None) -> tuple[Partitions, list[FileLoad]]:
        store = start_partitions(self.events_location(events_dir))
        futures = [
            self.client.submit(load_file, str(p), store.url(), i,
                               batch_rows=self.batch_rows or BATCH_ROWS,
                               origin=(origins or {}).get(str(p)), key=f"irkit-load-{i}-{p}",
                               pure=False)
            for i, p in enumerate(paths)
        ]
        ordered: list[FileLoad] = []
        try:
            for fut in futures:  # in file order; the cluster runs them all meanwhile
                item = fut.result()
                ordered.append(item)
                if progress is not None:
                    progress("load", item.rows, Path(item.path).name)
        except IrkitError:
            raise
        except Exception as exc:
            raise self._task_failed("load", exc) from None
        finish_partitions(store, ordered)
        return open_partitions(store), ordered

    def findings(self, parts: Partitions, **kwargs: Any) -> dict[str, Any]:
        """findings.json with the reductions computed on the cluster (see the module doc)."""
        from irkit.engine import local
        from irkit.engine.findings import findings_from_view

        con, own = kwargs.pop("con", None), False
        if con is None:
            con, own = local.connect(self.memory_limit), True
            local.events_view(con, parts)
        try:
            return findings_from_view(
                con, view="ev", reducer=lambda s, e, keep: self.reduce(parts, s, e, keep),
                **kwargs)
        finally:
            if own:
                con.close()

    def reduce(self, parts: Partitions, start: Any, end: Any,
               spool_to: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The reductions of the events in ``[start, end]``, computed hour by hour on workers
        (``spool_to``: see :func:`irkit.engine.local.reductions`)."""
        import pyarrow as pa

        from irkit.analysis import pattern_partials
        from irkit.engine import local, reduce

        chunks = _chunks(parts)
        try:
            firsts = self._collect([
                self.client.submit(_reports_partial, files, start, end, pure=False)
                for files in chunks])
            con = local.connect(self.memory_limit)
            try:
                con.register("rp", pa.concat_tables([f[0] for f in firsts],
                                                    promote_options="permissive"))
                reports = con.sql(local.reports_combine_sql("rp")).to_arrow_table()
                traces_only = reduce.all_trace(sum(f[1] for f in firsts),
                                               sum(f[2] for f in firsts))
                shared = self.client.scatter(reports, broadcast=True)
                grouper = self.client.scatter(reduce.fit_patterns(f[3] for f in firsts),
                                              broadcast=True)
                seconds = self._collect([
                    self.client.submit(_partials, files, shared, start, end, traces_only,
                                       grouper, pure=False) for files in chunks])
                out: dict[str, Any] = {"patterns": pattern_partials.combine(
                    s["patterns"] for s in seconds)}
                for name in reduce.NAMES:
                    con.register(f"p_{name}", pa.concat_tables([s[name] for s in seconds],
                                                       promote_options="permissive"))
                    out[name] = local.combined(con, name, reduce.COMBINE[name](f"p_{name}"),
                                               keep=(spool_to or {}).get(name))
                return out
            finally:
                con.close()
        except IrkitError:
            raise
        except Exception as exc:
            raise self._task_failed("reduction", exc) from None

    @staticmethod
    def _collect(futures: list[Any]) -> list[Any]:
        """Every task's result, in submission order, each released as soon as it is fetched.

        ``client.gather`` on the whole list would leave every finished partial in its worker's
        memory until the last task is done; tasks run roughly in submission order, so taking
        them in that order keeps a worker's memory near the tasks it is running.
        """
        results = []
        for future in futures:
            results.append(future.result())
            future.release()
        return results

    def _task_failed(self, what: str, exc: Exception) -> IrkitError:
        """A worker failure as one line naming the scheduler (no remote traceback)."""
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return IrkitError(f"dask scheduler {self.address}: {what} task failed: {first}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def _chunks(parts: Partitions) -> list[list[str]]:
    """One task's share: the part files (paths or URLs) of one hour partition."""
    return list(parts.by_hour().values()) or [[]]


#: Share of a worker's memory limit its DuckDB may use; the rest is Python, Arrow results and
#: the pattern miner.  Past it DuckDB spills to the worker's temp folder.
WORKER_DUCKDB_SHARE = 0.4


def _worker_connect():
    """DuckDB for a task on a worker: one thread (the worker's threads are the parallelism)
    and memory under the worker's own limit.  Without this DuckDB takes 80 % of the machine's
    RAM, a big hour pushes the worker past its limit and the nanny restarts it mid-task."""
    import os
    import tempfile
    import uuid

    from distributed import get_worker

    from irkit.engine import local

    limit = None
    try:
        worker_limit = get_worker().memory_manager.memory_limit
    except ValueError:  # not on a worker (called directly): DuckDB's default
        worker_limit = None
    if worker_limit:
        limit = f"{int(worker_limit * WORKER_DUCKDB_SHARE) >> 20}MiB"
    # a folder of its own (DuckDB creates it and removes it on close): tasks of the workers on
    # one machine would otherwise share spill file names
    spill = os.path.join(tempfile.gettempdir(), f"irkit-duckdb-{os.getpid()}-{uuid.uuid4().hex}")
    return local.connect(limit, threads=1, temp_dir=spill)


def _reports_partial(files: list[str], start: Any, end: Any) -> tuple[Any, int, int, set[str]]:
    """Worker, round 1: this hour's REPORT-join partial, its (rows, trace rows) in window and
    the distinct masked shapes of its error messages (pattern pass 1)."""
    from irkit.engine import local, reduce

    con = _worker_connect()
    try:
        if not files:
            return con.sql("SELECT NULL::VARCHAR AS key, NULL::DOUBLE AS ms, "
                           "NULL::BIGINT AS ord LIMIT 0").to_arrow_table(), 0, 0, set()
        local.events_view(con, files, reports=None)
        table = con.sql(local.reports_partial_sql("ev_raw")).to_arrow_table()
        win = local.window_filter(con, start, end, "ev_raw")
        rows, traces = con.execute(reduce.trace_flag_sql(win)).fetchall()[0]
        return table, int(rows), int(traces), reduce.observe_patterns(con, win)
    finally:
        con.close()


def _partials(files: list[str], reports: Any, start: Any, end: Any,
              traces_only: bool, grouper: Any) -> dict[str, Any]:
    """Worker, round 2: this hour's partial aggregates (Arrow tables, by reduction name) and
    its per-pattern partial (pattern pass 2, labelled by the broadcast ``grouper``)."""
    from irkit.engine import local, reduce

    con = _worker_connect()
    try:
        if files:
            local.events_view(con, files, reports=reports)
        else:  # an empty load: an empty view with the events columns
            from irkit.engine.partitions import _arrow_schema

            con.register("ev", _arrow_schema().empty_table())
        win = local.window_filter(con, start, end, "ev")
        out: dict[str, Any] = {name: con.sql(sql).to_arrow_table()
                               for name, sql in reduce.partial_sqls(win, traces_only).items()}
        # patterns read no duration: the events before the REPORT join are enough, and cheaper
        raw = local.window_filter(con, start, end, "ev_raw" if files else "ev", name="pwin")
        out["patterns"] = reduce.assign_patterns(con, raw, grouper)
        return out
    finally:
        con.close()
