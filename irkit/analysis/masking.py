"""Token masks: turn the parts of a log message that vary between occurrences into ``<*>``.

Masking runs before template mining so that the miner only sees the *shape* of a message.  The
masks are generic (no per-dataset rules): numbers, hex, UUIDs, IP addresses with ports, URLs and
paths, e-mail addresses, Vercel ids (``dpl_…``, ``prj_…``), Vercel request ids
(``iad1::sfo1::…``), durations and sizes with units, quoted values and JSON fragments.

A masked token is written ``<*>`` as a whole (``blk_-1608…`` → ``<*>``,
``/10.250.19.102:54106`` → ``<*>``) while constant punctuation around it stays
(``(uid=0)`` → ``(uid=<*>)``), which is the Loghub convention that parsing accuracy measures.

This module imports nothing but :mod:`re` so the ``--text`` command line path stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WILDCARD = "<*>"

#: Placeholder for masked characters while masking: masking keeps the message's length, so a
#: character position means the same thing in a message and in its masked form.
PLACEHOLDER = "\x00"
_PH_RUN = re.compile("\x00+")

# Masks that can span whitespace run on the whole message (each behind a cheap guard).
_LINE_MASKS: list[tuple[str, str, str]] = [
    # (name, guard substring or "" for always, regex)
    ("json", '{"', r'\{\s*"[^"\n]{0,200}"\s*:[^\n]*\}'),
    # Whole timestamps: "Fri Jun 17 07:07:00 2005", "Sat May 1 12:00:00 EDT 2004", ISO 8601.
    ("datetime", ":", r"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|"
                      r"Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{1,2}:\d{2}:\d{2}"
                      r"(?:\s+[A-Z]{3,4})?(?:\s+\d{4})?\b"
                      r"|\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
                      r"(?:Z|[+-]\d{2}:?\d{2})?"),
]
# Quoted values keep their quotes: "abc" -> "<*>".
# A quoted plain identifier ('id', "key") is usually code, not data: the miner decides on those.
_QUOTED = re.compile(r"(?:(?<=[\s=(:\[,])|^)([\"'])(?![A-Za-z_$][\w$]*\1)([^\"'\n\x00]{1,200})\1"
                     r"(?=[\s,;.:)\]]|$)")

# Masks applied to each whitespace-separated token.  Order matters: wide masks first.
_TOKEN_MASKS: list[tuple[str, str]] = [
    ("url", r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s\"'<>\]\)]+"),
    # Vercel request ids: iad1::sfo1::ab1cd-1712345678901-0123456789ab, iad1::ab1cd-17...-hex
    ("vercel_request_id", r"\b[a-z]{3}\d(?:::[a-z]{3}\d)*::[a-z0-9]+-\d{10,}-[0-9a-f]{6,}\b"),
    # Vercel object ids.
    # Vercel object ids (dpl_, prj_, bld_, team_ ...) and the like (Stripe's evt_, cus_ ...).
    ("prefixed_id", r"\b(?:dpl|prj|bld|team|usr|icfg|env|oac|ep|cfg|ac|rt)_[A-Za-z0-9]{6,}\b"
                    r"|\b[a-z]{2,10}_(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]{8,}\b"),
    ("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("time", r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"),
    # IPv6 (4+ groups, or compressed with ::).
    ("ipv6", r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){3,7}[0-9A-Fa-f]{1,4}(?![\w:])"
             r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?"
             r"(?![\w:])"),
    # Paths: /a/b, ./a, ~/a; a path swallows an IP:port inside it (/10.1.2.3:5000).
    # Next.js route segments ([slug], [...rest]) are part of the path.
    ("path", r"(?<![\w./~:-])(?:~|\.{1,2})?/(?:(?:[\w.@%+~:,=-]|\[[\w.@%+~:,=-]*\])+/?)+"),
    # Identifiers made of a word prefix and numbers: blk_-123, job_1445_0020, attempt_1_m_2_0.
    ("numbered_id", r"\b[A-Za-z]+(?:_[A-Za-z]+)*_-?\d+(?:_[A-Za-z0-9]+)*\b"),
    ("ipv4", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.]\w)"),
    ("hostname_ip", r"\b[A-Za-z0-9-]*\d+-\d+-\d+-\d+[A-Za-z0-9.-]*\b"),
    ("hex0x", r"\b0[xX][0-9a-fA-F]+\b"),
    # Long hex strings (hashes, ids) with at least one digit and one letter.
    ("hex", r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
    # Durations and sizes with units: 120ms, 1.5s, 64KB.
    ("quantity", r"(?<![\w.])-?\d+(?:\.\d+)?(?:ms|us|µs|ns|s|sec|secs|min|m|h|"
                 r"[kKMGT]i?B|B|bytes|kb|mb|gb)\b"),
    # Numbers not touching a letter.
    ("number", r"(?<![A-Za-z0-9])[-+]?\d+(?:[.,]\d+)*(?![A-Za-z0-9])"),
]
#: A token needs the token masks only if it has one of these characters.
_NEEDS_MASK = re.compile(r"[\d/@_:]")


def _blank(match: re.Match[str]) -> str:
    return PLACEHOLDER * (match.end() - match.start())


def _blank_quoted(match: re.Match[str]) -> str:
    q = match.group(1)
    return q + PLACEHOLDER * len(match.group(2)) + q


class Masker:
    """Compiled masks with a per-token cache.

    Why tokens: most tokens of a log are plain words that need no regex at all, and the tokens
    that do (numbers, ids, paths) repeat, so masking costs a dictionary lookup per token instead
    of a dozen regex scans per message.
    """

    def __init__(self, extra: Iterable[tuple[str, str]] = ()) -> None:
        self.extra = [(name, re.compile(rx)) for name, rx in extra]
        self.line_masks = [(name, guard, re.compile(rx)) for name, guard, rx in _LINE_MASKS]
        # one alternation, tried left to right at each position: one scan per token
        self.token_mask = re.compile("|".join(f"(?:{rx})" for _, rx in _TOKEN_MASKS))
        self._cache: dict[str, str] = {}

    def positions(self, text: str) -> str:
        """``text`` with every masked character replaced by :data:`PLACEHOLDER` (same length)."""
        if PLACEHOLDER in text:
            text = text.replace(PLACEHOLDER, "\ufffd")
        for _, rx in self.extra:
            text = rx.sub(_blank, text)
        for _, guard, rx in self.line_masks:
            if guard in text:
                text = rx.sub(_blank, text)
        if "'" in text or '"' in text:
            text = _QUOTED.sub(_blank_quoted, text)
        cache = self._cache
        tokens = text.split(" ")
        for i, tok in enumerate(tokens):
            out = cache.get(tok)
            if out is None:
                out = self._mask_token(tok)
                if len(cache) < 200_000:
                    cache[tok] = out
            tokens[i] = out
        return " ".join(tokens)

    def _mask_token(self, tok: str) -> str:
        if not _NEEDS_MASK.search(tok):
            return tok
        return self.token_mask.sub(_blank, tok)

    def mask(self, text: str) -> str:
        """Replace every variable part of ``text`` with ``<*>``."""
        return collapse(self.positions(text))


def collapse(positions: str) -> str:
    """Turn the placeholder runs of :meth:`Masker.positions` into ``<*>``."""
    return _PH_RUN.sub(WILDCARD, positions) if PLACEHOLDER in positions else positions


DEFAULT_MASKER = Masker()


def mask(text: str, masker: Masker = DEFAULT_MASKER) -> str:
    """Replace every variable part of ``text`` with ``<*>`` (the default masks)."""
    return masker.mask(text)
