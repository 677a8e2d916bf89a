"""Where partitions live: a local folder or any fsspec URL (``s3://``, ``gs://``, ``memory://``).

Why an abstraction: the partition layout (:mod:`irkit.engine.partitions`) needs only a handful
of operations — make folders, write a file so that readers never see half of it, list parts by
glob, read the marker, remove a previous load — and DuckDB must read the same files.  On a
cluster the workers and ``irkit open`` share no disk, so the folder is an object-store URL, and
these operations go through fsspec instead of :mod:`pathlib`.

* A plain path (or ``file://``) is the local filesystem: writes are temp file + ``os.replace``
  (atomic on POSIX), exactly as before.
* A URL goes through ``fsspec.core.url_to_fs``; credentials come from the environment, as the
  filesystem's own library reads them (for S3: ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, …),
  or from ``storage_options``.  A write goes to a dot-named temp object that is then moved into
  place; the layout's globs (``part-*.parquet``, ``_SUCCESS``) never match a dot name, so a
  reader sees either no part or a whole one.  (An S3 ``PUT`` is itself all-or-nothing; the
  temp name also covers filesystems where it is not.)
* DuckDB reads a non-local folder through the same filesystem object:
  :meth:`Storage.register` calls ``con.register_filesystem(fs)`` (DuckDB's fsspec bridge), so no
  ``httpfs`` extension — which would need a download — is involved.

Every failure is one :class:`~irkit.errors.IrkitError` line naming the URL (no traceback).
Messages and records show :func:`public_url` — no userinfo, query or fragment — and a URL
carrying a password is refused: credentials come from the environment only.
"""

from __future__ import annotations

import errno
import os
import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from irkit.errors import IrkitError


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a non-local fsspec filesystem (``proto://…``, not ``file://``).
    """
    text = os.fspath(location)
    return "://" in text and not text.startswith("file://")


def public_url(location: str | os.PathLike[str]) -> str:
    """``location`` fit to print or archive: a URL without userinfo, query or fragment.

    Why: a URL may carry a user name, a password or a signed token (``?sig=…``); messages,
    progress and the manifest must not.  A local path is returned unchanged.
    """
    text = os.fspath(location)
    if not is_url(text):
        return text
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(text)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _refuse_password(text: str) -> None:
    from urllib.parse import urlsplit

    if is_url(text) and ":" in urlsplit(text).netloc.rpartition("@")[0]:
        raise IrkitError(f"{public_url(text)}: a password in the URL is not accepted "
                         "(credentials come from the environment, e.g. AWS_ACCESS_KEY_ID)")


@dataclass
class Storage:
    """A folder (``root``) on one fsspec filesystem; every path argument is relative to it."""

    fs: Any
    root: str
    location: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, location: str | os.PathLike[str], **storage_options: Any) -> Storage:
        """The storage at a local path or fsspec URL (``storage_options`` go to the filesystem).
        """
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        text = os.fspath(location)
        _refuse_password(text)
        try:
            if is_url(text):
                fs, root = fsspec.core.url_to_fs(text, **storage_options)
            else:
                text = text.removeprefix("file://")
                fs, root = LocalFileSystem(), os.path.abspath(text)
        except (ImportError, ValueError, OSError) as exc:
            raise IrkitError(f"{public_url(text)}: cannot open storage: {_reason(exc)}"
                             ) from None
        return cls(fs=fs, root=root.rstrip("/") or "/", location=text,
                   options=dict(storage_options))

    # -- naming -----------------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        """The filesystem path of ``parts`` under the root (no protocol)."""
        joined = posixpath.join(self.root, *[p.strip("/") for p in parts if p])
        return os.path.normpath(joined) if self.is_local else joined

    def url(self, *parts: str) -> str:
        """What DuckDB (after :meth:`register`) and other processes open: a URL, or a local path.
        """
        return self.as_url(self.path(*parts))

    def as_url(self, path: str) -> str:
        """:meth:`url` for a filesystem path already resolved (e.g. from :meth:`atomic`)."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def child(self, *parts: str) -> Storage:
        """The storage of a sub-folder (same filesystem and options)."""
        sub = self.path(*parts)
        return Storage(self.fs, sub, self.url(*parts), dict(self.options))

    # -- operations the layout needs ---------------------------------------------------------

    def makedirs(self, *parts: str) -> None:
        """Create a local folder.  Not on a URL: object stores have no folders (a write creates
        the path), and s3fs's ``makedirs`` would silently *create a missing bucket*."""
        if self.is_local:
            with self._errors("cannot create folder", *parts):
                self.fs.makedirs(self.path(*parts), exist_ok=True)

    def exists(self, *parts: str) -> bool:
        with self._errors("cannot check", *parts):
            return bool(self.fs.exists(self.path(*parts)))

    def isfile(self, *parts: str) -> bool:
        with self._errors("cannot check", *parts):
            return bool(self.fs.isfile(self.path(*parts)))

    def glob(self, pattern: str) -> list[str]:
        """Paths relative to the root that match ``pattern``, sorted (dot names never match).

        Listings are never served from the filesystem's cache: other processes (Dask workers)
        write the layout this process lists.
        """
        with self._errors("cannot list", pattern):
            self.fs.invalidate_cache()  # (with a path, s3fs would keep the sub-folders' lists)
            found = self.fs.glob(self.path(pattern))
        prefix = self.path() + "/" if self.path() != "/" else "/"
        rel = [self.fs._strip_protocol(p).removeprefix(prefix) for p in found]
        return sorted(r for r in rel if not any(s.startswith(".") for s in r.split("/")))

    def open(self, *parts: str, mode: str = "rb") -> IO[Any]:
        """Open a file for reading (writes go through :meth:`write_bytes` / :meth:`write_parquet`).
        """
        with self._errors("cannot open", *parts):
            return self.fs.open(self.path(*parts), mode)

    def read_bytes(self, *parts: str) -> bytes:
        with self._errors("cannot read", *parts):
            return bytes(self.fs.cat_file(self.path(*parts)))

    def rm(self, *parts: str, recursive: bool = False) -> None:
        """Remove a file, or a folder with ``recursive``; a missing one is not an error."""
        target = self.path(*parts)
        with self._errors("cannot remove", *parts):
            if self.fs.exists(target):
                self.fs.rm(target, recursive=recursive)

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write ``data`` to ``parts`` atomically (temp name + move)."""
        with self.atomic(*parts) as tmp, self._errors("cannot write", *parts), \
                self.fs.open(tmp, "wb") as out:
            out.write(data)

    def write_parquet(self, table: Any, *parts: str, compression: str = "zstd") -> None:
        """Write an Arrow table as Parquet atomically (temp name + move).

        A local folder is written by Arrow's native file writer, as before the abstraction
        existed (fsspec's local filesystem would route every byte through Python).
        """
        import pyarrow.parquet as pq

        with self.atomic(*parts) as tmp, self._errors("cannot write", *parts):
            pq.write_table(table, tmp, compression=compression,
                           filesystem=None if self.is_local else self.fs)

    def parquet_rows(self, *parts: str) -> int:
        """The row count from a Parquet file's footer (reads the footer only)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            with self.fs.open(self.path(*parts), "rb") as fh:
                return int(pq.ParquetFile(fh).metadata.num_rows)
        except (OSError, pa.ArrowException) as exc:
            raise IrkitError(f"{public_url(self.url(*parts))}: damaged partition: "
                             f"{_reason(exc)}") from None

    def register(self, con: Any) -> None:
        """Let DuckDB connection ``con`` read and write :meth:`url`\\ s of this storage.

        Local paths need nothing.  Otherwise the filesystem object is registered (replacing one
        registered earlier under the same protocol, which may carry other credentials).
        """
        if self.is_local:
            return
        protocols = self.fs.protocol
        name = protocols if isinstance(protocols, str) else protocols[0]
        if con.filesystem_is_registered(name):
            con.unregister_filesystem(name)
        con.register_filesystem(self.fs)

    def probe(self) -> None:
        """Fail now, with one line naming the URL, if this folder cannot be written.

        ``irkit open`` calls it before anything is written, as it connects to a scheduler
        first: a bad URL, a missing bucket, wrong credentials or an unreachable endpoint
        should not surface half-way through a load.  Writes and removes a dot-named object.
        """
        name = f".irkit-probe-{uuid.uuid4().hex[:8]}"
        self.write_bytes(b"irkit", name)
        self.rm(name)

    @contextmanager
    def atomic(self, *parts: str) -> Iterator[str]:
        """Yield a dot-named temp path beside ``parts``; move it into place if the block succeeds.

        For writers that take a path of their own (DuckDB ``COPY … TO`` gets
        :meth:`as_url` of it).  On failure the temp file is removed; an ``OSError`` becomes one
        ``IrkitError`` line, anything else propagates for the caller to word.
        """
        target = self.path(*parts)
        parent, name = posixpath.split(target)
        tmp = posixpath.join(parent, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        if self.is_local:
            tmp = os.path.normpath(tmp)
        try:
            if self.is_local:
                with self._errors("cannot write", *parts):
                    self.fs.makedirs(parent, exist_ok=True)
            yield tmp
            with self._errors("cannot write", *parts):
                if self.is_local:
                    os.replace(tmp, target)
                else:
                    self.fs.mv(tmp, target)
        except BaseException as exc:
            try:
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
            except Exception:  # best effort: the original failure is what the user must see
                pass
            if isinstance(exc, OSError | ValueError):
                raise self._error(exc, "cannot write", *parts) from None
            raise

    # -- internals -----------------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str, *parts: str) -> Iterator[None]:
        """Any failure of the filesystem call in the block as one line (the block holds only
        filesystem calls; e.g. botocore's connection errors are not ``OSError``)."""
        try:
            yield
        except IrkitError:
            raise
        except Exception as exc:
            raise self._error(exc, what, *parts) from None

    def _error(self, exc: BaseException, what: str, *parts: str) -> IrkitError:
        where = public_url(self.url(*parts))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            folder = where.rsplit("/", 1)[0] if parts else where
            return IrkitError(f"{folder}: disk full while writing "
                              "(free space, or point the run elsewhere)")
        return IrkitError(f"{where}: {what}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    text = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def register_for(con: Any, *locations: str) -> None:
    """Register with DuckDB the filesystem of every URL among ``locations`` (paths: nothing).

    For code that holds only file names — e.g. a Dask worker handed a list of part URLs.
    """
    seen: set[str] = set()
    for loc in locations:
        if is_url(loc):
            proto = loc.split("://", 1)[0]
            if proto not in seen:
                seen.add(proto)
                Storage.of(loc).register(con)
