"""Loading switches Arrow to the system allocator, and only when the user made no choice."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest

import irkit.sources as sources
from irkit.sources.arrow_memory import system_allocator

CURRENT = Path(__file__).parent / "data" / "formats" / "drain_current.ndjson"


def backend_while_loading(monkeypatch: pytest.MonkeyPatch) -> str:
    seen: list[str] = []
    real = sources.load_file

    def spying(path, format="auto"):
        seen.append(pa.default_memory_pool().backend_name)
        return real(path, format)

    monkeypatch.setattr(sources, "load_file", spying)
    result = sources.load_report(CURRENT)
    assert len(result.events) == 5
    return seen[0]


def test_load_uses_the_system_allocator_and_puts_the_pool_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    before = pa.default_memory_pool()
    if before.backend_name != "mimalloc":
        pytest.skip("pyarrow built without mimalloc: nothing to switch")
    assert backend_while_loading(monkeypatch) == "system"
    assert pa.default_memory_pool().backend_name == before.backend_name


def test_a_pool_the_user_chose_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
    before = pa.default_memory_pool().backend_name
    assert backend_while_loading(monkeypatch) == before
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
    previous = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:
        pytest.skip("pyarrow built without jemalloc")
    try:
        assert backend_while_loading(monkeypatch) == "jemalloc"
    finally:
        pa.set_memory_pool(previous)


def test_overlapping_loads_restore_the_pool_only_when_the_last_ends(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    before = pa.default_memory_pool().backend_name
    if before != "mimalloc":
        pytest.skip("pyarrow built without mimalloc: nothing to switch")
    inside, leave = threading.Event(), threading.Event()

    def other_load() -> None:
        with system_allocator():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other_load)
    thread.start()
    inside.wait(10)
    with system_allocator():
        buffer = pa.allocate_buffer(1 << 20)  # freed after the scope, through its own pool
    assert pa.default_memory_pool().backend_name == "system"  # the other load is still on
    leave.set()
    thread.join()
    assert pa.default_memory_pool().backend_name == before
    del buffer
