"""Messages in, one (pattern id, template) per message out: the pandas-free core.

The command line's ``--text`` path and :func:`irkit.pattern_ids` both run through
:func:`group_messages`.  It keeps the cost proportional to the number of distinct message
*shapes*, not to the number of lines:

1. exact duplicates are folded first;
2. every digit is folded to ``0`` and messages that become equal share one representative (a
   log file repeats the same lines with different numbers); only if the representative's mask
   leaves a digit in a constant part are its siblings masked one by one;
3. the representatives are masked, the masked shapes deduplicated and mined once, in a canonical
   (sorted) order, so the result does not depend on the input order;
4. stack traces are fingerprinted instead of mined (see :mod:`irkit.analysis.stacktrace`).

Pattern ids are a short blake2b hash of the final template (of the fingerprint for stack
traces), so the same pattern gets the same id in every run and every incident.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from irkit.analysis import stacktrace
from irkit.analysis.masking import DEFAULT_MASKER, WILDCARD, Masker, collapse
from irkit.analysis.miner import Miner, MinerConfig

if TYPE_CHECKING:
    from irkit.analysis.overrides import Rules

_DIGITS = str.maketrans("123456789", "000000000")
_DIGIT_BYTES = bytes.maketrans(b"123456789", b"000000000")
_HAS_DIGIT = re.compile(r"\d")


def pattern_id_for(template: str, kind: str = "t") -> str:
    """The stable id of a template: 10 hex digits of blake2b (``kind`` separates namespaces)."""
    digest = hashlib.blake2b(f"{kind}\x00{template}".encode("utf-8", "surrogatepass"),
                             digest_size=5)
    return digest.hexdigest()


@dataclass
class Grouping:
    """Per distinct message: its pattern id and template; per input message: an index into them."""

    index: list[int]
    pattern_ids: list[str]
    templates: list[str]

    def ids(self) -> list[str]:
        pids = self.pattern_ids
        return [pids[k] for k in self.index]

    def per_line_templates(self) -> list[str]:
        tpl = self.templates
        return [tpl[k] for k in self.index]


@dataclass
class Engine:
    """Masks, mines and labels messages.

    One engine holds one generic configuration (plus the user's override rules, if any).
    """

    masker: Masker = field(default_factory=lambda: DEFAULT_MASKER)
    config: MinerConfig = field(default_factory=MinerConfig)
    rules: Rules | None = None

    def group(self, messages: Sequence[str]) -> Grouping:
        """Group ``messages``: one slot per distinct shape, an index per message."""
        slots = self._slots(messages)
        mined = Miner(self.config).fit(slots.shapes())
        return self._label(slots, mined)

    def _slots(self, messages: Sequence[str]) -> _Slots:
        """Steps 1–3: fold, mask and deduplicate; nothing here depends on other messages'
        shapes, which is what lets :class:`StreamingGrouper` mine batches it has seen once."""
        # 1. messages that differ only in their digits share a key; the first one represents it
        folded = fold_digits_all(messages)
        key_of: dict[str, int] = {}
        index_to_key = [key_of.setdefault(f, len(key_of)) for f in folded]
        del folded
        nkeys = len(key_of)
        # later pairs overwrite earlier ones, so feeding them backwards keeps the first index
        first = dict(zip(reversed(index_to_key), range(len(index_to_key) - 1, -1, -1),
                         strict=True))
        reps = [messages[first[k]] for k in range(nkeys)]
        del first
        # 2. mask the representatives; note where a digit survives masking (a constant digit)
        masker = self.masker
        slot_pos: list[str] = []
        traces: dict[int, stacktrace.StackTrace] = {}
        digit_slots: dict[int, list[int]] = {}
        for k, rep in enumerate(reps):
            if "\n" in rep:
                st = stacktrace.parse(rep)
                if st is not None:
                    traces[k] = st
                    slot_pos.append("")
                    continue
            pos = masker.positions(rep)
            slot_pos.append(pos)
            if _HAS_DIGIT.search(pos):
                digit_slots[k] = [j for j, ch in enumerate(pos) if ch.isdigit()]
        # 3. a sibling whose constant digits differ from its representative's gets its own slot
        #    (masks treat all digits alike, so only those positions can differ after masking)
        slot_original = list(reps)
        if digit_slots and not masker.extra:
            index_to_slot = list(index_to_key)
            own: dict[tuple[int, str], int] = {}
            rep_digits = {k: "".join(reps[k][j] for j in js) for k, js in digit_slots.items()}
            for i, k in enumerate(index_to_key):
                js = digit_slots.get(k)
                if js is None:
                    continue
                msg = messages[i]
                digits = "".join(msg[j] for j in js)
                if digits == rep_digits[k]:
                    continue
                slot = own.get((k, digits))
                if slot is None:
                    slot = own[(k, digits)] = len(slot_pos)
                    chars = list(slot_pos[k])
                    for j in js:
                        chars[j] = msg[j]
                    slot_pos.append("".join(chars))
                    slot_original.append(msg)
                index_to_slot[i] = slot
        elif digit_slots:
            # user masks may look at digits: mask every distinct sibling itself
            index_to_slot = list(index_to_key)
            own_msg: dict[str, int] = {}
            for i, k in enumerate(index_to_key):
                if k in digit_slots and messages[i] != reps[k]:
                    msg = messages[i]
                    slot = own_msg.get(msg)
                    if slot is None:
                        slot = own_msg[msg] = len(slot_pos)
                        slot_pos.append(masker.positions(msg))
                        slot_original.append(msg)
                    index_to_slot[i] = slot
        else:
            index_to_slot = index_to_key
        return _Slots(list(index_to_slot), [collapse(p) for p in slot_pos], traces,
                      slot_original)

    def _label(self, slots: _Slots, mined: dict[str, str]) -> Grouping:
        """Step 5: templates and ids per slot, from the mined ``{masked shape: template}``."""
        masker = self.masker
        templates: list[str] = []
        pids: list[str] = []
        for s, m in enumerate(slots.masked):
            st = slots.traces.get(s)
            if st is not None:
                tpl = " ".join(masker.mask(st.headline).split())
                pid = pattern_id_for(st.fingerprint, "trace")
            else:
                tpl = mined[m]
                if self.rules is not None:
                    tpl = self.rules.retemplate(tpl, slots.original[s])
                pid = pattern_id_for(tpl)
            templates.append(tpl)
            pids.append(pid)
        return Grouping(slots.index, pids, templates)


@dataclass
class _Slots:
    """One batch after folding and masking: a slot per distinct shape, an index per message."""

    index: list[int]
    masked: list[str]
    traces: dict[int, stacktrace.StackTrace]
    original: list[str]

    def shapes(self) -> set[str]:
        """The distinct masked shapes to mine (stack traces are fingerprinted, not mined)."""
        return {m for s, m in enumerate(self.masked) if s not in self.traces}


class StreamingGrouper:
    """Pattern ids for a stream of message batches, in two passes of bounded memory.

    Why: a day of logs does not fit in memory, but its *shapes* do.  The miner's result depends
    only on the set of distinct masked shapes (it mines them in sorted order), so
    :meth:`observe` keeps just that set from each batch, :meth:`fit` mines it once, and
    :meth:`assign` labels any batch by lookup.  Memory is bounded by the number of distinct
    shapes (≈ patterns and their constant variants), not by the number of lines; the ids are
    the ones :meth:`Engine.group` gives for all the messages at once.  ``fit`` may also be
    given a sample; shapes it never saw are then mined alone when first assigned (their ids
    can differ from the all-at-once run — observe everything first when that matters).
    """

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or Engine()
        self.shapes: set[str] = set()
        self.miner: Miner | None = None

    def observe(self, messages: Sequence[str]) -> None:
        """Remember the distinct shapes of one batch (first pass)."""
        self.shapes |= self.engine._slots(messages).shapes()

    def fit(self, messages: Sequence[str] | None = None) -> StreamingGrouper:
        """Mine the observed shapes (plus ``messages``, e.g. a sample) once."""
        if messages is not None:
            self.observe(messages)
        self.miner = Miner(self.engine.config)
        self.miner.fit(self.shapes)
        return self

    def assign(self, messages: Sequence[str]) -> Grouping:
        """Label one batch (second pass) with the fitted templates."""
        if self.miner is None:
            raise RuntimeError("StreamingGrouper.assign before fit")
        slots = self.engine._slots(messages)
        masked = sorted({m for s, m in enumerate(slots.masked) if s not in slots.traces})
        templates = self.miner.assign(masked) if masked else []
        return self.engine._label(slots, dict(zip(masked, templates, strict=True)))


def fold_digits_all(messages: Sequence[str]) -> list[str]:
    """:func:`fold_digits` of every message, in one pass over their bytes when possible."""
    if not messages:
        return []
    # Join on a separator no message holds (stack traces hold newlines), fold once, split.
    for sep in ("\n", "\x1f", "\x00"):
        joined = sep.join(messages)
        if joined.count(sep) != len(messages) - 1:
            continue
        # UTF-8 never uses ASCII bytes inside a multi-byte character: folding bytes is safe.
        folded = joined.encode("utf-8", "surrogatepass").translate(_DIGIT_BYTES)
        return folded.decode("utf-8", "surrogatepass").split(sep)
    return [m.translate(_DIGITS) for m in messages]


def group_messages(messages: Iterable[str], *, engine: Engine | None = None) -> Grouping:
    """Group ``messages`` with the default (or given) engine."""
    msgs = messages if isinstance(messages, list) else list(messages)
    return (engine or Engine()).group(msgs)


def fold_digits(text: str) -> str:
    """Every digit becomes ``0``: messages that differ only in their digits compare equal."""
    return text.translate(_DIGITS)


__all__ = ["WILDCARD", "Engine", "Grouping", "StreamingGrouper", "fold_digits", "group_messages",
           "pattern_id_for"]
