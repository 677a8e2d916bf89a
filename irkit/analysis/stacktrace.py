"""Sentry-style fingerprints for multi-line stack traces (Node.js and Python).

Two occurrences of the same bug rarely have the same raw text: line and column numbers move with
every deployment, ids in the message change, and framework frames (``node_modules``, ``node:``
internals) differ with the request path.  Like Sentry, a trace is therefore identified by its
error type, its normalised message and its top in-app frames (function and file, no line or
column numbers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from irkit.analysis.masking import mask

#: How many in-app frames make up the fingerprint.
TOP_FRAMES = 3

_NODE_FRAME = re.compile(r"^\s*at\s+(?:(?P<fn>.*?)\s+\()?(?P<loc>[^()]*?)(?::\d+)?(?::\d+)?\)?\s*$")
_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+(?:, in (?P<fn>.+))?\s*$')
_PY_HEADER = "Traceback (most recent call last):"
_ERROR_LINE = re.compile(r"^\s*(?:Uncaught\s+|Unhandled\s+(?:Rejection\s+)?|\[)?"
                         r"(?P<type>[A-Za-z_$][\w$.]*(?:Error|Exception|Warning|Interrupt|Exit)"
                         r"|Error)\]?(?:\s*\[[^\]]*\])?:?\s*(?P<msg>.*)$")
_PY_LAST = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s*(?P<msg>.*))?$")
_HASHED_FILE = re.compile(r"[.-][0-9a-f]{6,}(?=\.[A-Za-z]+$)")


@dataclass(frozen=True)
class StackTrace:
    """What a trace is identified by."""

    error_type: str
    message: str
    frames: tuple[str, ...]
    headline: str

    @property
    def fingerprint(self) -> str:
        return "\x1f".join((self.error_type, self.message, *self.frames))


def _in_app(location: str) -> bool:
    loc = location.replace("\\", "/")
    return not (
        "node_modules/" in loc
        or loc.startswith(("node:", "internal/", "<anonymous>", "native"))
        or loc in ("", "native", "<anonymous>")
        or "/site-packages/" in loc
        or "/dist-packages/" in loc
        or "/lib/python" in loc
    )


def _normalise_file(location: str) -> str:
    loc = location.replace("\\", "/")
    loc = re.sub(r"^(?:file://|webpack-internal:///|webpack:///)", "", loc)
    loc = re.sub(r"\?.*$", "", loc)
    # Build output names carry content hashes (chunk-4f3a2b.js): the bug is the same.
    loc = _HASHED_FILE.sub("", loc)
    # Keep the path from the app's root on (absolute prefixes differ between machines).
    for marker in ("/.next/", "/src/", "/app/", "/pages/", "/api/", "/var/task/"):
        idx = loc.find(marker)
        if idx >= 0:
            return loc[idx + 1:]
    return loc.rsplit("/", 2)[-1] if loc.count("/") > 2 else loc


def parse(text: str) -> StackTrace | None:
    """Recognise a Node.js or Python stack trace; ``None`` for anything else."""
    if "\n" not in text:
        return None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return None
    if any(ln.strip() == _PY_HEADER for ln in lines):
        return _parse_python(lines)
    node_frames = [ln for ln in lines if ln.lstrip().startswith("at ")]
    if node_frames:
        return _parse_node(lines)
    return None


def _parse_node(lines: list[str]) -> StackTrace:
    head = lines[0].strip()
    m = _ERROR_LINE.match(head)
    if m:
        etype, msg = m.group("type"), m.group("msg")
    else:
        etype, msg = "Error", head
    frames: list[str] = []
    for ln in lines[1:]:
        fm = _NODE_FRAME.match(ln)
        if not fm or not ln.lstrip().startswith("at "):
            continue
        loc = fm.group("loc") or ""
        fn = (fm.group("fn") or "").removeprefix("async ").strip()
        if not fm.group("fn") and "(" not in ln and " " not in loc.strip():
            # "at file:line:col" without a function name
            fn = "<anonymous>"
        if not _in_app(loc):
            continue
        frames.append(f"{fn} {_normalise_file(loc)}")
        if len(frames) >= TOP_FRAMES:
            break
    return StackTrace(etype, mask(msg), tuple(frames), head)


def _parse_python(lines: list[str]) -> StackTrace:
    frames: list[str] = []
    for ln in lines:
        fm = _PY_FRAME.match(ln)
        if fm and _in_app(fm.group("file")):
            frames.append(f"{(fm.group('fn') or '').strip()} {_normalise_file(fm.group('file'))}")
    last = lines[-1].strip()
    m = _PY_LAST.match(last)
    if m and not last.startswith(("File ", "Traceback")):
        etype, msg = m.group("type"), m.group("msg") or ""
    else:
        etype, msg = "Exception", last
    # Python puts the innermost frame last: the top frames are the last ones.
    top = tuple(reversed(frames))[:TOP_FRAMES]
    head = last if lines[0].strip() == _PY_HEADER else lines[0].strip()
    return StackTrace(etype, mask(msg), top, head)
