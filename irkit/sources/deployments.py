"""Vercel deployment lists → the canonical deployments table.

Reads ``GET /v6/deployments`` and ``/v7/deployments`` responses (``{deployments, pagination}``),
a single ``GET /v13/deployments/{id}`` object, ``vercel ls --format json`` / ``--json`` output
(``{contextName, deployments, pagination}``) and a bare JSON list of deployment objects; several
responses appended one per line (a paginated collection) work too.

Mapping decisions (see the README's loading section):

* ``deployment_id`` = ``uid`` (API) or ``id`` (CLI, ``/v13``); ``url`` is the host, a leading
  ``https://`` is dropped so that both shapes agree.
* ``created`` = ``created`` or ``createdAt``; ``building_at``/``ready`` from ``buildingAt``/
  ``ready``; epoch milliseconds, numeric strings or ISO-8601 strings are accepted.
* ``state`` = ``readyState`` or ``state`` (upper case, as Vercel writes it).
* ``target``: ``production``/``staging``, a custom environment's slug, or NA — Vercel's
  ``null`` means *preview*, kept as NA rather than invented.
* ``commit_*`` from the ``meta`` git keys of GitHub, GitLab, Bitbucket or CLI deploys;
  ``author`` is the commit author's login or name, falling back to ``creator.username``.

A record without an id, or with a time that is not a time, is rejected with its raw JSON; rows
are sorted by ``created``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from irkit import schema
from irkit.sources.base import FileReport, Loaded
from irkit.sources.documents import compact, head_opens, iter_records, read_documents
from irkit.sources.records import BadRecord, parse_ms
from irkit.sources.registry import Format

_PROVIDERS = ("github", "gitlab", "bitbucket", "git")
_LIST_KEY = re.compile(r'"deployments"\s*:\s*\[')
_DEPLOYMENT_ID = re.compile(r'"(?:uid|id)"\s*:\s*"dpl_')
_STATE_KEY = re.compile(r'"(?:readyState|state)"\s*:')
_CLI_KEY = re.compile(r'"contextName"\s*:')


def sniff(head: str) -> bool:
    """A deployments response: a ``deployments`` list, or objects with a ``dpl_`` id and a state."""
    opener = head_opens(head)
    if opener == "{" and _LIST_KEY.search(head[:4096]):
        return True
    return opener is not None and bool(_DEPLOYMENT_ID.search(head)) and bool(
        _STATE_KEY.search(head)) and '"requestId"' not in head[:4096]


def sniff_cli(head: str) -> bool:
    """``vercel ls --format json``: a deployments list with the CLI's ``contextName``."""
    return head_opens(head) == "{" and bool(_CLI_KEY.search(head[:4096])) and bool(
        _LIST_KEY.search(head[:65536]))


def sniff_api(head: str) -> bool:
    return sniff(head) and not sniff_cli(head)


def _extract(doc: object) -> list[object] | None:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        if isinstance(doc.get("deployments"), list):
            return doc["deployments"]
        if isinstance(doc.get("uid") or doc.get("id"), str):
            return [doc]
    return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def _meta(meta: dict, suffix: str) -> str | None:
    for provider in _PROVIDERS:
        value = _text(meta.get(f"{provider}Commit{suffix}"))
        if value:
            return value
    return None


def _time(record: dict, *keys: str) -> int | None:
    for key in keys:
        if record.get(key) is not None and not isinstance(record.get(key), bool):
            try:
                return parse_ms(record[key])
            except BadRecord as exc:
                raise BadRecord(f"{key}: {exc}") from None
    return None


def deployment_row(record: object) -> dict[str, object]:
    """One API/CLI deployment object as a canonical row (epoch ms for the time columns)."""
    if not isinstance(record, dict):
        raise BadRecord(f"deployment is a {type(record).__name__}, expected an object")
    dep_id = _text(record.get("uid")) or _text(record.get("id"))
    if not dep_id:
        raise BadRecord("deployment without uid/id")
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    creator = record.get("creator") if isinstance(record.get("creator"), dict) else {}
    url = _text(record.get("url"))
    if url:
        url = re.sub(r"^https?://", "", url)
    target = _text(record.get("target"))
    custom = record.get("customEnvironment")
    if target is None and isinstance(custom, dict):
        target = _text(custom.get("slug"))
    state = _text(record.get("readyState")) or _text(record.get("state"))
    author = (_meta(meta, "AuthorLogin") or _meta(meta, "AuthorName")
              or _text(creator.get("username")) or _text(creator.get("githubLogin")))
    return {
        "deployment_id": dep_id,
        "url": url,
        "created": _time(record, "created", "createdAt"),
        "building_at": _time(record, "buildingAt"),
        "ready": _time(record, "ready"),
        "state": state.upper() if state else None,
        "target": target,
        "source": _text(record.get("source")),
        "commit_sha": _meta(meta, "Sha"),
        "commit_ref": _meta(meta, "Ref") or _text(meta.get("branchAlias")),
        "commit_message": _meta(meta, "Message"),
        "author": author,
    }


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(schema.DEPLOYMENT_COLUMNS))
    for col in ("created", "building_at", "ready"):
        table[col] = pd.to_datetime(pd.array(table[col].tolist(), dtype="Int64"), unit="ms",
                                    utc=True)
    table = schema.conform(table, "deployments")
    return table.sort_values("created", kind="stable", na_position="last").reset_index(drop=True)


def _reader(name: str):
    def read(path: Path) -> Loaded:
        """Every deployment of the file as a canonical row, or a rejected record."""
        docs = read_documents(path)
        rows: list[dict[str, object]] = []
        for line, record in iter_records(docs, _extract, "a deployments response"):
            try:
                rows.append(deployment_row(record))
            except BadRecord as exc:
                docs.rejections.add(line, str(exc), compact(record))
        table = _frame(rows)
        rejected = docs.rejections.frame()
        report = FileReport(str(path), name, len(table) + len(rejected), len(table),
                            len(rejected))
        return Loaded("deployments", table, report, rejected)

    return read


FORMATS = [
    Format("vercel-ls-json", "deployments", sniff_cli, _reader("vercel-ls-json"),
           "`vercel ls --format json` / `--json` output ({contextName, deployments})"),
    Format("vercel-deployments", "deployments", sniff_api, _reader("vercel-deployments"),
           "Vercel deployments API JSON (/v6 or /v7 list with pagination, /v13 single)"),
]
