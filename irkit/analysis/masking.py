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

# Order matters: the wide masks (URLs, JSON, request ids) run before the narrow ones (numbers).
_BASE_MASKS: list[tuple[str, str]] = [
    # JSON object fragments with at least one "key": pair.
    ("json", r'\{\s*"[^"\n]{0,200}"\s*:[^\n]*\}'),
    # URLs (scheme://...), up to whitespace or a closing bracket/quote.
    ("url", r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s\"'<>\]\)]+"),
    # Vercel request ids: iad1::sfo1::ab1cd-1712345678901-0123456789ab, iad1::ab1cd-17...-hex
    ("vercel_request_id", r"\b[a-z]{3}\d(?:::[a-z]{3}\d)*::[a-z0-9]+-\d{10,}-[0-9a-f]{6,}\b"),
    # Vercel object ids.
    ("vercel_id", r"\b(?:dpl|prj|bld|team|usr|icfg|env|oac|ep|cfg|ac|rt)_[A-Za-z0-9]{6,}\b"),
    ("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    # Whole timestamps: "Fri Jun 17 07:07:00 2005", "Sat May 1 12:00:00 EDT 2004", ISO 8601.
    ("datetime", r"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                 r"Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{1,2}:\d{2}:\d{2}(?:\s+[A-Z]{3,4})?(?:\s+\d{4})?\b"
                 r"|\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
    # Times of day and dates.
    ("time", r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"),
    # IPv6 (full or compressed, at least 2 colons and a hex group), optional [..]:port form.
    ("ipv6", r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){3,7}[0-9A-Fa-f]{1,4}(?![\w:])"
             r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?"
             r"(?![\w:])"),
    # Paths: /a/b, ./a, ~/a; a path swallows an IP:port inside it (/10.1.2.3:5000).
    ("path", r"(?<![\w./~:-])(?:~|\.{1,2})?/(?:[\w.@%+~:,=-]+/?)+"),
    # Identifiers made of a word prefix and numbers: blk_-123, job_1445_0020, attempt_1_m_2_0.
    ("numbered_id", r"\b[A-Za-z]+(?:_[A-Za-z]+)*_-?\d+(?:_[A-Za-z0-9]+)*\b"),
    ("ipv4", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.]\w)"),
    ("hostname_ip", r"\b[A-Za-z0-9-]*\d+-\d+-\d+-\d+[A-Za-z0-9.-]*\b"),
    ("hex0x", r"\b0[xX][0-9a-fA-F]+\b"),
    # Long hex strings (hashes, ids) with at least one digit and one letter.
    ("hex", r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
    # Durations and sizes with units: 120ms, 1.5s, 64KB, 10 MB.
    ("quantity", r"(?<![\w.])-?\d+(?:\.\d+)?\s?(?:ms|us|µs|ns|s|sec|secs|min|m|h|"
                 r"[kKMGT]i?B|B|bytes|kb|mb|gb)\b"),
    # Numbers not touching a letter.
    ("number", r"(?<![A-Za-z0-9])[-+]?\d+(?:[.,]\d+)*(?![A-Za-z0-9])"),
    # Quoted values keep their quotes: "abc" -> "<*>".
    ("quoted", r"(?<=[\s=(:])(\"|')(?!<\*>\1)[^\"'\n]{1,200}\1(?=[\s,;.:)\]]|$)"),
]


def compile_masks(extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, re.Pattern[str]]]:
    """Compile the built-in masks plus ``extra`` (name, regex) pairs from a rules file.

    Extra masks run first: a user who adds a mask knows better than the generic ones.
    """
    out: list[tuple[str, re.Pattern[str]]] = []
    for name, pattern in [*extra, *_BASE_MASKS]:
        out.append((name, re.compile(pattern)))
    return out


DEFAULT_MASKS = compile_masks()


def _quoted_sub(match: re.Match[str]) -> str:
    quote = match.group(1)
    return f"{quote}{WILDCARD}{quote}"


def mask(text: str, masks: list[tuple[str, re.Pattern[str]]] = DEFAULT_MASKS) -> str:
    """Replace every variable part of ``text`` with ``<*>``.

    Adjacent wildcards that only differ by the masks' own boundaries (``<*><*>``) are merged so
    that, for example, an IP followed by a port mask stays one ``<*>``.
    """
    for name, rx in masks:
        text = rx.sub(_quoted_sub, text) if name == "quoted" else rx.sub(WILDCARD, text)
    while "<*><*>" in text:
        text = text.replace("<*><*>", WILDCARD)
    return text
