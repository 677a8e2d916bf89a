"""``irkit open``: one incident run, from raw evidence to a committed, verifiable archive folder.

Pipeline: validate → copy evidence → load once → Parquet tables → findings (package-computed) →
three templates executed IN PARALLEL by papermill in a process pool (one at a time for evidence
past :data:`PARALLEL_TEMPLATES_MAX_BYTES`), each rendered to HTML in the same worker → PIR
Markdown → manifest (with the previous run's hash) → secret scan → read-only →
atomic rename of ``runs/.tmp-<id>`` to ``runs/<id>``.

The pool's workers are started (and import papermill/nbconvert, ~1.6 s each) while the evidence
is being loaded, so that cost is hidden behind the data work.  A template that fails leaves its
executed notebook (with the error) and an HTML report saying so; the other templates still run
and the run is still archived, but :attr:`RunResult.ok` is False (``irkit open`` exits 1).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irkit import __version__
from irkit.errors import IrkitError
from irkit.incident import archive as arc
from irkit.incident.ids import validate_incident_id, validate_severity
from irkit.incident.ingest import check_copies, check_inputs, ingest_evidence
from irkit.incident.manifest import MANIFEST, build_manifest, write_manifest
from irkit.incident.reports import MAX_REPORT_BYTES, ReportInfo
from irkit.incident.secrets import SecretLeak, check_no_secrets, secret_values
from irkit.incident.templates import TEMPLATES, TITLES, template_path

#: progress(stage, state, detail): state is "start", "done" or "failed".
Progress = Callable[[str, str, str], None]
#: Per-cell limit for template execution (a stuck cell must not hang an incident run).
CELL_TIMEOUT_S = 900
#: Kernel start limit: generous, because on a loaded 2-core box a kernel can take > 60 s.
KERNEL_START_TIMEOUT_S = 300
#: How often a template is started when its kernel dies before answering.  Such a kernel ran
#: nothing, so starting again is safe.  The usual cause is a race: jupyter_client picks free
#: TCP ports and the kernel binds them a moment later, and when kernels start side by side
#: (three templates, several runs) another process can take one in between ("Address already
#: in use").
KERNEL_START_ATTEMPTS = 3
_KERNEL_NEVER_STARTED = "Kernel died before replying to kernel_info"


@dataclass
class TemplateJob:
    """Everything a worker needs to execute and render one template (picklable)."""

    name: str
    template: str
    notebook: str
    report: str
    cwd: str
    parameters: dict[str, Any]
    info: ReportInfo
    show_code: bool


@dataclass
class TemplateResult:
    """How one template went."""

    name: str
    ok: bool
    notebook: str
    report: str | None
    error: str | None = None
    execute_s: float = 0.0
    render_s: float = 0.0
    report_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunResult:
    """A committed run."""

    incident_id: str
    run_id: str
    run_dir: Path
    templates: list[TemplateResult]
    findings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    pir: Path | None = None

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.templates)

    @property
    def reports(self) -> list[Path]:
        out = [self.run_dir / t.report for t in self.templates if t.report]
        return out + ([self.pir] if self.pir else [])

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object: SPEC's ``run_dir``, ``reports``, ``findings`` plus details."""
        return {
            "run_dir": str(self.run_dir),
            "reports": [str(p) for p in self.reports],
            "findings": self.findings,
            "incident_id": self.incident_id,
            "run_id": self.run_id,
            "ok": self.ok,
            "templates": [t.as_dict() for t in self.templates],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


# --- worker side --------------------------------------------------------------------------

def _worker_init() -> None:
    """Pay papermill/nbconvert's import cost once per worker, and make plotly embed offline.

    Kernels inherit the worker's stderr; it goes to a private log file (outside the run) so
    kernel chatter does not garble the progress display, and its tail is kept for errors.
    """
    os.environ["PLOTLY_RENDERER"] = "notebook"
    fd, name = tempfile.mkstemp(prefix="irkit-kernel-", suffix=".log")
    os.dup2(fd, 2)
    os.close(fd)
    os.environ["IRKIT_KERNEL_LOG"] = name
    import nbconvert  # noqa: F401
    import papermill  # noqa: F401


def _warm() -> int:
    return os.getpid()


def _kernel_log_tail(chars: int = 300) -> str:
    path = os.environ.get("IRKIT_KERNEL_LOG")
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as fh:
        fh.seek(max(0, os.path.getsize(path) - chars))
        tail = " ".join(fh.read().decode("utf-8", "replace").split())
    return f" (kernel stderr: …{tail})" if tail else ""


def execute_template(job: TemplateJob) -> TemplateResult:
    """Execute one template with papermill, then render it to HTML (runs in a pool worker)."""
    import nbformat
    import papermill as pm

    from irkit.incident.reports import notebook_error, render_html

    os.environ["PLOTLY_RENDERER"] = "notebook"
    notebook, report = Path(job.notebook), Path(job.report)
    error: str | None = None
    t0 = time.perf_counter()
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        try:
            pm.execute_notebook(job.template, str(notebook), parameters=job.parameters,
                                kernel_name="python3", cwd=job.cwd, progress_bar=False,
                                log_output=False, execution_timeout=CELL_TIMEOUT_S,
                                start_timeout=KERNEL_START_TIMEOUT_S)
        except pm.PapermillExecutionError as exc:
            error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"[:500]
        except Exception as exc:  # kernel died, timeout, bad template: still leave a notebook
            if _KERNEL_NEVER_STARTED in str(exc) and attempt < KERNEL_START_ATTEMPTS:
                continue
            error = f"{type(exc).__name__}: {exc}"[:300] + _kernel_log_tail()
            if attempt > 1:
                error += f" (kernel started {attempt} times)"
        break
    if not notebook.exists():
        nb = nbformat.read(job.template, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(
            f"**irkit: this template did not run.** {error or 'unknown error'}"))
        nbformat.write(nb, notebook)
    execute_s = time.perf_counter() - t0
    if error is None:
        error = notebook_error(notebook)
    t0 = time.perf_counter()
    job.info.error = f"template failed at {error}" if error else None
    try:
        render_html(notebook, report, job.info, show_code=job.show_code)
        size = report.stat().st_size
        if size > MAX_REPORT_BYTES and error is None:
            error = (f"report is {size / 1e6:.1f} MB, above the "
                     f"{MAX_REPORT_BYTES / 1e6:.0f} MB limit")
    except Exception as exc:
        error = error or f"HTML export failed: {type(exc).__name__}: {exc}"[:500]
        size = 0
    cwd = Path(job.cwd).parent
    return TemplateResult(
        name=job.name, ok=error is None,
        notebook=notebook.relative_to(cwd).as_posix(),
        report=report.relative_to(cwd).as_posix() if report.exists() else None,
        error=error, execute_s=execute_s, render_s=time.perf_counter() - t0, report_bytes=size)


#: Above this many bytes of log and trace evidence the templates run one at a time: each
#: kernel holds the run's request or client-request table, and at 10M requests the three
#: kernels side by side took 6.6 GB.  ``IRKIT_TEMPLATE_WORKERS`` overrides.
PARALLEL_TEMPLATES_MAX_BYTES = 2 << 30


def template_workers(inputs: Mapping[str, Sequence[str | os.PathLike[str]]]) -> int:
    """How many templates run at once: ``IRKIT_TEMPLATE_WORKERS`` (1–3), else all of them
    unless the evidence is larger than :data:`PARALLEL_TEMPLATES_MAX_BYTES`."""
    raw = os.environ.get("IRKIT_TEMPLATE_WORKERS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise IrkitError(f"IRKIT_TEMPLATE_WORKERS={raw!r}: expected a whole number ≥ 1")
        return min(int(raw), len(TEMPLATES))
    size = sum(Path(p).stat().st_size for kind in ("logs", "traces")
               for p in inputs.get(kind, ()))
    return len(TEMPLATES) if size <= PARALLEL_TEMPLATES_MAX_BYTES else 1


def release_memory() -> None:
    """Hand the memory the findings stage freed back to the system before kernels start.

    Why: glibc keeps freed heap pages mapped, so without a trim ``irkit open`` would sit at
    its findings-stage peak while the template kernels run beside it.
    """
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def make_pool(workers: int = len(TEMPLATES)) -> ProcessPoolExecutor:
    """A pool whose workers start importing papermill right away (forkserver: no forked threads)."""
    ctx = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
    for _ in range(workers):
        pool.submit(_warm)
    return pool


# --- main side ----------------------------------------------------------------------------

def _fmt_time(value: Any) -> str:
    return "" if value is None else str(value).replace("+00:00", "Z")


def template_parameters(run_dir: Path, *, incident_id: str, severity: str,
                        window: dict[str, Any], redact: bool, show_code: bool,
                        notes: bool) -> dict[str, Any]:
    """Template parameters, with paths relative to ``notebooks/`` so a run can be moved."""
    return {
        "incident_id": incident_id,
        "severity": severity,
        "window_start": _fmt_time(window.get("start")) or None,
        "window_end": _fmt_time(window.get("end")) or None,
        "events_path": "../tables/events.parquet",
        "deployments_path": "../tables/deployments.parquet",
        "metrics_path": "../tables/metrics.parquet",
        "rejected_path": "../tables/rejected.parquet",
        "findings_path": "../findings.json",
        "notes_path": "../evidence/notes/notes.jsonl" if notes else None,
        "evidence_manifest_path": "../evidence/evidence.json",
        "redact": bool(redact),
        "show_code": bool(show_code),
    }


def _scrub(value: Any, secrets: dict[str, str]) -> Any:
    """Replace any string that contains a secret value (parameters go into the manifest)."""
    if isinstance(value, str):
        return "<redacted>" if any(s in value for s in secrets.values()) else value
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets) for v in value]
    return value


def _engine_record(eng: Any) -> dict[str, Any]:
    """What the manifest says about the engine (the scheduler address, never credentials)."""
    record: dict[str, Any] = {"name": eng.name, "memory_limit": eng.memory_limit}
    address = getattr(eng, "address", "")
    if address:
        from urllib.parse import urlsplit

        parts = urlsplit(address)
        record["scheduler"] = (f"{parts.scheme}://{parts.hostname}:{parts.port}"
                               if parts.hostname else address)
    location = eng.partitions_location()
    if location:  # where this run's partitions are (--partitions), without userinfo or query
        from irkit.engine.storage import public_url

        record["partitions"] = public_url(location)
    return record


def _public_command(command: Sequence[str]) -> list[str]:
    """The command line as archived: URLs without userinfo or query (``--partitions``)."""
    from irkit.engine.storage import is_url, public_url

    def public(arg: str) -> str:
        flag, eq, value = arg.partition("=")
        if eq and flag.startswith("--"):  # --partitions=URL
            return f"{flag}={public(value)}"
        return public_url(arg) if is_url(arg) else arg

    return [public(str(arg)) for arg in command]


def open_incident(incident_id: str, severity: str, *, logs: Sequence[str | os.PathLike[str]],
                  deployments: Sequence[str | os.PathLike[str]] = (),
                  metrics: Sequence[str | os.PathLike[str]] = (),
                  traces: Sequence[str | os.PathLike[str]] = (),
                  archive: str | os.PathLike[str] | None = None,
                  window_start: Any = None, window_end: Any = None,
                  show_code: bool = False, redact: bool = False, engine: str | None = None,
                  scheduler: str | None = None, memory_limit: str | None = None,
                  partitions: str | None = None,
                  load_progress: Callable[[str, int, str], None] | None = None,
                  command: list[str] | None = None,
                  progress: Progress | None = None) -> RunResult:
    """Run the whole pipeline for one incident and return the committed run.

    ``engine`` / ``scheduler`` / ``memory_limit`` choose where the evidence is loaded and
    reduced (:func:`irkit.engine.get_engine`; default ``IRKIT_ENGINE`` or the embedded
    out-of-core engine); ``load_progress(stage, rows, detail)`` hears about every batch written.
    ``partitions`` (or ``IRKIT_PARTITIONS``): a path or fsspec URL (``s3://bucket/prefix``)
    for the event partitions instead of the run's ``tables/events/``; this run's go under
    ``<partitions>/<incident id>/<run id>/events`` and stay there (the manifest says where).
    """
    say: Progress = progress or (lambda stage, state, detail="": None)
    started = datetime.now(UTC)
    incident_id = validate_incident_id(incident_id)
    severity = validate_severity(severity)
    if not logs:
        raise IrkitError("--logs: at least one log file is required")
    inputs = {"logs": list(logs), "deployments": list(deployments), "metrics": list(metrics),
              "traces": list(traces)}
    check_inputs(inputs)  # fail before anything is written
    workers = template_workers(inputs)
    from irkit.engine import get_engine

    # connect before anything is written: a bad engine choice or unreachable scheduler fails
    # fast with one line, and leaves no pending run behind
    eng = get_engine(engine, scheduler=scheduler, memory_limit=memory_limit,
                     partitions=partitions)
    try:
        return _open(incident_id, severity, inputs, eng, archive=archive,
                     window_start=window_start, window_end=window_end, show_code=show_code,
                     redact=redact, command=command, say=say, started=started,
                     load_progress=load_progress, workers=workers)
    finally:
        eng.close()


def _open(incident_id: str, severity: str, inputs: dict[str, list[Any]], eng: Any, *,
          archive: str | os.PathLike[str] | None, window_start: Any, window_end: Any,
          show_code: bool, redact: bool, command: list[str] | None, say: Progress,
          started: datetime, load_progress: Callable[[str, int, str], None] | None,
          workers: int = len(TEMPLATES)) -> RunResult:
    root = arc.archive_root(archive)
    state = arc.read_state(root, incident_id)
    arc.update_state(root, incident_id, severity=severity,
                     opened_at=state.get("opened_at") or started.isoformat(timespec="seconds"),
                     status=state.get("status") or "investigating")
    if not state.get("opened_at"):  # the first run opens the incident on the scribe's timeline
        from irkit.incident.notes import add_note

        add_note(root, incident_id, f"Incident opened with irkit open ({severity})", kind="open")
    notes_file = arc.incident_dir(root, incident_id) / "notes.jsonl"
    if notes_file.exists():
        inputs["notes"] = [notes_file]

    if redact and not os.environ.get("IRKIT_REDACT_KEY"):
        # one key for the whole run, so the three reports and pir.md use the same pseudonyms
        # (set before the pool starts: workers and kernels inherit it; it is never archived)
        import secrets as _secrets

        os.environ["IRKIT_REDACT_KEY"] = _secrets.token_hex(16)
    timings: dict[str, float] = {}
    pending = arc.start_run(root, incident_id)
    eng.run_key = f"{incident_id}/{pending.run_id}"  # one folder per run under --partitions
    pool = make_pool(workers)
    try:
        say("ingest", "start", "copy evidence, load once, tables, findings")
        t0 = time.perf_counter()
        ingested = ingest_evidence(inputs, pending.path, incident_id=incident_id,
                                   severity=severity, window_start=window_start,
                                   window_end=window_end, engine=eng,
                                   load_progress=load_progress)
        timings.update(ingested.timings)
        say("ingest", "done", f"{ingested.counts.get('events', 0):,} events, "
            f"{ingested.counts.get('rejected', 0):,} rejected "
            f"({time.perf_counter() - t0:.1f} s)")
        release_memory()

        window = ingested.findings.get("window") or {}
        params = template_parameters(pending.path, incident_id=incident_id, severity=severity,
                                     window=window, redact=redact, show_code=show_code,
                                     notes="notes" in inputs)
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        window_text = f"{_fmt_time(window.get('start'))} → {_fmt_time(window.get('end'))}"
        t0 = time.perf_counter()
        futures: dict[str, Future[TemplateResult]] = {}
        for name in TEMPLATES:
            info = ReportInfo(title=TITLES[name], incident_id=incident_id, severity=severity,
                              window=window_text, generated_at=generated,
                              run_id=pending.run_id, version=__version__)
            job = TemplateJob(name=name, template=str(template_path(name)),
                              notebook=str(pending.path / "notebooks" / f"{name}.ipynb"),
                              report=str(pending.path / "reports" / f"{name}.html"),
                              cwd=str(pending.path / "notebooks"), parameters=params,
                              info=info, show_code=show_code)
            say(f"template {name}", "start", "papermill + HTML")
            futures[name] = pool.submit(execute_template, job)

        from irkit.analysis.security import export_blocklist

        export_blocklist(ingested.blocklist, pending.path / "reports")
        from irkit.incident.pir import write_pir
        from irkit.incident.tables import read_notes

        pir_findings = ingested.findings
        pir_notes = read_notes(pending.path / "evidence" / "notes" / "notes.jsonl"
                               if "notes" in inputs else None)
        if redact:
            from irkit.redact import redact_value

            pir_findings, pir_notes = redact_value(pir_findings), redact_value(pir_notes)
        pir_path = write_pir(pending.path / "reports" / "pir.md", pir_findings, pir_notes,
                             arc.read_state(root, incident_id))
        results = []
        for name, future in futures.items():
            result = future.result()
            results.append(result)
            timings[f"template {name}"] = result.execute_s + result.render_s
            say(f"template {name}", "done" if result.ok else "failed",
                f"{result.execute_s:.1f} s run + {result.render_s:.1f} s HTML"
                if result.ok else (result.error or "failed"))
        timings["templates (parallel, wall)"] = time.perf_counter() - t0
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        pending.discard()
        raise
    pool.shutdown(wait=True)

    say("archive", "start", "manifest, secret scan, read-only, commit")
    t0 = time.perf_counter()
    secrets = secret_values()
    manifest_params = _scrub({
        "incident_id": incident_id, "severity": severity,
        "inputs": {k: [str(Path(p).resolve()) for p in v] for k, v in inputs.items()},
        "window": {"start": params["window_start"], "end": params["window_end"]},
        "show_code": show_code, "redact": redact, "engine": _engine_record(eng),
        "archive": str(root), "template_parameters": params,
    }, secrets)
    try:
        with arc.incident_lock(root, incident_id):
            runs = arc.list_runs(root, incident_id)
            previous = runs[-1] / MANIFEST if runs else None
            finished = datetime.now(UTC)
            manifest = build_manifest(
                pending.path, incident_id=incident_id, run_id=pending.run_id,
                params=manifest_params,
                command=_public_command(command if command is not None else sys.argv),
                times={"started_at": started.isoformat(), "finished_at": finished.isoformat(),
                       "seconds": {k: round(v, 3) for k, v in timings.items()}},
                previous=previous)
            check_copies(ingested.evidence, manifest["files"])
            write_manifest(pending.path, manifest)
            check_no_secrets(pending.path, secrets)
            arc.make_read_only(pending.path)
            run_dir = pending.commit()
    except SecretLeak:
        pending.discard()
        say("archive", "failed", "secret found: run discarded")
        raise
    except BaseException:
        pending.discard()
        raise
    timings["archive"] = time.perf_counter() - t0
    arc.update_state(root, incident_id, last_run=run_dir.name)
    say("archive", "done", f"{run_dir} ({timings['archive']:.1f} s)")
    return RunResult(incident_id=incident_id, run_id=run_dir.name, run_dir=run_dir,
                     templates=results, findings=ingested.findings, timings=timings,
                     pir=run_dir / "reports" / "pir.md" if pir_path else None)
