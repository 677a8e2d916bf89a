"""``irkit lab``: JupyterLab on a working copy of an incident's latest run.

Why a copy: the archived run is evidence (read-only, hashed in its manifest, verified by
``irkit verify``).  Forensic work writes notebooks, caches and scratch files, so it happens in
``<archive>/<incident_id>/work/<run_id>-<UTC time>/`` — a fresh, writable copy of the run — and
the original is never opened for writing.  The copy holds a forensic notebook wired to its own
``tables/*.parquet`` and ``findings.json``, so ``irkit open`` → ``irkit lab`` → analysis is one
command.

The server listens on 127.0.0.1 only, with a random token from :mod:`secrets` passed through
the environment (``JUPYTER_TOKEN``), not the command line where other local users could read
it from the process list.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irkit.errors import IrkitError
from irkit.incident import archive as arc
from irkit.safety import markdown_text

NOTEBOOK_NAME = "forensics.ipynb"
#: Seconds to wait for the server's ``/api/status``.
START_TIMEOUT = 90.0


@dataclass
class Workspace:
    """A writable working copy of one archived run, with its forensic notebook."""

    incident_id: str
    run_dir: Path  #: the archived original (never written)
    work_dir: Path  #: the copy
    notebook: Path


def prepare_workspace(incident_id: str, archive: str | os.PathLike[str] | None = None, *,
                      now: datetime | None = None) -> Workspace:
    """Copy the latest run of ``incident_id`` to a new working folder and write the notebook.

    The copy is made writable (archived files are 0444); the original is only read.
    """
    run = arc.latest_run(incident_id, archive)
    root = arc.archive_root(archive)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = arc.incident_dir(root, incident_id) / "work"
    base.mkdir(parents=True, exist_ok=True)
    work = base / f"{run.name}-{stamp}"
    n = 1
    while work.exists():
        n += 1
        work = base / f"{run.name}-{stamp}-{n}"
    try:
        shutil.copytree(run, work, copy_function=shutil.copyfile, symlinks=True)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise IrkitError(f"{run}: cannot copy the run to {work} ({exc.strerror or exc})") from None
    arc.make_writable(work)
    notebook = work / NOTEBOOK_NAME
    write_notebook(notebook, incident_id=incident_id, run_dir=run, work_dir=work)
    return Workspace(incident_id=incident_id, run_dir=run, work_dir=work, notebook=notebook)


def _cell(kind: str, source: str) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": secrets.token_hex(4), "metadata": {},
                            "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def forensic_notebook(*, incident_id: str, run_dir: Path, work_dir: Path) -> dict[str, Any]:
    """The forensic notebook (nbformat 4.5 JSON): loads the copy's tables and findings.

    Paths are relative to the notebook (the kernel's working directory in JupyterLab), so the
    working copy can be moved or zipped and still run.  Built as plain JSON rather than with
    nbformat, whose import costs seconds (its validator's dependencies) on every ``irkit lab``.
    """
    title = markdown_text(incident_id)
    intro = (
        f"# Forensic analysis: {title}\n\n"
        f"Working copy of run `{markdown_text(run_dir.name)}`, made "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. The archived original "
        "is evidence and stays untouched; everything here (this notebook included) is "
        "scratch. `irkit verify` checks the original.\n\n"
        "Tables: `tables/events.parquet`, `tables/deployments.parquet`, "
        "`tables/metrics.parquet`, `tables/rejected.parquet`; computed findings: "
        "`findings.json`."
    )
    load = (
        "import json\n"
        "from pathlib import Path\n\n"
        "import pandas as pd\n\n"
        "import irkit\n"
        "from irkit import plots\n"
        "from irkit.display import show_figure, show_markdown, show_table\n"
        "from irkit.incident.tables import read_table\n\n"
        "RUN = Path('.').resolve()  # the working copy (this notebook's folder)\n"
        "events = read_table(RUN / 'tables' / 'events.parquet', 'events')\n"
        "deployments = read_table(RUN / 'tables' / 'deployments.parquet', 'deployments')\n"
        "metrics = read_table(RUN / 'tables' / 'metrics.parquet', 'metrics')\n"
        "rejected = read_table(RUN / 'tables' / 'rejected.parquet', 'rejected')\n"
        "findings_file = RUN / 'findings.json'\n"
        "findings = json.loads(findings_file.read_text()) if findings_file.exists() else {}\n"
        "onset = findings.get('error_onset')\n"
        "show_markdown('**{n}** events ({r} rejected records), **{d}** deployments, '\n"
        "              '**{m}** metric samples; error onset: **{o}**',\n"
        "              n=len(events), r=len(rejected), d=len(deployments), m=len(metrics),\n"
        "              o=onset or 'none found')"
    )
    suspects = (
        "suspects = pd.DataFrame(findings.get('suspect_deployments') or [])\n"
        "show_table(suspects, caption='Suspect deployments (most suspect first)')"
    )
    figures = (
        "for fig in (plots.error_rate(events, deployments, onset),\n"
        "            plots.status_mix(events, deployments, onset),\n"
        "            plots.latency_bands(events, deployments, onset),\n"
        "            plots.latency_heatmap(events, deployments, onset)):\n"
        "    show_figure(fig)"
    )
    pattern_cell = (
        "pattern_table = irkit.patterns(events, deployments=deployments)\n"
        "show_table(pattern_table, caption='Error patterns',\n"
        "           columns=['pattern_id', 'count', 'template', 'first_seen', 'last_seen',\n"
        "                    'new_since_deployment'], max_rows=25)"
    )
    explore = (
        "# filter by time, level, route, status, deployment and region; the table and plots "
        "follow\n"
        "explorer = irkit.explore(events, deployments)\n"
        "explorer"
    )
    cells = [
        _cell("markdown", intro),
        _cell("code", load),
        _cell("markdown", "## Suspect deployments"),
        _cell("code", suspects),
        _cell("markdown", "## Error rate, status mix and latency (UTC, deployments marked)"),
        _cell("code", figures),
        _cell("markdown", "## Error patterns"),
        _cell("code", pattern_cell),
        _cell("markdown", "## Explore"),
        _cell("code", explore),
        _cell("markdown", "## Notes and further analysis"),
        _cell("code", ""),
    ]
    metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "irkit": {"incident_id": incident_id, "run_id": run_dir.name,
                  "original_run": str(run_dir), "working_copy": str(work_dir)},
    }
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def write_notebook(path: Path, *, incident_id: str, run_dir: Path, work_dir: Path) -> Path:
    """Write :func:`forensic_notebook` to ``path``."""
    nb = forensic_notebook(incident_id=incident_id, run_dir=run_dir, work_dir=work_dir)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running ``jupyter lab`` process serving one workspace."""

    process: subprocess.Popen
    port: int
    token: str
    workspace: Workspace

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The URL to open: the forensic notebook, logged in with the token."""
        return f"{self.base_url}/lab/tree/{NOTEBOOK_NAME}?token={self.token}"

    def stop(self, timeout: float = 20.0) -> int | None:
        """Stop the server (SIGTERM: jupyter shuts its kernels down), then wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        return self.process.returncode


def lab_command(workspace: Workspace, port: int) -> list[str]:
    """The ``jupyter lab`` command line (no token on it: that goes through the environment)."""
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # never silently move to another port than printed
        f"--ServerApp.root_dir={workspace.work_dir}",
        "--ServerApp.allow_remote_access=False",
        "--LabApp.news_url=",  # no outbound fetch of news
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # jupyter refuses to start as root otherwise
    return cmd


def start_lab(workspace: Workspace, *, port: int | None = None,
              timeout: float = START_TIMEOUT, log: Path | None = None) -> LabServer:
    """Start JupyterLab on ``workspace`` and return once ``/api/status`` answers.

    The server's output goes to ``log`` (default ``<work_dir>/.jupyter-lab.log``), which is
    named in the error if the server does not come up.
    """
    port = port or free_port()
    token = secrets.token_urlsafe(32)
    log = log or workspace.work_dir / ".jupyter-lab.log"
    env = {**os.environ, "JUPYTER_TOKEN": token,
           "JUPYTER_RUNTIME_DIR": str(workspace.work_dir / ".jupyter-runtime")}
    env.pop("IRKIT_STATIC", None)
    with open(log, "ab") as out:
        process = subprocess.Popen(lab_command(workspace, port), cwd=workspace.work_dir,
                                   env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = LabServer(process=process, port=port, token=token, workspace=workspace)
    try:
        wait_ready(server, timeout=timeout, log=log)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: LabServer, *, timeout: float, log: Path) -> None:
    """Poll ``/api/status`` (with the token) until it answers 200."""
    import httpx

    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"token {server.token}"}
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise IrkitError(f"jupyter lab exited with code {server.process.returncode} "
                             f"before answering (see {log})")
        try:
            response = httpx.get(f"{server.base_url}/api/status", headers=headers, timeout=2.0)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise IrkitError(f"jupyter lab did not answer on port {server.port} within "
                     f"{timeout:.0f} s (see {log})")
