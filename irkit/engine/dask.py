"""The distributed engine: the partitioned load runs as tasks on a ``dask.distributed`` cluster.

One task per input file streams it into the shared partition layout (``part-<file>-<batch>``
names never collide, so workers write side by side); the client writes the ``_SUCCESS`` marker
only after every task succeeded.  The reductions then read the same partitions.  The folder
must be reachable by the workers and by ``irkit open`` alike (a shared disk on one machine;
on a cluster, a shared mount).
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

    def load(self, paths: Sequence[str | os.PathLike[str]], events_dir: Path, *,
             origins: Mapping[str, str] | None = None,
             progress: ProgressFn | None = None) -> tuple[Partitions, list[FileLoad]]:
        start_partitions(events_dir)
        futures = [
            self.client.submit(load_file, str(p), str(events_dir), i,
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
        except Exception as exc:  # a worker failure: one line, naming the scheduler
            raise IrkitError(f"dask scheduler {self.address}: load task failed: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                             ) from None
        finish_partitions(events_dir, ordered)
        return open_partitions(events_dir), ordered

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
