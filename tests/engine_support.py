"""The demo incident the engine tests share: generated once per module, loaded in memory."""

from __future__ import annotations

from pathlib import Path


def engine_demo(root: Path):
    """``(incident, event file paths, in-memory LoadResult)`` for a 15k-event demo (seed 3).

    The event files (drain NDJSON and OTLP traces) are what an engine streams into
    partitions; the in-memory load of everything is the reference the engines must equal.
    """
    from irkit.demo import generate
    from irkit.sources import load_report

    inc = generate(root / "demo", seed=3, events=15_000)
    events = [str(p) for p in inc.logs] + [str(inc.traces)]
    loaded = load_report([*events, str(inc.deployments), str(inc.metrics)])
    return inc, events, loaded
