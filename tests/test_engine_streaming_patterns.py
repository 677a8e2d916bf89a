"""Streaming pattern mining: batches seen once, ids identical to grouping everything at once."""

from __future__ import annotations

import random

import pytest

from irkit.analysis.grouping import StreamingGrouper, group_messages

pytestmark = pytest.mark.xdist_group("engine-demo")


def _messages(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
    shapes = [
        lambda: f"User {rng.choice(users)} failed login from 10.0.{rng.randint(0, 9)}."
                f"{rng.randint(1, 254)}",
        lambda: f"GET /api/items/{rng.randint(1, 10**6)} took {rng.randint(1, 900)} ms",
        lambda: f"ECONNRESET upstream db-{rng.randint(1, 3)} after {rng.random():.3f}s",
        lambda: f"TypeError: Cannot read properties of undefined (reading '{rng.choice(users)}')"
                f"\n    at handler (/var/task/api/{rng.choice('ab')}.js:{rng.randint(1, 99)}:7)"
                "\n    at process (node:internal/process:12:3)",
        lambda: f"HTTP 50{rng.randint(0, 4)} from payments id={rng.getrandbits(32):08x}",
        lambda: f"cache miss key=session:{rng.getrandbits(24)} region iad1",
    ]
    return [rng.choice(shapes)() for _ in range(n)]


def test_batches_give_the_in_memory_ids() -> None:
    messages = _messages(6_000, seed=7)
    expected = group_messages(messages).ids()
    batches = [messages[i:i + 700] for i in range(0, len(messages), 700)]
    grouper = StreamingGrouper()
    for batch in batches:
        grouper.observe(batch)
    grouper.fit()
    got = [pid for batch in batches for pid in grouper.assign(batch).ids()]
    assert got == expected
    assert len(set(expected)) >= 5  # several patterns, not one catch-all
    # memory: what the grouper keeps is bounded by the shapes, not the 6,000 lines
    assert len(grouper.shapes) < 60
    assert len(grouper.miner.templates) < 60


def test_batch_order_does_not_change_ids() -> None:
    messages = _messages(3_000, seed=11)
    expected = dict(zip(messages, group_messages(messages).ids(), strict=True))
    batches = [messages[i:i + 500] for i in range(0, len(messages), 500)][::-1]
    grouper = StreamingGrouper()
    for batch in batches:
        grouper.observe(batch)
    grouper.fit()
    for batch in batches:
        assert grouper.assign(batch).ids() == [expected[m] for m in batch]


def test_assign_before_fit_is_refused() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        StreamingGrouper().assign(["x"])
