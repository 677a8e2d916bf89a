"""The post-run secret scan: no token value may end up in the archive.

Tokens only ever come from the environment, but a log line, an error message or a notebook
output can still carry one into the evidence.  After every run each archived file is searched
(raw bytes, and the decompressed content of gzip files) for the literal values of the known
secret variables, plus their JSON- and HTML-escaped spellings; a hit fails the run loudly.
"""

from __future__ import annotations

import gzip
import html
import json
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from irkit.errors import IrkitError

#: Variables whose values are secrets; any ``IRKIT_SECRET_*`` variable is one too.
SECRET_VARIABLES = ("VERCEL_TOKEN", "VERCEL_DRAIN_SECRET", "VERCEL_VERIFY_TOKEN",
                    "IRKIT_REDACT_KEY",
                    # shared partition storage (--partitions s3://…) authenticates with these
                    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
SECRET_PREFIX = "IRKIT_SECRET_"
#: Values shorter than this are not scanned for: they would match by chance everywhere.
MIN_SECRET_LENGTH = 6
CHUNK = 1 << 20


class SecretLeak(IrkitError):
    """A secret value was found in an archived file (exit 3: the run was discarded)."""

    exit_code = 3


@dataclass(frozen=True)
class Leak:
    path: Path
    variable: str


def secret_values(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The secret variables set in ``env`` (name -> value), ignoring empty/too-short values."""
    env = os.environ if env is None else env
    names = [n for n in env if n in SECRET_VARIABLES or n.startswith(SECRET_PREFIX)]
    return {n: env[n] for n in sorted(names) if len(env[n].strip()) >= MIN_SECRET_LENGTH}


def _needles(secrets: Mapping[str, str]) -> list[tuple[bytes, str]]:
    found: dict[bytes, str] = {}
    for name, value in secrets.items():
        for spelling in {value, html.escape(value, quote=True), json.dumps(value)[1:-1]}:
            found.setdefault(spelling.encode("utf-8"), name)
    return list(found.items())


def _chunks(path: Path) -> Iterable[bytes]:
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        while chunk := fh.read(CHUNK):
            yield chunk
    if head == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                while chunk := gz.read(CHUNK):
                    yield chunk
        except (OSError, EOFError, zlib.error):
            return  # a damaged gzip is still scanned raw above


def scan_file(path: Path, secrets: Mapping[str, str]) -> list[str]:
    """Names of the secret variables whose value occurs in ``path`` (streamed, chunk overlap)."""
    needles = _needles(secrets)
    if not needles:
        return []
    overlap = max(len(n) for n, _ in needles) - 1
    hits: set[str] = set()
    tail = b""
    for chunk in _chunks(path):
        window = tail + chunk
        for needle, name in needles:
            if needle in window:
                hits.add(name)
        tail = window[-overlap:] if overlap else b""
    return sorted(hits)


def scan_tree(root: Path, secrets: Mapping[str, str] | None = None) -> list[Leak]:
    """Every (file, variable) pair under ``root`` where a secret value occurs."""
    secrets = secret_values() if secrets is None else secrets
    leaks = []
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(dirpath, name)
            leaks.extend(Leak(path, var) for var in scan_file(path, secrets))
    return leaks


def check_no_secrets(root: Path, secrets: Mapping[str, str] | None = None) -> None:
    """Raise :class:`SecretLeak` naming each file and variable (never the value) on a hit."""
    leaks = scan_tree(root, secrets)
    if leaks:
        where = "; ".join(f"{leak.path.relative_to(root)} contains ${leak.variable}"
                          for leak in leaks[:10])
        more = f" (+{len(leaks) - 10} more)" if len(leaks) > 10 else ""
        raise SecretLeak(f"secret scan failed for {root}: {where}{more}")
