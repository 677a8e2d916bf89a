"""Evidence capture from Vercel while it still exists.

Vercel keeps runtime logs for one hour (Hobby) to one day (Pro): evidence not captured during the
incident is gone.  Three commands turn the playbook's first fifteen minutes into evidence files:

* :mod:`irkit.capture.collect` — ``irkit collect``: deployments, build events, request logs, a
  bounded runtime-log stream and metrics pulled over the REST API (:mod:`.vercel_api`), raw
  responses kept byte for byte with a ``collection.json`` log;
* :mod:`irkit.capture.probe` — ``irkit probe``: the ``curl -w`` timing loop (DNS, connect, TLS,
  first byte, total) as a table, JSON or a metrics file;
* :mod:`irkit.capture.receive` — ``irkit receive``: a log-drain receiver that verifies Vercel's
  signature and appends every accepted record to an fsync'ed NDJSON spool.

Submodules are imported on demand (``from irkit.capture.probe import probe``) so that the CLI
pays only for the command it runs.
"""

from __future__ import annotations

__all__ = ["collect", "probe", "receive", "vercel_api"]
