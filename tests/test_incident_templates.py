"""The templates as files: where they are found, their parameters, and running them by hand."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from irkit.incident.templates import TEMPLATES, template_path, templates_dir

#: The agreed template parameters (interfaces.md).
PARAMETERS = {"incident_id", "severity", "window_start", "window_end", "events_path",
              "deployments_path", "metrics_path", "rejected_path", "findings_path", "notes_path",
              "evidence_manifest_path", "redact", "show_code"}


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_has_the_agreed_parameters_cell(name: str) -> None:
    nb = nbformat.read(template_path(name), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = {line.split("=")[0].strip() for line in tagged[0].source.splitlines()
             if "=" in line and not line.startswith("#")}
    assert names == PARAMETERS
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert not any(o for c in nb.cells for o in c.get("outputs", []))  # shipped clean


def test_templates_dir_is_the_repo_folder_in_a_checkout() -> None:
    assert templates_dir() == Path(__file__).resolve().parents[1] / "templates"


@pytest.mark.xdist_group("template-defaults")
def test_template_runs_by_hand_on_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No parameters at all (as in JupyterLab): the template prepares and shows the demo."""
    import papermill as pm

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PLOTLY_RENDERER", "notebook")
    out = tmp_path / "pir.ipynb"
    pm.execute_notebook(str(template_path("pir")), str(out), kernel_name="python3",
                        progress_bar=False, cwd=str(tmp_path), start_timeout=300)
    nb = nbformat.read(out, as_version=4)
    text = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "Incident Post-Mortem: incident-demo" in text  # readable: no needless escapes
    assert (tmp_path / "cache" / "irkit" / "demo-inputs" / "findings.json").is_file()
