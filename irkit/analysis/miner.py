"""The template miner: distinct masked messages in, one template per message out.

Why not Drain: Drain walks a prefix tree keyed on the first tokens and compares each message with
the clusters of its leaf, so a variable that is a *word* (a user name, a host, a daemon) near the
start of a message splits the tree, and the result depends on the order messages arrive in.

This miner works on the *set* of distinct masked messages, in a canonical order, so its result does
not depend on input order or on how often a line repeats (it also makes the cost scale with the
number of distinct shapes, not with the number of lines).  It is a position-wise variability
analysis in the spirit of Brain (Yu et al., 2023):

1. messages are split into tokens on whitespace and grouped by token count;
2. within a length group each token is scored by how many messages carry the same token at the
   same position; the *anchor* of a message is its largest set of positions sharing one
   frequency (the tokens that travel together), plus every more frequent position;
3. messages with the same anchor form a group; in that group a position whose tokens take many
   values (relative to the group) is a variable, a position with few values splits the group.

Templates write each variable token as ``<*>``, keeping constant ``key=`` prefixes and
surrounding punctuation (``user=<*>``, ``(<*>)``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from irkit.analysis.masking import WILDCARD

_HAS_DIGIT = re.compile(r"\d")
_PUNCT = "()[]{}<>,;:.'\"=!?"


@dataclass
class MinerConfig:
    """The one generic configuration.  No per-dataset knobs: it must work on unseen logs."""

    #: A non-anchor position with more distinct values than this is a variable ...
    max_constant_values: int = 3


@dataclass
class Miner:
    """Mine templates from distinct masked messages; assign new messages to known templates.

    ``fit`` learns from a sample (or all) of the messages; ``assign`` maps further batches to the
    learned templates and learns a new one only for a shape never seen, so memory stays bounded by
    the number of patterns.
    """

    config: MinerConfig = field(default_factory=MinerConfig)
    templates: dict[str, str] = field(default_factory=dict)  # masked message -> template
    _by_length: dict[int, list[tuple[str, ...]]] = field(default_factory=dict)

    def fit(self, masked: Iterable[str]) -> dict[str, str]:
        """Learn templates for ``masked`` messages; return ``{masked message: template}``."""
        distinct = sorted(set(masked))
        result = mine(distinct, self.config)
        self.templates.update(result)
        for template in set(result.values()):
            toks = tuple(template.split())
            bucket = self._by_length.setdefault(len(toks), [])
            if toks not in bucket:
                bucket.append(toks)
        return result

    def assign(self, masked: Sequence[str]) -> list[str]:
        """Map each masked message to a learned template, learning the unseen shapes."""
        out: list[str] = []
        unseen: list[str] = []
        for msg in masked:
            if msg not in self.templates:
                found = self._match(msg)
                if found is None:
                    unseen.append(msg)
                else:
                    self.templates[msg] = found
        if unseen:
            self.fit(unseen)
        for msg in masked:
            out.append(self.templates[msg])
        return out

    def _match(self, msg: str) -> str | None:
        toks = msg.split()
        for cand in self._by_length.get(len(toks), ()):
            if all(c == t or _wild_match(c, t) for c, t in zip(cand, toks, strict=True)):
                return " ".join(cand)
        return None


def _wild_match(template_token: str, token: str) -> bool:
    if WILDCARD not in template_token:
        return False
    parts = template_token.split(WILDCARD)
    rx = ".*".join(re.escape(p) for p in parts)
    return re.fullmatch(rx, token, re.S) is not None


_WORD = re.compile(r"[A-Za-z][A-Za-z_.-]*[A-Za-z]:?")
_DIGIT_RUN = re.compile(r"\d+")


def _is_variable(position: int, values: set[str], config: MinerConfig) -> bool:
    """Whether a column of a group holds a variable (else its values split the group).

    * a masked value, or ``key=value`` pairs with one key, are variables;
    * values that differ only in their digits (``node-1``/``node-7``) are variables;
    * the first token, when every value is a plain word, names what logs the message (a daemon,
      a command, an error type) and splits the group, as in Drain;
    * otherwise a column with more than ``max_constant_values`` values is a variable.
    """
    if any(WILDCARD in v for v in values) or _is_key_value(values):
        return True
    if len({_DIGIT_RUN.sub("0", v) for v in values}) == 1:
        return True
    if position == 0 and all(_WORD.fullmatch(v) for v in values):
        return False
    return len(values) > config.max_constant_values


def _is_key_value(values: set[str]) -> bool:
    """Tokens like ``user=root``/``user=news``: the same key with different values."""
    keys = {v.partition("=")[0] for v in values if "=" in v}
    return len(keys) == 1 and all("=" in v for v in values) and next(iter(keys)) != ""


def _is_wild(token: str) -> bool:
    return token == WILDCARD


def variable_token(values: Iterable[str]) -> str:
    """The template token for a position whose ``values`` vary.

    Keeps what all values share that is not part of the variable: a ``key=`` prefix and
    surrounding punctuation, so ``uid=0``/``uid=48`` gives ``uid=<*>`` and ``(a)``/``(b)`` gives
    ``(<*>)``.
    """
    vals = list(values)
    prefix = _common_prefix(vals)
    suffix = _common_prefix([v[len(prefix):][::-1] for v in vals])[::-1]
    # Only keep a prefix up to a separator (key=, (, [) and a punctuation-only suffix.
    cut = max(prefix.rfind(ch) for ch in "=([{'\"") if prefix else -1
    prefix = prefix[: cut + 1] if cut >= 0 else ""
    keep = 0
    for ch in reversed(suffix):
        if ch in _PUNCT:
            keep += 1
        else:
            break
    suffix = suffix[len(suffix) - keep:] if keep else ""
    # never keep half of a wildcard
    while suffix.startswith((">", "*")):
        suffix = suffix[1:]
    while prefix.endswith(("<", "*")):
        prefix = prefix[:-1]
    token = f"{prefix}{WILDCARD}{suffix}"
    return token


def _common_prefix(values: list[str]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    i = 0
    while i < len(lo) and i < len(hi) and lo[i] == hi[i]:
        i += 1
    return lo[:i]


def mine(distinct: Sequence[str], config: MinerConfig | None = None) -> dict[str, str]:
    """Templates for a canonical (sorted, distinct) sequence of masked messages."""
    config = config or MinerConfig()
    by_len: dict[int, list[tuple[str, ...]]] = defaultdict(list)
    for msg in distinct:
        by_len[len(msg.split())].append(tuple(msg.split()))
    out: dict[str, str] = {}
    for n, rows in by_len.items():
        if n == 0:
            for _ in rows:
                out[""] = ""
            continue
        for toks, template in _mine_length_group(rows, n, config):
            out[" ".join(toks)] = template
    # the key must be the message as given (whitespace included)
    return {msg: out[" ".join(msg.split())] for msg in distinct}


def _mine_length_group(
    rows: list[tuple[str, ...]], n: int, config: MinerConfig
) -> list[tuple[tuple[str, ...], str]]:
    counts = [Counter(r[i] for r in rows) for i in range(n)]
    groups: dict[tuple, list[tuple[str, ...]]] = defaultdict(list)
    for r in rows:
        freqs = [counts[i][t] if not _is_wild(t) else 0 for i, t in enumerate(r)]
        by_freq = Counter(f for f in freqs if f)
        if not by_freq:
            groups[()].append(r)
            continue
        anchor_f = max(by_freq, key=lambda f: (by_freq[f], f))
        key = tuple((i, t) for i, (t, f) in enumerate(zip(r, freqs, strict=True)) if f >= anchor_f)
        groups[key].append(r)
    result: list[tuple[tuple[str, ...], str]] = []
    for key, members in groups.items():
        anchored = {i for i, _ in key}
        result.extend(_split_group(members, n, anchored, config))
    return result


def _split_group(
    members: list[tuple[str, ...]], n: int, anchored: set[int], config: MinerConfig
) -> list[tuple[tuple[str, ...], str]]:
    """Decide, for each non-anchor position, whether it is a variable or splits the group."""
    variable: set[int] = set()
    split_on: list[int] = []
    for i in range(n):
        if i in anchored:
            continue
        values = {r[i] for r in members}
        if len(values) == 1:
            continue
        if _is_variable(i, values, config):
            variable.add(i)
        else:
            split_on.append(i)
    sub: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for r in members:
        sub[tuple(r[i] for i in split_on)].append(r)
    out: list[tuple[tuple[str, ...], str]] = []
    for part in sub.values():
        template_tokens = []
        for i in range(n):
            vals = {r[i] for r in part}
            if i in variable and len(vals) > 1:
                template_tokens.append(variable_token(vals))
            else:
                template_tokens.append(part[0][i])
        template = " ".join(template_tokens)
        out.extend((r, template) for r in part)
    return out
