"""Manifest, verify and the run chain on hand-made runs (no templates: fast)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from irkit.errors import IrkitError
from irkit.incident import archive as arc
from irkit.incident.manifest import MANIFEST, build_manifest, verify_path, write_manifest
from irkit.incident.secrets import SecretLeak, check_no_secrets, scan_file, secret_values

ID = "incident-2025-01-31-001"


def make_run(root: Path, files: dict[str, bytes]) -> Path:
    """Assemble and commit a run the way the runner does (manifest, read-only, rename)."""
    pending = arc.start_run(root, ID)
    for rel, data in files.items():
        path = pending.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    runs = arc.list_runs(root, ID)
    manifest = build_manifest(pending.path, incident_id=ID, run_id=pending.run_id,
                              params={"severity": "SEV-2"}, command=["irkit", "test"],
                              times={}, previous=runs[-1] / MANIFEST if runs else None)
    write_manifest(pending.path, manifest)
    arc.make_read_only(pending.path)
    return pending.commit()


@pytest.fixture
def run(tmp_path: Path) -> Path:
    root = arc.archive_root(tmp_path)
    return make_run(root, {"evidence/logs/a.ndjson": b'{"x":1}\n', "findings.json": b"{}",
                           "reports/r.html": b"<html></html>"})


def writable(path: Path) -> None:
    arc.make_writable(path)


def test_intact_run_verifies(run: Path) -> None:
    (check,) = verify_path(run)
    assert check.ok, check.lines()
    manifest = json.loads((run / MANIFEST).read_text())
    assert set(manifest["files"]) == {"evidence/logs/a.ndjson", "findings.json", "reports/r.html"}
    assert manifest["files"]["findings.json"]["size"] == 2
    assert manifest["previous_manifest_sha256"] is None
    assert "pandas" in manifest["versions"]


def test_files_are_read_only(run: Path) -> None:
    assert not os.stat(run / "findings.json").st_mode & 0o222
    assert not os.stat(run / "evidence").st_mode & 0o222


def test_changed_byte_is_named(run: Path) -> None:
    writable(run)
    target = run / "evidence/logs/a.ndjson"
    data = bytearray(target.read_bytes())
    data[2] ^= 0x01
    target.write_bytes(bytes(data))
    (check,) = verify_path(run)
    assert check.changed == ["evidence/logs/a.ndjson"]
    assert not check.missing and not check.extra


def test_deleted_and_added_files_are_named(run: Path) -> None:
    writable(run)
    (run / "reports/r.html").unlink()
    (run / "reports/injected.html").write_text("x")
    (check,) = verify_path(run)
    assert check.missing == ["reports/r.html"]
    assert check.extra == ["reports/injected.html"]
    assert any("reports/injected.html" in line for line in check.lines())


def test_chain_links_runs_and_detects_removed_run(tmp_path: Path) -> None:
    root = arc.archive_root(tmp_path)
    first = make_run(root, {"a.txt": b"1"})
    second = make_run(root, {"a.txt": b"2"})
    third = make_run(root, {"a.txt": b"3"})
    checks = verify_path(root / ID)
    assert [c.ok for c in checks] == [True, True, True]
    assert json.loads((second / MANIFEST).read_text())["previous_run"] == first.name
    writable(second)
    import shutil

    shutil.rmtree(second)
    checks = verify_path(root / ID)
    bad = [c for c in checks if not c.ok]
    assert [c.run_dir.name for c in bad] == [third.name]
    assert "previous-manifest hash" in bad[0].problems[0]


def test_unfinished_run_is_not_intact(tmp_path: Path) -> None:
    root = arc.archive_root(tmp_path)
    pending = arc.start_run(root, ID)
    (pending.path / "x.txt").write_text("x")
    write_manifest(pending.path, build_manifest(
        pending.path, incident_id=ID, run_id=pending.run_id, params={}, command=[], times={},
        previous=None))
    (check,) = verify_path(pending.path)
    assert not check.ok and "unfinished" in check.problems[0]
    assert arc.list_runs(root, ID) == []  # a crashed run is never listed


def test_verify_rejects_non_runs(tmp_path: Path) -> None:
    with pytest.raises(IrkitError):
        verify_path(tmp_path / "nope")
    with pytest.raises(IrkitError):
        verify_path(tmp_path)


def test_secret_values_from_env() -> None:
    env = {"VERCEL_TOKEN": "tok_abcdefgh", "IRKIT_SECRET_DB": "hunter2hunter2",
           "VERCEL_DRAIN_SECRET": "x", "HOME": "/root"}
    assert secret_values(env) == {"IRKIT_SECRET_DB": "hunter2hunter2",
                                  "VERCEL_TOKEN": "tok_abcdefgh"}


def test_secret_scan_finds_plain_gzip_escaped_and_chunk_straddling(tmp_path: Path) -> None:
    import gzip

    secret = {"VERCEL_TOKEN": "s3cr3t-t0ken-\"quoted\""}
    (tmp_path / "plain.txt").write_bytes(b"x" * 10 + b's3cr3t-t0ken-"quoted"')
    with gzip.open(tmp_path / "logs.gz", "wb") as fh:
        fh.write(b'prefix s3cr3t-t0ken-"quoted" suffix')
    (tmp_path / "nb.json").write_text('{"text": "s3cr3t-t0ken-\\"quoted\\""}')
    (tmp_path / "r.html").write_text("s3cr3t-t0ken-&quot;quoted&quot;")
    big = tmp_path / "big.bin"
    big.write_bytes(b"a" * ((1 << 20) - 5) + b's3cr3t-t0ken-"quoted"')
    (tmp_path / "clean.txt").write_text("nothing here")
    for name in ("plain.txt", "logs.gz", "nb.json", "r.html", "big.bin"):
        assert scan_file(tmp_path / name, secret) == ["VERCEL_TOKEN"], name
    assert scan_file(tmp_path / "clean.txt", secret) == []
    with pytest.raises(SecretLeak) as info:
        check_no_secrets(tmp_path, secret)
    assert "s3cr3t" not in str(info.value)
    assert "plain.txt contains $VERCEL_TOKEN" in str(info.value)
    assert info.value.exit_code == 3
