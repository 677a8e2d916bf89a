"""Format detection: which loader reads a file, decided by content, never by name.

Each loader module exposes ``FORMATS: list[Format]``; :data:`MODULES` lists the modules in the
order their sniffers are asked (most specific documents first).  A file no sniffer claims is an
:class:`~irkit.errors.InputFormatError` naming the file and what was expected.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from irkit.errors import InputFormatError
from irkit.sources.base import Kind, Loaded, read_head

#: Loader modules, in sniffing order.
MODULES: tuple[str, ...] = (
    # build events first: their arrays hold deploymentId/readyState, which other sniffers key on
    "irkit.sources.build_events",
    "irkit.sources.deployments",
    "irkit.sources.traces",
    "irkit.sources.metrics",
    "irkit.sources.cli_output",
    "irkit.sources.drains",
)


@dataclass(frozen=True)
class Format:
    """One input format: its name (as in ``--format`` and load reports), table kind and code."""

    name: str
    kind: Kind
    sniff: Callable[[str], bool]
    read: Callable[[Path], Loaded]
    description: str = ""


def formats() -> list[Format]:
    """Every known format, in sniffing order."""
    found: list[Format] = []
    for module in MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a loader family not built yet
            if exc.name != module:
                raise
            continue
        found.extend(mod.FORMATS)
    return found


def by_name(name: str) -> Format:
    """The format called ``name`` (for ``--format``)."""
    for fmt in formats():
        if fmt.name == name:
            return fmt
    known = ", ".join(f.name for f in formats())
    raise InputFormatError(f"unknown format {name!r} (known: {known})")


def detect(path: Path) -> Format:
    """The format of ``path``, sniffed from its first bytes."""
    try:
        head = read_head(path)
    except OSError as exc:
        raise InputFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for fmt in formats():
        if fmt.sniff(head):
            return fmt
    expected = ", ".join(f.name for f in formats())
    if not head.strip():
        raise InputFormatError(f"{path}: empty file (expected one of: {expected})")
    raise InputFormatError(f"{path}: not in a known format (expected one of: {expected})")
