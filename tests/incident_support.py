"""Shared demo runs for the end-to-end incident tests (one per test process, reused).

The end-to-end tests are grouped (``xdist_group("e2e")``) so they land on one worker, where this
module-level cache makes every test reuse the same two runs instead of paying for new ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ID = "incident-2025-01-31-001"
SENTINEL = "irkit-sentinel-token-7f3a9c2e51"
EVENTS = 12_000


@dataclass
class DemoRuns:
    archive: Path
    raw: Path
    quiet_raw: Path
    first: dict
    second: dict
    first_manifest_before: dict[str, tuple[int, float]]


_CACHE: dict[str, DemoRuns] = {}


def irkit(*args: str, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would (real process, real exit code)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "irkit", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=900, check=False)


def open_args(raw: Path, archive: Path, incident_id: str = ID) -> list[str]:
    from irkit.demo import DemoIncident  # noqa: F401  (type of what generate wrote)

    logs = sorted(str(p) for p in (raw / "logs").iterdir())
    return ["open", incident_id, "--severity", "SEV-2", "--logs", *logs,
            "--deployments", str(raw / "deployments.json"), "--metrics", str(raw / "metrics.prom"),
            "--traces", str(raw / "traces.json"), "--archive", str(archive), "--json", "-q"]


def generate(out: Path, scenario: str) -> Path:
    """A demo incident with fixed file names (logs/ sub-folder) for the tests."""
    from irkit.demo import generate as gen

    incident = gen(out / "gen", seed=1, events=EVENTS, scenario=scenario)
    (out / "logs").mkdir(parents=True)
    for path in incident.logs:
        path.rename(out / "logs" / path.name)
    incident.deployments.rename(out / "deployments.json")
    incident.metrics.rename(out / "metrics.prom")
    incident.traces.rename(out / "traces.json")
    return out


def snapshot(run_dir: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(run_dir)): (p.stat().st_size, p.stat().st_mtime)
            for p in run_dir.rglob("*") if p.is_file()}


def demo_runs(factory: pytest.TempPathFactory) -> DemoRuns:
    """Two runs of one incident: the default demo, then the quiet scenario (edge cases)."""
    if "runs" not in _CACHE:
        base = factory.mktemp("e2e")
        archive = base / "archive"
        raw = generate(base / "default", "default")
        quiet = generate(base / "quiet", "quiet")
        env = {"VERCEL_TOKEN": SENTINEL, "IRKIT_SECRET_TEST": SENTINEL + "-2"}
        first = irkit(*open_args(raw, archive), env=env)
        assert first.returncode == 0, first.stderr[-3000:]
        first_result = json.loads(first.stdout)
        before = snapshot(Path(first_result["run_dir"]))
        second = irkit(*open_args(quiet, archive), env=env)
        assert second.returncode == 0, second.stderr[-3000:]
        _CACHE["runs"] = DemoRuns(archive=archive, raw=raw, quiet_raw=quiet, first=first_result,
                                  second=json.loads(second.stdout), first_manifest_before=before)
    return _CACHE["runs"]
