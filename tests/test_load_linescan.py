"""The line scan that lets the fast NDJSON path number records by position.

A blank line is skipped silently by the JSON parser, so every later record would get the wrong
``origin_line`` (and a streamed load would duplicate rows) unless the scan finds it first.
"""

from __future__ import annotations

import gzip
import mmap
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from irkit.sources import drains
from irkit.sources.base import LineScan

DATA = Path(__file__).parent / "data" / "formats"


def reference(raw: bytes) -> tuple[int, int | None]:
    """(physical lines, first blank line) the slow, obvious way."""
    if not raw:
        return 0, None
    parts = raw.split(b"\n")
    if parts[-1] == b"":
        parts = parts[:-1]
    blank = next((i + 1 for i, line in enumerate(parts) if not line.strip(b" \t\r")), None)
    return len(parts), blank


line = st.one_of(st.just(b'{"message":"x"}'), st.just(b""), st.just(b" \t"), st.just(b"\r"),
                 st.binary(min_size=1, max_size=9000).map(lambda b: b.replace(b"\n", b"a")))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line, max_size=12), trailing_newline=st.booleans())
def test_scan_matches_reference_across_window_edges(tmp_path: Path, lines: list[bytes],
                                                    trailing_newline: bool) -> None:
    raw = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    assume(not raw.startswith(b"\x1f\x8b"))  # gzip magic: read as gzip, by design
    plain = tmp_path / "plain.ndjson"
    plain.write_bytes(raw)
    packed = tmp_path / "packed.ndjson.gz"
    packed.write_bytes(gzip.compress(raw))
    expected = reference(raw)
    for path, window in ((plain, mmap.ALLOCATIONGRANULARITY), (packed, 1 << 26)):
        found = LineScan(path, window=window).run()
        assert (found.lines, found.first_blank) == expected, (path.name, raw[:200])
        assert found.complete
        counted = LineScan(path, window=window, find_blank=False).run()
        assert (counted.lines, counted.first_blank, counted.complete) == (expected[0], None, True)


@pytest.mark.parametrize("where", [0, 3, 9])
@pytest.mark.parametrize("blank", ["", "   \t", "\r"])
def test_streamed_batches_never_shift_past_a_blank_line(tmp_path: Path, where: int,
                                                        blank: str) -> None:
    lines = (DATA / "drain_current.ndjson").read_text().splitlines()
    lines = (lines * 3)[:10]
    path = tmp_path / "blank.ndjson"
    path.write_text("\n".join([*lines[:where], blank, *lines[where:]]) + "\n")
    whole = drains.read_ndjson(path).table
    assert len(whole) == 10 and where + 1 not in set(whole["origin_line"])
    for batch_rows in (1, 2, 4, 100):
        streamed = pd.concat(list(drains.iter_event_batches(path, batch_rows=batch_rows)),
                             ignore_index=True)
        pd.testing.assert_frame_equal(streamed, whole)


@pytest.mark.parametrize("shift", [-2, -1, 0, 1, 2])
def test_blank_line_at_a_step_edge_inside_one_window(tmp_path: Path, shift: int) -> None:
    """Windows are scanned 1 MB at a time: a blank line across that edge is still found."""
    from irkit.sources.base import _STEP

    record = b'{"message":"' + b"x" * 80 + b'"}\n'
    head = record * ((_STEP + shift) // len(record))
    pad = _STEP + shift - len(head)  # make the blank line start exactly at _STEP + shift
    head = head[:-len(record)] + record[:-1].replace(b"x" * 80, b"x" * (80 + pad)) + b"\n"
    raw = head + b" \t\r\n" + record * 20_000
    path = tmp_path / "edge.ndjson"
    path.write_bytes(raw)
    assert raw.index(b"\n \t\r\n") + 1 == _STEP + shift
    found = LineScan(path).run()
    assert (found.lines, found.first_blank) == reference(raw)
