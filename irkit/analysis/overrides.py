"""User override rules for the pattern engine: extra masks, merges and splits (TOML).

No generic miner gets every system right: a team knows that ``Payment failed for plan pro`` and
``… plan team`` are one pattern (merge), or that a ``<*>`` hides the distinction they care about
(split).  A small TOML file says so::

    # irkit-patterns.toml
    [[mask]]                       # extra masks, applied before the built-in ones
    name = "order"
    regex = 'ord_[A-Za-z0-9]+'

    [[merge]]                      # every template matching one of these regexes becomes `into`
    into = "Payment failed for plan <*>"
    match = ['^Payment failed for plan \\w+$']

    [[split]]                      # keep this value visible instead of <*>
    template = "Cache miss for region <*>"
    regex = 'region (\\w+)'        # group 1 of the message replaces the <*>

Merges and splits act on templates, so pattern ids stay derived from the final template and stay
stable across runs.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from irkit.errors import IrkitError


@dataclass(frozen=True)
class Merge:
    into: str
    match: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Split:
    template: str
    regex: re.Pattern[str]


@dataclass
class Rules:
    """Parsed override rules."""

    masks: list[tuple[str, str]] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    splits: list[Split] = field(default_factory=list)

    def engine(self):
        """An :class:`~irkit.analysis.grouping.Engine` applying these rules."""
        from irkit.analysis.grouping import Engine
        from irkit.analysis.masking import Masker

        return Engine(masker=Masker(self.masks), rules=self)

    def retemplate(self, template: str, message: str) -> str:
        """The final template of a message after merges and splits."""
        for split in self.splits:
            if template == split.template:
                m = split.regex.search(message)
                if m and m.groups():
                    value = m.group(1)
                    template = template.replace("<*>", value, 1)
                break
        for merge in self.merges:
            if any(rx.search(template) for rx in merge.match):
                return merge.into
        return template


def _compile(regex: object, where: str, path: Path) -> re.Pattern[str]:
    if not isinstance(regex, str) or not regex:
        raise IrkitError(f"{path}: {where}: 'regex' must be a non-empty string")
    try:
        return re.compile(regex)
    except re.error as exc:
        raise IrkitError(f"{path}: {where}: bad regex {regex!r} ({exc})") from None


def load_rules(path: Path | str) -> Rules:
    """Read and validate a rules file; any mistake is an :class:`IrkitError` naming the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IrkitError(f"{path}: cannot read rules ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise IrkitError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(data) - {"mask", "merge", "split"}
    if unknown:
        raise IrkitError(f"{path}: unknown rule tables {sorted(unknown)} "
                         "(expected [[mask]], [[merge]], [[split]])")
    rules = Rules()
    for i, item in enumerate(data.get("mask", [])):
        where = f"mask #{i + 1}"
        rx = _compile(item.get("regex"), where, path)
        rules.masks.append((str(item.get("name", f"user{i + 1}")), rx.pattern))
    for i, item in enumerate(data.get("merge", [])):
        where = f"merge #{i + 1}"
        into = item.get("into")
        if not isinstance(into, str) or not into:
            raise IrkitError(f"{path}: {where}: 'into' must be a non-empty string")
        matches = item.get("match")
        if isinstance(matches, str):
            matches = [matches]
        if not matches:
            raise IrkitError(f"{path}: {where}: 'match' must list at least one regex")
        rules.merges.append(Merge(into, tuple(_compile(m, where, path) for m in matches)))
    for i, item in enumerate(data.get("split", [])):
        where = f"split #{i + 1}"
        template = item.get("template")
        if not isinstance(template, str) or "<*>" not in template:
            raise IrkitError(f"{path}: {where}: 'template' must be a template with <*>")
        rules.splits.append(Split(template, _compile(item.get("regex"), where, path)))
    return rules
