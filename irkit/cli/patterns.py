"""``irkit patterns PATH [--text] [--per-line] [--format table|csv|json] [--rules FILE]``.

With ``--text`` the file is plain text, one message per line, taken as is (a line that looks like
JSON is still just text).  That path imports neither pandas nor pyarrow: reading, grouping and
writing 400k lines must cost less than the interpreter's start-up budget allows.
Without ``--text`` the file goes through ``irkit.load`` and only ERROR/FATAL events are grouped.

The per-line CSV (``line,pattern_id,template``) is a machine format read by evaluators: templates
are written verbatim (RFC 4180 quoting only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from irkit.errors import IrkitError
from irkit.safety import csv_cell


def read_text_lines(path: Path) -> list[str]:
    """The messages of a plain-text file: one per ``\\n``-terminated line, blank lines included."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IrkitError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data[:2] == b"\x1f\x8b":
        import gzip

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise IrkitError(f"{path}: broken gzip data ({exc})") from None
    text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if "\r" in text:
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    return lines


def _csv_field(value: str) -> str:
    """A CSV field for a template: formula prefixes neutralised (``'``), quoted when needed.

    Templates come from log text, which attackers write; a template that starts with ``=``,
    ``+``, ``-``, ``@``, tab or CR is written with a leading ``'`` as in every irkit CSV export.
    """
    value = csv_cell(value)
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _engine(rules: Path | None):
    from irkit.analysis.grouping import Engine

    if rules is None:
        return Engine()
    from irkit.analysis.overrides import load_rules

    return load_rules(rules).engine()


def _write_per_line(out, lines_ids: list[str], lines_tpl: list[str], fmt: str) -> None:
    if fmt == "csv":
        out.write("line,pattern_id,template\n")
        cache: dict[tuple[str, str], str] = {}
        chunk: list[str] = []
        for n, key in enumerate(zip(lines_ids, lines_tpl, strict=True), 1):
            suffix = cache.get(key)
            if suffix is None:
                suffix = f",{key[0]},{_csv_field(key[1])}\n"
                cache[key] = suffix
            chunk.append(f"{n}{suffix}")
            if len(chunk) >= 65536:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    elif fmt == "json":
        out.write("[")
        for n, (pid, tpl) in enumerate(zip(lines_ids, lines_tpl, strict=True), 1):
            sep = "," if n > 1 else ""
            out.write(f'{sep}\n{{"line": {n}, "pattern_id": "{pid}", '
                      f'"template": {json.dumps(tpl, ensure_ascii=False)}}}')
        out.write("\n]\n")
    else:
        for n, (pid, tpl) in enumerate(zip(lines_ids, lines_tpl, strict=True), 1):
            out.write(f"{n:>8}  {pid}  {_printable(tpl)}\n")


def _printable(text: str) -> str:
    """Terminal-safe text: control characters (escape sequences) shown as ``\\xNN``."""
    return "".join(ch if ch.isprintable() or ch == " " else f"\\x{ord(ch):02x}" for ch in text)


def _write_summary(out, rows: list[dict], fmt: str) -> None:
    if fmt == "json":
        out.write(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
        out.write("\n")
    elif fmt == "csv":
        out.write("pattern_id,count,share,template\n")
        for r in rows:
            out.write(f"{r['pattern_id']},{r['count']},{r['share']:.6f},"
                      f"{_csv_field(r['template'])}\n")
    else:
        out.write(f"{'count':>8}  {'share':>6}  {'pattern_id':<10}  template\n")
        for r in rows:
            out.write(f"{r['count']:>8}  {r['share']:>6.1%}  {r['pattern_id']:<10}  "
                      f"{_printable(r['template'])}\n")


def _text_summary(ids: list[str], templates: list[str]) -> list[dict]:
    counts: dict[str, int] = {}
    tpl: dict[str, str] = {}
    for pid, t in zip(ids, templates, strict=True):
        counts[pid] = counts.get(pid, 0) + 1
        tpl.setdefault(pid, t)
    total = len(ids) or 1
    order = sorted(counts, key=lambda p: (-counts[p], p))
    return [{"pattern_id": p, "count": counts[p], "share": counts[p] / total,
             "template": tpl[p]} for p in order]


@click.command("patterns")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--text", "as_text", is_flag=True,
              help="PATH is plain text, one message per line (taken as is).")
@click.option("--per-line", is_flag=True, help="One row per input line, in input order.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--rules", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML override rules: merge/split patterns, extra masks.")
def patterns(path: Path, as_text: bool, per_line: bool, fmt: str, rules: Path | None) -> None:
    """Group error messages into patterns (ERROR/FATAL events, or every line with --text)."""
    if not path.exists():
        raise IrkitError(f"{path}: no such file")
    engine = _engine(rules)
    out = sys.stdout
    if as_text:
        from irkit.analysis.grouping import group_messages

        lines = read_text_lines(path)
        grouping = group_messages(lines, engine=engine)
        ids, tpls = grouping.ids(), grouping.per_line_templates()
        if per_line:
            _write_per_line(out, ids, tpls, fmt)
        else:
            _write_summary(out, _text_summary(ids, tpls), fmt)
        out.flush()
        return
    _patterns_from_events(path, per_line, fmt, engine, out)


def _patterns_from_events(path: Path, per_line: bool, fmt: str, engine, out) -> None:
    import irkit
    from irkit.analysis import patterns as pat

    try:
        events = irkit.load(path)
    except IrkitError:
        raise
    except (OSError, ValueError) as exc:
        raise IrkitError(f"{path}: cannot load ({exc})") from None
    if per_line:
        labelled = pat.label(events, levels=None, engine=engine)
        _write_per_line(out, labelled["pattern_id"].tolist(), labelled["template"].tolist(), fmt)
        return
    table = pat.patterns(events, engine=engine)
    rows = [{"pattern_id": r.pattern_id, "count": int(r.count), "share": float(r.share),
             "template": r.template, "first_seen": _iso(r.first_seen),
             "last_seen": _iso(r.last_seen),
             "new_since_deployment": r.new_since_deployment
             if isinstance(r.new_since_deployment, str) else None}
            for r in table.itertuples()]
    _write_summary(out, rows, fmt)


def _iso(value: object) -> str | None:
    """ISO 8601 for a timestamp, ``None`` for a missing one."""
    iso = getattr(value, "isoformat", None)
    if iso is None or value != value:  # NaT compares unequal to itself
        return None
    return iso()
