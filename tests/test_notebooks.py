"""The example notebooks execute top to bottom on the demo data (nbclient, python3 kernel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _execute(name: str, tmp_path: Path, **parameters: object):
    """Run a notebook with its parameters cell overridden (the cell tagged ``parameters``)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _outputs(nb) -> str:
    return json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])


@pytest.mark.xdist_group("viz-nb-getting-started")
def test_getting_started_executes(tmp_path: Path) -> None:
    nb = _execute("getting-started.ipynb", tmp_path, WORKDIR=str(tmp_path / "demo"),
                  EVENTS=8_000)
    out = _outputs(nb)
    assert '"ename"' not in out
    assert (tmp_path / "demo" / "deployments.json").exists()
    assert out.count("Plotly.newPlot") >= 7  # every figure rendered as offline HTML
    assert "irkit-table" in out and "Suspect deployments" in out
    assert "5xx requests; top pattern" in out  # the explorer was driven from code


@pytest.mark.xdist_group("viz-nb-compare")
def test_compare_incidents_executes(tmp_path: Path) -> None:
    nb = _execute("compare-incidents.ipynb", tmp_path, WORKDIR=str(tmp_path / "cmp"),
                  EVENTS=6_000)
    out = _outputs(nb)
    assert '"ename"' not in out
    assert "Error patterns by stable id" in out and "Incidents compared" in out
    assert "shared patterns" in out
    assert out.count("Plotly.newPlot") == 3
