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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from irkit.analysis import stacktrace
from irkit.analysis.masking import DEFAULT_MASKS, WILDCARD, mask
from irkit.analysis.miner import Miner, MinerConfig

if TYPE_CHECKING:
    from irkit.analysis.overrides import Rules

_DIGITS = str.maketrans("123456789", "000000000")


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
    """Masks, mines and labels messages; reusable across batches (``Miner.fit``/``assign``)."""

    masks: list = field(default_factory=lambda: DEFAULT_MASKS)
    config: MinerConfig = field(default_factory=MinerConfig)
    rules: Rules | None = None

    def group(self, messages: Sequence[str], folded: Sequence[str] | None = None) -> Grouping:
        """Group ``messages``; ``folded`` may pass the digit-folded messages precomputed."""
        # 1. fold exact duplicates and digits
        if folded is None:
            uniq: dict[str, int] = {}
            first_idx = [uniq.setdefault(m, len(uniq)) for m in messages]
            distinct = list(uniq)
            folded_distinct = [m.translate(_DIGITS) for m in distinct]
            key_of: dict[str, int] = {}
            rep_key = [key_of.setdefault(f, len(key_of)) for f in folded_distinct]
            index_to_key = [rep_key[i] for i in first_idx]
        else:
            key_of = {}
            index_to_key = [key_of.setdefault(f, len(key_of)) for f in folded]
        # representatives: the first message of each folded key
        nkeys = len(key_of)
        reps: list[str | None] = [None] * nkeys
        seen = 0
        for i, k in enumerate(index_to_key):
            if reps[k] is None:
                reps[k] = messages[i]
                seen += 1
                if seen == nkeys:
                    break
        # 2. mask representatives; detect digit-sensitive keys
        masked_rep: list[str] = []
        traces: dict[int, stacktrace.StackTrace] = {}
        sensitive: set[int] = set()
        for k, rep in enumerate(reps):
            assert rep is not None
            if "\n" in rep:
                st = stacktrace.parse(rep)
                if st is not None:
                    traces[k] = st
                    masked_rep.append("")
                    continue
            m = mask(rep, self.masks)
            masked_rep.append(m)
            if _digit_in_constant(m):
                sensitive.add(k)
        # refine the digit-sensitive keys: each distinct original message gets its own slot
        slot_masked = list(masked_rep)
        slot_original: list[str] = [r or "" for r in reps]
        extra: dict[tuple[int, str], int] = {}
        if sensitive:
            index_to_slot = list(index_to_key)
            for i, k in enumerate(index_to_key):
                if k in sensitive:
                    msg = messages[i]
                    if msg == reps[k]:
                        continue
                    slot = extra.get((k, msg))
                    if slot is None:
                        slot = len(slot_masked)
                        extra[(k, msg)] = slot
                        slot_masked.append(mask(msg, self.masks))
                        slot_original.append(msg)
                    index_to_slot[i] = slot
        else:
            index_to_slot = index_to_key
        # 3. mine the distinct masked shapes (stack-trace slots excluded)
        trace_slots = set(traces)
        shapes = {m for s, m in enumerate(slot_masked) if s not in trace_slots}
        miner = Miner(self.config)
        mined = miner.fit(shapes)
        # 4. templates and ids per slot
        templates: list[str] = []
        pids: list[str] = []
        for s, m in enumerate(slot_masked):
            if s in traces:
                st = traces[s]
                tpl = mask(st.headline, self.masks)
                tpl = " ".join(tpl.split())
                pid = pattern_id_for(st.fingerprint, "trace")
            else:
                tpl = mined[m]
                if self.rules is not None:
                    tpl = self.rules.retemplate(tpl, slot_original[s])
                pid = pattern_id_for(tpl)
            templates.append(tpl)
            pids.append(pid)
        return Grouping(index_to_slot, pids, templates)


def _digit_in_constant(masked: str) -> bool:
    """Whether a masked message still has a digit outside its wildcards."""
    return any(ch in masked for ch in "0123456789")


def group_messages(messages: Iterable[str], *, engine: Engine | None = None) -> Grouping:
    """Group ``messages`` with the default (or given) engine."""
    msgs = messages if isinstance(messages, list) else list(messages)
    return (engine or Engine()).group(msgs)


def fold_digits(text: str) -> str:
    """Every digit becomes ``0``: messages that differ only in their digits compare equal."""
    return text.translate(_DIGITS)


__all__ = ["WILDCARD", "Engine", "Grouping", "fold_digits", "group_messages", "pattern_id_for"]
