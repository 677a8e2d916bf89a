"""Synthetic canonical tables with known structure for the plot and widget tests.

Built here rather than from the demo generator so that each test knows exactly which bucket
holds which requests, errors and durations, and can put hostile text where labels go.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from irkit import schema

T0 = pd.Timestamp("2024-05-01T10:00:00Z")
ONSET = T0 + pd.Timedelta("60min")
HOSTILE = "<img src=x onerror=alert(1)>"
ROUTES = ("/api/a", "/api/b", "/<script>alert(2)</script>", "/")


def make_events(n: int, *, seed: int = 0, minutes: int = 120) -> pd.DataFrame:
    """``n`` requests over ``minutes``: 1% 5xx before ``ONSET``, 30% after; durations ×3 after.

    Every request is one row with a request id, a status, a route and a duration; error rows
    carry a hostile message.
    """
    rng = np.random.default_rng(seed)
    secs = np.sort(rng.uniform(0, minutes * 60, n))
    ts = T0 + pd.to_timedelta(secs, unit="s")
    after = ts >= ONSET
    err = rng.random(n) < np.where(after, 0.30, 0.01)
    dur = rng.lognormal(np.log(np.where(after, 300.0, 100.0)), 0.3)
    routes = np.array(ROUTES)[rng.integers(0, len(ROUTES), n)]
    deployment = np.where(after, "dpl_bad", "dpl_good")
    frame = pd.DataFrame({
        "timestamp": ts,
        "level": np.where(err, "error", "info"),
        "source": "lambda",
        "message": np.where(err, "TypeError: cannot read " + HOSTILE, "GET ok"),
        "status_code": np.where(err, 500, 200),
        "route": routes,
        "path": routes,
        "request_id": [f"req{i}" for i in range(n)],
        "duration_ms": dur,
        "region": np.where(rng.random(n) < 0.5, "iad1", "fra1"),
        "client_ip": "203.0.113.7",
        "deployment_id": deployment,
    })
    return schema.conform(frame)


def make_deployments() -> pd.DataFrame:
    """Three deployments: one long before the data, one in it, one (the bad one) at the onset."""
    return schema.conform({
        "deployment_id": ["dpl_old", "dpl_good", "dpl_bad"],
        "created": [T0 - pd.Timedelta("3D"), T0 + pd.Timedelta("9min"),
                    ONSET - pd.Timedelta("3min")],
        "ready": [T0 - pd.Timedelta("3D"), T0 + pd.Timedelta("10min"),
                  ONSET - pd.Timedelta("1min")],
        "commit_sha": ["0000000aaaa", "abcdef1234567", "1234567abcdef"],
        "commit_message": ["old", "fix: " + HOSTILE, "feat: new checkout\nsecond line"],
        "author": ["a", "b", "c"],
    }, "deployments")
