"""Partition storage over fsspec: local paths, ``memory://`` and a real S3 API (moto server)."""

from __future__ import annotations

import pickle
import socket

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from irkit.engine import local
from irkit.engine.storage import Storage, is_url
from irkit.errors import IrkitError

pytestmark = pytest.mark.xdist_group("moto-s3")

BUCKET = "irkit-evidence"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server on 127.0.0.1 (real HTTP, real S3 API) with one bucket."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                 aws_secret_access_key="test", region_name="us-east-1"
                 ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """Credentials and endpoint from the environment only, as a worker would get them."""
    import fsspec

    for key, value in {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "test",
                       "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"
                       }.items():
        monkeypatch.setenv(key, value)
    fsspec.filesystem("s3").clear_instance_cache()
    yield s3_endpoint
    fsspec.filesystem("s3").clear_instance_cache()


@pytest.fixture(params=["local", "memory", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        yield Storage.of(tmp_path / "events")
    elif request.param == "memory":
        yield Storage.of(f"memory://{tmp_path.name}/events")
        Storage.of("memory://").rm(tmp_path.name, recursive=True)
    else:
        request.getfixturevalue("s3_env")
        root = Storage.of(f"s3://{BUCKET}/{tmp_path.name}/events")
        yield root
        root.rm(recursive=True)


def _hour_table(hour: int, n: int) -> pa.Table:
    return pa.table({"_seq": pa.array(range(hour * 1000, hour * 1000 + n), pa.int64()),
                     "hour": pa.array([hour] * n, pa.int32()),
                     "message": pa.array([f"line {i} of hour {hour}" for i in range(n)])})


def test_layout_round_trip_through_duckdb(store):
    """Parts + marker written atomically, listed by glob, read back by DuckDB via the
    registered filesystem: the same rows as the local read of the same tables."""
    tables = {h: _hour_table(h, 5 + h) for h in (3, 1, 2)}
    store.makedirs()
    for h, table in tables.items():
        store.write_parquet(table, f"hour=2026-01-01T{h:02d}", "part-00000-000000.parquet")
    assert not store.exists("_SUCCESS")
    store.write_bytes(b'{"rows": 21}', "_SUCCESS")
    parts = store.glob("hour=*/part-*.parquet")
    assert parts == [f"hour=2026-01-01T{h:02d}/part-00000-000000.parquet" for h in (1, 2, 3)]
    assert store.isfile("_SUCCESS") and store.read_bytes("_SUCCESS") == b'{"rows": 21}'
    assert [store.parquet_rows(p) for p in parts] == [6, 7, 8]
    every = store.fs.find(store.path())
    assert not [p for p in every if "/." in p]  # no temp objects left behind

    con = duckdb.connect()
    store.register(con)
    urls = [store.url(p) for p in parts]
    assert all(is_url(u) for u in urls) == (not store.is_local)
    got = con.sql(f"SELECT * FROM read_parquet({urls!r}, hive_partitioning = false) "
                  "ORDER BY _seq").df()
    glob = con.execute("SELECT count(*) FROM read_parquet("
                       f"'{store.url('hour=*/part-*.parquet')}', hive_partitioning = false)")
    expected = pa.concat_tables([tables[h] for h in (1, 2, 3)]).to_pandas()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert glob.fetchone()[0] == 21
    con.close()


def test_failed_write_leaves_nothing(store):
    with pytest.raises(RuntimeError, match="boom"), store.atomic("hour=x", "part-1.parquet") as t:
        with store.fs.open(t, "wb") as fh:
            fh.write(b"half a file")
        raise RuntimeError("boom")
    assert store.glob("hour=*/*") == []
    assert not [p for p in store.fs.find(store.path()) if p.endswith(".tmp")]


def test_s3_errors_are_one_line_naming_the_url(s3_env):
    missing = Storage.of("s3://no-such-bucket-irkit/events")
    with pytest.raises(IrkitError, match=r"^s3://no-such-bucket-irkit/events/x: cannot write"):
        missing.write_bytes(b"x", "x")
    with pytest.raises(IrkitError, match="nosuchproto://x: cannot open storage"):
        Storage.of("nosuchproto://x")


def test_storage_pickles_for_workers(tmp_path):
    """Dask ships the storage to workers: it must survive pickling and reach the same files."""
    store = Storage.of(f"memory://{tmp_path.name}/pickled")
    store.write_bytes(b"hello", "a", "b.txt")
    again = pickle.loads(pickle.dumps(store))
    assert again.read_bytes("a/b.txt") == b"hello" and again.url() == store.url()
    assert Storage.of(tmp_path).child("x", "y").path() == str(tmp_path / "x" / "y")


# -- the engine's SQL over partitions in S3 ----------------------------------------------------

@pytest.fixture(scope="module")
def local_parts(tmp_path_factory):
    """A real partitioned load of a small demo incident, on local disk."""
    from irkit.demo import generate
    from irkit.engine import get_engine

    root = tmp_path_factory.mktemp("storage-demo")
    inc = generate(root / "demo", seed=4, events=3_000)
    paths = [str(p) for p in inc.logs] + [str(inc.traces)]
    engine = get_engine("local")
    engine.batch_rows = 700  # several parts per hour
    parts, _ = engine.load(paths, root / "events")
    return parts


def _copy_layout(parts, target: Storage) -> list[str]:
    src = Storage.of(parts.root)
    names = src.glob("hour=*/part-*.parquet")
    for name in [*names, "_SUCCESS"]:
        target.write_bytes(src.read_bytes(name), name)
    return [target.url(n) for n in target.glob("hour=*/part-*.parquet")]


def _reductions(files) -> dict:
    con = local.connect()
    try:
        local.events_view(con, files)
        return local.reductions(con)
    finally:
        con.close()


def test_engine_reductions_over_s3_equal_local(local_parts, s3_env, tmp_path):
    """The partition layout in S3: events_view registers the filesystem from the part URLs
    alone (as a Dask worker would) and every reduction equals the local one."""
    target = Storage.of(f"s3://{BUCKET}/{tmp_path.name}/events")
    urls = _copy_layout(local_parts, target)
    assert len(urls) == len(local_parts.files()) > 3
    assert all(u.startswith(f"s3://{BUCKET}/") for u in urls)
    got, expected = _reductions(urls), _reductions([str(p) for p in local_parts.files()])
    assert got["totals"] == expected["totals"] and got["totals"][0] == local_parts.rows
    assert got.keys() == expected.keys() and {"requests", "security"} <= set(got)
    for name in got.keys() - {"totals"}:
        assert len(got[name]) > 0
        pd.testing.assert_frame_equal(got[name], expected[name])
    target.rm(recursive=True)


def test_export_events_to_memory_url_equals_local(local_parts, tmp_path):
    url = f"memory://{tmp_path.name}/tables/events.parquet"
    con = local.connect()
    try:
        local.events_view(con, local_parts)
        local.export_events(con, url)
        local.export_events(con, tmp_path / "events.parquet")
        store = Storage.of(f"memory://{tmp_path.name}/tables")
        assert store.glob("*") == ["events.parquet"]
        with store.open("events.parquet") as fh:
            remote = pd.read_parquet(fh)
        pd.testing.assert_frame_equal(remote, pd.read_parquet(tmp_path / "events.parquet"))
        assert len(remote) == local_parts.rows
    finally:
        con.close()
        Storage.of("memory://").rm(tmp_path.name, recursive=True)
