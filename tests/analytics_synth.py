"""A small generator of canonical incident frames with known truth, for the analytics tests.

Independent of the demo generator on purpose: it makes edge cases (very low traffic, a
deployment far from the onset, traces-only latency) cheap to build and exact to assert.
Each request is an ``edge`` row (status, route, region, IP, deployment) plus a ``lambda``
REPORT row carrying its duration; failed requests also get an ``error`` log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irkit import schema

START = pd.Timestamp("2025-03-01T10:00:00Z")
ROUTES = ["/", "/api/orders/[id]", "/api/cart", "/products/[slug]", "/api/search"]
REGIONS = ["iad1", "fra1", "sfo1"]


@dataclass
class Synth:
    events: pd.DataFrame
    deployments: pd.DataFrame
    truth: dict = field(default_factory=dict)


def _sigma(p50: float, p95: float) -> float:
    return float(np.log(p95 / p50) / 1.6448536269514722)


def make(
    *,
    seed: int = 0,
    minutes: int = 180,
    per_minute: float = 200.0,
    base_error: float = 0.005,
    incident_error: float = 0.15,
    onset_min: int | None = 90,
    recovery_min: int | None = 130,
    bad_deploy: bool = True,
    healthy_deploy_min: int | None = 30,
    latency_before: tuple[float, float] = (120.0, 300.0),
    latency_after: tuple[float, float] = (360.0, 900.0),
    creep: bool = False,
    slow_route: str | None = None,
) -> Synth:
    """Generate one incident.

    ``onset_min``/``recovery_min`` are minutes after START.  With ``bad_deploy`` the onset is a
    deployment becoming ready and the recovery a rollback deployment; otherwise the errors come
    from outside (no deployment involved).  ``creep`` ramps latency linearly from the onset to
    the end instead of stepping, and leaves the error rate alone.  ``slow_route`` confines the
    latency regression to one route.
    """
    rng = np.random.default_rng(seed)
    minute_starts = START + pd.to_timedelta(np.arange(minutes), unit="min")
    n_per = rng.poisson(per_minute, minutes)
    n = int(n_per.sum())
    minute_of = np.repeat(np.arange(minutes), n_per)
    offsets = rng.uniform(0, 60, n)
    ts = minute_starts[minute_of] + pd.to_timedelta(offsets, unit="s")
    t_min = minute_of + offsets / 60.0

    deployments: list[dict] = []
    def deploy(did: str, ready_min: float, sha: str, message: str) -> None:
        ready = START + pd.Timedelta(minutes=ready_min)
        deployments.append({
            "deployment_id": did, "url": f"{did}.vercel.app",
            "created": ready - pd.Timedelta(seconds=75),
            "building_at": ready - pd.Timedelta(seconds=70),
            "ready": ready, "state": "READY", "target": "production", "source": "git",
            "commit_sha": sha, "commit_ref": "main", "commit_message": message, "author": "dana",
        })

    deploy("dpl_base", -600, "aaaaaaa1111111", "baseline release")
    if healthy_deploy_min is not None:
        deploy("dpl_healthy", healthy_deploy_min, "bbbbbbb2222222",
               "copy tweaks on the landing page")
    in_incident = np.zeros(n, dtype=bool)
    if onset_min is not None:
        end = recovery_min if recovery_min is not None else minutes + 1
        in_incident = (t_min >= onset_min) & (t_min < end)
    if bad_deploy and onset_min is not None:
        deploy("dpl_bad", onset_min, "ccccccc3333333", "refactor order serializer")
        if recovery_min is not None:
            deploy("dpl_rollback", recovery_min, "aaaaaaa1111111",
                   "Revert: refactor order serializer")

    dep_frame = pd.DataFrame(deployments).sort_values("ready", ignore_index=True)
    ready_min = ((dep_frame["ready"] - START).dt.total_seconds() / 60).to_numpy()
    served_by = np.searchsorted(ready_min, t_min, side="right") - 1
    dep_ids = dep_frame["deployment_id"].to_numpy()[served_by]

    error_p = np.full(n, base_error)
    if not creep:
        error_p[in_incident] = incident_error
    failed = rng.random(n) < error_p

    route_idx = rng.integers(0, len(ROUTES), n)
    routes = np.array(ROUTES)[route_idx]
    z = rng.standard_normal(n)
    b50, b95 = latency_before
    a50, a95 = latency_after
    durations = b50 * np.exp(_sigma(b50, b95) * z)
    affected = in_incident if slow_route is None else in_incident & (routes == slow_route)
    if creep:
        frac = np.clip((t_min - onset_min) / max(minutes - onset_min, 1), 0, 1) if onset_min else 0
        scale = 1 + frac * (a50 / b50 - 1)
        durations = np.where(t_min >= (onset_min or 0), durations * scale, durations)
    else:
        after = a50 * np.exp(_sigma(a50, a95) * z)
        durations = np.where(affected, after, durations)

    status = np.where(failed, 500, 200)
    rid = np.array([f"req-{seed}-{i:07d}" for i in range(n)], dtype=object)
    ips = np.array([f"203.0.113.{k}" for k in rng.integers(1, 200, n)], dtype=object)
    edge = pd.DataFrame({
        "timestamp": ts, "level": np.where(failed, "error", "info"), "source": "edge",
        "message": pd.array([pd.NA] * n, dtype=schema.STRING), "status_code": status,
        "method": "GET", "host": "shop.example.com", "path": routes, "route": routes,
        "client_ip": ips, "region": np.array(REGIONS)[rng.integers(0, 3, n)],
        "request_id": rid, "deployment_id": dep_ids,
    })
    report = pd.DataFrame({
        "timestamp": ts + pd.to_timedelta(durations, unit="ms"), "level": "info",
        "source": "lambda", "type": "stdout",
        "message": [f"REPORT RequestId: {r} Duration: {d:.2f} ms"
                    for r, d in zip(rid, durations, strict=True)],
        "request_id": rid, "deployment_id": dep_ids, "duration_ms": durations,
    })
    err_idx = np.flatnonzero(failed)
    in_bad = in_incident[err_idx] & bad_deploy
    err_msgs = np.where(
        in_bad,
        "TypeError: Cannot read properties of undefined (reading 'items')\n"
        "    at serialize (/var/task/order.js:42:7)",
        np.where(in_incident[err_idx], "Error: connect ETIMEDOUT 10.2.3.4:5432",
                 "Error: upstream returned 503 for /inventory"),
    )
    errors = pd.DataFrame({
        "timestamp": ts[err_idx] + pd.Timedelta(milliseconds=5), "level": "error",
        "source": "lambda", "type": "stderr", "message": err_msgs,
        "request_id": rid[err_idx], "deployment_id": dep_ids[err_idx],
    })
    events = pd.concat([edge, report, errors], ignore_index=True).sort_values(
        "timestamp", kind="stable", ignore_index=True)
    events = schema.conform(events, "events")
    deps = schema.conform(dep_frame, "deployments")

    before = durations[t_min < (onset_min if onset_min is not None else minutes)]
    after_mask = in_incident if slow_route is None else affected
    after_d = durations[after_mask] if onset_min is not None else np.array([])
    truth = {
        "onset": START + pd.Timedelta(minutes=onset_min) if onset_min is not None and (
            creep or incident_error > base_error or latency_after != latency_before) else None,
        "recovery": (START + pd.Timedelta(minutes=recovery_min)
                     if recovery_min is not None and onset_min is not None else None),
        "bad_deployment_id": "dpl_bad" if bad_deploy and onset_min is not None else None,
        "rollback_deployment_id": ("dpl_rollback" if bad_deploy and recovery_min is not None
                                   and onset_min is not None else None),
        "latency_before_p50": float(np.percentile(before, 50)) if len(before) else None,
        "latency_before_p95": float(np.percentile(before, 95)) if len(before) else None,
        "latency_after_p50": float(np.percentile(after_d, 50)) if len(after_d) else None,
        "latency_after_p95": float(np.percentile(after_d, 95)) if len(after_d) else None,
        "requests": n, "failed": int(failed.sum()),
    }
    return Synth(events=events, deployments=deps, truth=truth)


# -- the demo generator's incidents, loaded through the real loaders ---------------------------

#: (scenario, seed) pairs the analytics tests check against the demo's truth.
DEMO_CASES = [("default", 0), ("default", 7), ("latency_creep", 0), ("no_deployment", 0),
              ("low_traffic", 3), ("quiet", 0)]
DEMO_EVENTS = 30_000
_DEMO_CACHE: dict[tuple[str, int], dict] = {}


def demo_case(root, scenario: str, seed: int) -> dict:
    """Generate and load one demo incident once per test process (they take seconds each).

    Returns ``{"events", "deployments", "metrics", "truth"}``; ``root`` is a session temp dir.
    """
    key = (scenario, seed)
    if key not in _DEMO_CACHE:
        import irkit
        from irkit import demo

        inc = demo.generate(root / f"{scenario}-{seed}", seed=seed, scenario=scenario,
                            events=DEMO_EVENTS)
        _DEMO_CACHE[key] = {
            "events": irkit.load(inc.logs),
            "deployments": irkit.load_deployments(inc.deployments),
            "metrics": irkit.load_metrics(inc.metrics),
            "truth": inc.truth,
        }
    return _DEMO_CACHE[key]


def ts(value) -> pd.Timestamp | None:
    """Truth times come as ISO strings or timestamps."""
    return None if value is None else pd.Timestamp(value).tz_convert("UTC")
