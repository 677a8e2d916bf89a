"""irkit: incident investigation for teams that host on Vercel.

The public API is imported lazily so that ``import irkit`` (and the ``irkit`` command) stays fast:
each name below is resolved from its module on first use.

>>> import irkit
>>> events = irkit.load("drain.ndjson.gz")          # doctest: +SKIP
>>> patterns = irkit.patterns(events)                # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API: dict[str, str] = {
    "load": "irkit.sources",
    "load_report": "irkit.sources",
    "load_deployments": "irkit.sources",
    "load_metrics": "irkit.sources",
    "patterns": "irkit.analysis.patterns",
    "pattern_ids": "irkit.analysis.patterns",
    "explore": "irkit.widgets",
    "schema": "irkit.schema",
}

__all__ = [
    "__version__",
    "explore",
    "load",
    "load_deployments",
    "load_metrics",
    "load_report",
    "pattern_ids",
    "patterns",
    "schema",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from irkit import schema
    from irkit.analysis.patterns import pattern_ids, patterns
    from irkit.sources import load, load_deployments, load_metrics, load_report
    from irkit.widgets import explore


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'irkit' has no attribute {name!r}")
    mod = importlib.import_module(module)
    # a module that exports its own name (irkit.analysis.patterns.patterns) gives the function
    value = getattr(mod, name) if hasattr(mod, name) else mod
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
