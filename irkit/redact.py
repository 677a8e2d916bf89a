"""PII redaction for reports that leave the incident team.

A report shared with customers, vendors or the whole company must not carry client IP addresses,
e-mail addresses or user ids; the archived raw evidence keeps the originals.  Values are replaced
by *pseudonyms*, not blanks, so a reader can still follow one client through a report:

====================  ==========================================  ========================
kind                  what is recognised                          becomes
====================  ==========================================  ========================
IPv4 / IPv6 address   dotted quads (not version numbers such as   ``ip-3f2a9c41d0``
                      ``Chrome/120.0.0.0``), IPv6 incl. ``::``
                      forms and IPv4-mapped, validated by
                      :mod:`ipaddress`
e-mail address        ``local@domain.tld``, also ``%40``-encoded  ``email-8b1e07c2aa``
user id               prefixed ids ``user_…``, ``usr_…``,         ``user-51c0de9f3b``
                      ``uid_…``, ``cus_…``, ``acct_…``;
                      query/form pairs ``uid=…``, ``user_id=…``,
                      ``userId=…``, ``username=…``, ``email=…``,
                      ``account_id=…``, ``customer_id=…``; JSON
                      members with those names; path segments
                      after ``/users/``, ``/user/``,
                      ``/accounts/``, ``/members/``,
                      ``/customers/``, ``/profiles/``, ``/u/``
====================  ==========================================  ========================

Pseudonyms are a keyed hash (HMAC-SHA-256, first 10 hex digits) under a per-run random key, so
they are stable within a run (the same IP is the same ``ip-…`` in every report of the run) and
cannot be reversed by hashing candidate IPs.  The key comes from ``IRKIT_REDACT_KEY`` (hex) when
set — the incident runner sets it once per run for all its notebook kernels and never archives it
— else from :func:`os.urandom` once per process.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: Environment variable holding the per-run pseudonym key (hex).
KEY_ENV = "IRKIT_REDACT_KEY"

_ID_KEYS = (
    r"uid|user_?id|userid|user|username|login|email|e-mail|account_?id|accountid|customer_?id"
    r"|customerid|member_?id|memberid"
)
_PATH_NOUNS = r"users|user|accounts|account|members|member|customers|customer|profiles|profile|u"
#: Path segments after /users/ etc. that name a page, not a person.
_PATH_KEEP = frozenset({"me", "self", "new", "edit", "login", "logout", "settings", "search",
                        "list", "all", "index", "current", "signup", "register", "profile"})

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_PATTERN = re.compile(
    "|".join(
        [
            # e-mail (also percent-encoded @)
            r"(?P<email>[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}(?:@|%40)"
            r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}\.)+[A-Za-z]{2,24})",
            # key=value pairs in query strings, forms, log lines
            rf"(?P<kv>\b(?:{_ID_KEYS})=)(?P<kvval>[^&\s;,\"'<>]+)",
            # JSON members
            rf"(?P<json>\"(?:{_ID_KEYS})\"\s*:\s*\")(?P<jsonval>[^\"\\]+)",
            # path segments after a user-ish noun
            rf"(?P<path>/(?:{_PATH_NOUNS})/)(?P<pathval>[^/?#\s\[\]{{}}:<>\"']+)",
            # prefixed ids
            r"(?P<uid>\b(?:user|usr|uid|cus|cust|acct|member)_[A-Za-z0-9]{3,}\b)",
            # IPv4, not a version number like Chrome/120.0.0.0
            rf"(?P<ipv4>(?<![\w.])(?<![A-Za-z]/){_OCTET}(?:\.{_OCTET}){{3}}(?![\d]|\.\d))",
            # IPv6 candidates (validated below)
            r"(?P<ipv6>(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
            r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?:%[\w.]+)?(?![\w:]|\.\d))",
        ]
    ),
    re.IGNORECASE,
)
_PSEUDONYM = re.compile(r"^(?:ip|email|user)-[0-9a-f]{10}$")


class Redactor:
    """Replaces IPs, e-mail addresses and user ids by keyed pseudonyms (see module docstring)."""

    def __init__(self, key: bytes | str | None = None) -> None:
        if key is None:
            env = os.environ.get(KEY_ENV)
            key = bytes.fromhex(env) if env else os.urandom(32)
        elif isinstance(key, str):
            key = key.encode()
        self._key = key

    def pseudonym(self, kind: str, value: str) -> str:
        """``kind-<10 hex>``: the same value gives the same pseudonym under one key."""
        digest = hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind}-{digest[:10]}"

    def _ip(self, text: str) -> str | None:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return None
        mapped = getattr(ip, "ipv4_mapped", None)
        return self.pseudonym("ip", str(mapped or ip))

    def _user(self, value: str) -> str:
        if _PSEUDONYM.match(value):
            return value
        if "@" in value or "%40" in value.lower():
            return self.pseudonym("email", _email_key(value))
        ip = self._ip(value)
        return ip or self.pseudonym("user", value)

    def _sub(self, m: re.Match[str]) -> str:
        kind = m.lastgroup
        if kind == "email":
            return self.pseudonym("email", _email_key(m.group("email")))
        if kind == "kvval":
            return m.group("kv") + self._user(m.group("kvval"))
        if kind == "jsonval":
            return m.group("json") + self._user(m.group("jsonval"))
        if kind == "pathval":
            seg = m.group("pathval")
            if seg.lower() in _PATH_KEEP:
                return m.group(0)
            return m.group("path") + self._user(seg)
        if kind == "uid":
            return self.pseudonym("user", m.group("uid"))
        if kind == "ipv4":
            return self._ip(m.group("ipv4")) or m.group(0)
        if kind == "ipv6":
            text = m.group("ipv6")
            if text.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", text):
                return text
            return self._ip(text) or text
        return m.group(0)  # pragma: no cover - every group is handled above

    def text(self, value: str) -> str:
        """``value`` with every IP, e-mail address and user id replaced by its pseudonym."""
        return _PATTERN.sub(self._sub, value)

    def value(self, value: Any) -> Any:
        """Redact strings anywhere inside ``value`` (lists, tuples, dicts, e.g. findings.json)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        if isinstance(value, np.ndarray) and value.dtype == object:
            return np.array([self.value(v) for v in value], dtype=object)
        return value

    def series(self, series: pd.Series) -> pd.Series:
        """Redact a text (or object) column, each distinct value once."""
        if not (pd.api.types.is_string_dtype(series) or series.dtype == object):
            return series
        if isinstance(series.dtype, pd.CategoricalDtype):
            return self._categorical(series)
        try:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
        except TypeError:  # unhashable cells (lists, dicts): redact each one
            return series.map(self.value)
        if len(uniques) == 0:
            return series
        done = np.array([self.value(u) for u in uniques] + [None], dtype=object)
        values = done[np.where(codes >= 0, codes, len(uniques))]
        out = pd.Series(values, index=series.index, name=series.name, dtype=object)
        out = out.where(pd.Series(codes >= 0, index=series.index), series)
        if series.dtype != object:
            out = out.astype(series.dtype)
        return out

    def _categorical(self, series: pd.Series) -> pd.Series:
        """Redact a categorical through its categories: each distinct value once, and the
        result stays categorical (two values may redact to the same text: they merge)."""
        done = pd.Series([self.value(c) for c in series.cat.categories], dtype=object)
        merged, uniques = pd.factorize(done)
        codes = series.cat.codes.to_numpy()
        new_codes = np.where(codes >= 0, merged[np.maximum(codes, 0)], -1)
        return pd.Series(pd.Categorical.from_codes(new_codes, categories=pd.Index(uniques)),
                         index=series.index, name=series.name)

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``frame`` with every text cell, and a text index, redacted."""
        out = frame.copy()
        for name in out.columns:
            column = out[name]
            if isinstance(column, pd.Series):
                out[name] = self.series(column) if _maybe_text(column) else column
        if isinstance(out.index, pd.MultiIndex):
            out.index = pd.MultiIndex.from_arrays(
                [self.series(pd.Series(out.index.get_level_values(i))).to_numpy()
                 for i in range(out.index.nlevels)],
                names=out.index.names,
            )
        elif _maybe_text(out.index):
            out.index = pd.Index(self.series(pd.Series(out.index)).to_numpy(),
                                 name=out.index.name)
        out.attrs = dict(frame.attrs)
        return out


def _maybe_text(values: pd.Series | pd.Index) -> bool:
    return bool(pd.api.types.is_string_dtype(values) or values.dtype == object)


def _email_key(text: str) -> str:
    return text.replace("%40", "@").replace("%40".upper(), "@").lower()


_DEFAULT: Redactor | None = None


def default_redactor() -> Redactor:
    """The process-wide redactor (key from ``IRKIT_REDACT_KEY`` or random), created on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Redactor()
    return _DEFAULT


def redact_text(text: str, *, redactor: Redactor | None = None) -> str:
    """Replace IP addresses, e-mail addresses and user ids in ``text`` by stable pseudonyms."""
    if text is None or text is pd.NA:
        return text
    return (redactor or default_redactor()).text(str(text))


def redact_frame(frame: pd.DataFrame, *, redactor: Redactor | None = None) -> pd.DataFrame:
    """A copy of ``frame`` with IPs, e-mail addresses and user ids in every text cell replaced.

    Numeric and time columns are untouched; list/dict cells (pattern examples, metric labels)
    are redacted inside.  Apply it to every table a redacted report displays.
    """
    return (redactor or default_redactor()).frame(frame)


def redact_value(value: Any, *, redactor: Redactor | None = None) -> Any:
    """Redact every string inside a JSON-like value (e.g. a findings dict for the PIR)."""
    return (redactor or default_redactor()).value(value)
