"""``irkit lab``: a real JupyterLab on a working copy, token-protected, notebook executes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from viz_fixtures import ONSET, make_deployments, make_events

from irkit import schema
from irkit.incident import archive as arc
from irkit.incident import lab
from irkit.incident.ids import new_run_id
from irkit.incident.tables import write_table

pytestmark = pytest.mark.xdist_group("viz-lab")

INCIDENT = "incident-2024-05-01-001"


def _tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture()
def archive(tmp_path: Path):
    """An archive with one read-only run in the incident team's layout."""
    root = tmp_path / "incidents"
    run = root / INCIDENT / "runs" / new_run_id()
    (run / "tables").mkdir(parents=True)
    events = make_events(3_000, seed=5)
    write_table(events, run / "tables" / "events.parquet", "events")
    write_table(make_deployments(), run / "tables" / "deployments.parquet", "deployments")
    write_table(schema.empty("metrics"), run / "tables" / "metrics.parquet", "metrics")
    write_table(schema.empty("rejected"), run / "tables" / "rejected.parquet", "rejected")
    findings = {"incident_id": INCIDENT, "error_onset": ONSET.isoformat(),
                "suspect_deployments": [{"deployment_id": "dpl_bad", "score": 0.9,
                                         "reason": "error rate ×30 <b>after</b>"}]}
    (run / "findings.json").write_text(json.dumps(findings))
    arc.make_read_only(run)
    yield root, run
    for path in (root / INCIDENT / "runs", root / INCIDENT / "work"):
        if path.exists():
            arc.make_writable(path)


def test_workspace_is_a_writable_copy(archive) -> None:
    root, run = archive
    before = _tree_digest(run)
    ws = lab.prepare_workspace(INCIDENT, root)
    assert ws.run_dir == run
    assert ws.work_dir.parent == root / INCIDENT / "work"
    assert ws.work_dir.name.startswith(run.name + "-")
    copied = _tree_digest(ws.work_dir)
    assert {k: v for k, v in copied.items() if k != lab.NOTEBOOK_NAME} == before
    assert (ws.work_dir / "tables" / "events.parquet").stat().st_mode & stat.S_IWUSR
    assert not (run / "tables" / "events.parquet").stat().st_mode & 0o222  # still read-only
    assert _tree_digest(run) == before  # original untouched
    second = lab.prepare_workspace(INCIDENT, root)
    assert second.work_dir != ws.work_dir  # every `irkit lab` gets its own copy
    import nbformat

    nb = nbformat.read(ws.notebook, as_version=4)
    nbformat.validate(nb)  # hand-built JSON is a valid notebook
    assert nb.metadata["irkit"]["run_id"] == run.name


def test_unknown_incident_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "irkit", "lab", "incident-2024-05-01-999",
                           "--archive", str(tmp_path), "--no-browser"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "incident-2024-05-01-999" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_irkit_lab_serves_token_protected_notebook_that_executes(archive) -> None:
    root, run = archive
    before = _tree_digest(run)
    port = lab.free_port()
    env = {k: v for k, v in os.environ.items() if k != "IRKIT_STATIC"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "irkit", "lab", INCIDENT, "--archive", str(root),
         "--port", str(port), "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = work = None
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("working copy: "):
                work = Path(line.split(": ", 1)[1].strip())
            if line.startswith("JupyterLab: "):
                url = line.split(": ", 1)[1].strip()
                break
        assert url is not None, proc.stderr.read() if proc.stderr else ""
        match = re.fullmatch(rf"http://127\.0\.0\.1:{port}/lab/tree/forensics\.ipynb"
                             r"\?token=([\w-]{32,})", url)
        assert match, url
        token = match.group(1)
        base = f"http://127.0.0.1:{port}"

        ok = httpx.get(f"{base}/api/status", headers={"Authorization": f"token {token}"})
        assert ok.status_code == 200 and "started" in ok.json()
        assert httpx.get(f"{base}/api/status").status_code == 403
        assert httpx.get(f"{base}/api/status",
                         headers={"Authorization": "token wrong"}).status_code == 403
        listing = httpx.get(f"{base}/api/contents", params={"token": token}).json()
        names = {item["name"] for item in listing["content"]}
        assert {"forensics.ipynb", "tables", "findings.json"} <= names

        # the notebook runs top to bottom against the copy (headless kernel → static output)
        import nbformat
        from nbclient import NotebookClient

        assert work is not None
        nb = nbformat.read(work / "forensics.ipynb", as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(work)}}).execute()
        outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
        assert "3,000" in outputs  # the event count of the copy's table
        assert "Plotly.newPlot" in outputs
        assert "&lt;b&gt;after&lt;/b&gt;" in outputs  # the suspects table is escaped
        assert '"ename"' not in outputs
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2)
    assert _tree_digest(run) == before
