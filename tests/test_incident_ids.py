"""Incident ids, severities and run ids: nothing a user passes may escape the archive."""

from __future__ import annotations

from datetime import date

import pytest

from irkit.errors import IrkitError
from irkit.incident import archive as arc
from irkit.incident.ids import (
    is_run_id,
    new_run_id,
    next_incident_id,
    validate_incident_id,
    validate_severity,
)


@pytest.mark.parametrize("good", ["incident-2025-01-31-001", "incident-2024-02-29-999"])
def test_valid_ids(good: str) -> None:
    assert validate_incident_id(good) == good


@pytest.mark.parametrize("bad", [
    "../x", "incident-2025-02-30-001", "incident-2025-13-01-001", "incident-2023-02-29-001",
    "incident-2025-01-31-000", "incident-2025-01-31-01", "incident-2025-01-31-001/../../x",
    " incident-2025-01-31-001", "incident-2025-01-31-001\n", "/tmp/incident-2025-01-31-001",
    "INCIDENT-2025-01-31-001", "incident-２０２５-01-31-001", "",
])
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(IrkitError) as info:
        validate_incident_id(bad)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("raw", "norm"), [("SEV-1", "SEV-1"), ("sev2", "SEV-2"),
                                           ("Sev-4", "SEV-4")])
def test_severity_normalised(raw: str, norm: str) -> None:
    assert validate_severity(raw) == norm


@pytest.mark.parametrize("bad", ["SEV-0", "SEV-5", "critical", "1", ""])
def test_bad_severity(bad: str) -> None:
    with pytest.raises(IrkitError):
        validate_severity(bad)


def test_run_ids_sort_and_are_recognised() -> None:
    ids = [new_run_id() for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(is_run_id(i) for i in ids)
    assert sorted(ids) == sorted(ids, key=lambda i: i.split("-")[0])
    assert not is_run_id(".tmp-" + ids[0])


def test_next_incident_id_skips_taken(tmp_path) -> None:
    day = date(2025, 3, 4)
    assert next_incident_id(tmp_path, day) == "incident-2025-03-04-001"
    (tmp_path / "incident-2025-03-04-001").mkdir()
    (tmp_path / "incident-2025-03-04-002").mkdir()
    assert next_incident_id(tmp_path, day) == "incident-2025-03-04-003"


def test_incident_dir_stays_inside_archive(tmp_path) -> None:
    root = arc.archive_root(tmp_path)
    assert arc.incident_dir(root, "incident-2025-01-31-001").parent == root
    with pytest.raises(IrkitError):
        arc.incident_dir(root, "../incident-2025-01-31-001")


def test_archive_root_precedence(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IRKIT_ARCHIVE", str(tmp_path / "env"))
    assert arc.archive_root(None) == (tmp_path / "env").resolve()
    assert arc.archive_root(tmp_path / "opt") == (tmp_path / "opt").resolve()
    monkeypatch.delenv("IRKIT_ARCHIVE")
    monkeypatch.chdir(tmp_path)
    assert arc.archive_root(None) == (tmp_path / "incidents").resolve()
