"""Where the papermill templates are: inside the installed package, or the repo's ``templates/``.

The wheel force-includes ``templates/`` as ``irkit/templates`` (see ``pyproject.toml``), so an
installed irkit finds them through :mod:`importlib.resources`; an editable checkout finds the
repo folder next to the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from irkit.errors import IrkitError

#: The three reports of a run, in display order.
TEMPLATES: tuple[str, ...] = ("investigation", "security_evidence", "pir")
TITLES: dict[str, str] = {
    "investigation": "Investigation",
    "security_evidence": "Security evidence",
    "pir": "Post-incident review",
}


def templates_dir() -> Path:
    """The folder holding the ``*.ipynb`` templates."""
    packaged = resources.files("irkit") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[2] / "templates"
    if repo.is_dir():
        return repo
    raise IrkitError("templates: not found in the installed package nor in the source checkout")


def template_path(name: str) -> Path:
    """The notebook file of template ``name`` (one of :data:`TEMPLATES`)."""
    if name not in TEMPLATES:
        raise IrkitError(f"template {name!r}: expected one of {', '.join(TEMPLATES)}")
    path = templates_dir() / f"{name}.ipynb"
    if not path.is_file():
        raise IrkitError(f"template {path}: missing")
    return path
