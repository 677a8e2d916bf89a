"""``irkit collect``, ``irkit probe`` and ``irkit receive``: capture evidence while it exists.

Exit codes: 0 success; 1 the command ran but its evidence is incomplete (a partial collection,
a probe with failed requests); 2 bad usage or a refused token; 130 interrupted (what was collected
so far is kept and marked).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from irkit.capture.vercel_api import DEFAULT_API_BASE


@click.command()
@click.option("--project", "-p", required=True, help="Project id (prj_…) or name.")
@click.option("--team", "-t", default=None, help="Team id (team_…) or slug.")
@click.option("--since", default="24h", show_default=True,
              help="Window start: a duration back from now (1h, 30m, 2d) or an ISO time.")
@click.option("--until", default=None, help="Window end (ISO time; default now).")
@click.option("--follow", default=None, metavar="DURATION",
              help="Also capture the live runtime-log stream for this long (e.g. 5m).")
@click.option("--metrics-url", default=None,
              help="Snapshot the app's own metrics endpoint (Prometheus text or JSON).")
@click.option("--api-base", default=DEFAULT_API_BASE, show_default=True,
              help="Vercel API base (for compatible proxies and tests).")
@click.option("--request-logs-base", default=None,
              help="Base of the internal request-logs API (default https://vercel.com, or "
                   "--api-base when that is changed).")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds per HTTP call.")
@click.option("--max-pages", default=100, show_default=True, help="Page limit per listing.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="New or empty folder for the evidence.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def collect(project: str, team: str | None, since: str, until: str | None, follow: str | None,
            metrics_url: str | None, api_base: str, request_logs_base: str | None,
            timeout: float, max_pages: int, out: Path, as_json: bool) -> None:
    """Pull deployments, build events, request and runtime logs and metrics from the Vercel API.

    The token is read from VERCEL_TOKEN only.  Raw responses are kept byte for byte under --out
    with collection.json (what was asked, when, status, retries, sha256, complete).
    """
    from irkit.capture.collect import (
        CollectOptions,
        check_api_base,
        default_follow,
        parse_since,
    )
    from irkit.capture.collect import collect as run
    from irkit.capture.vercel_api import VercelClient, token_from_env

    now = datetime.now(UTC)
    api_base = check_api_base(api_base)
    if request_logs_base:
        request_logs_base = check_api_base(request_logs_base, "--request-logs-base")
    options = CollectOptions(
        project=project, out=out, team=team, since=parse_since(since, now=now),
        until=parse_since(until, now=now) if until else now, follow=default_follow(follow),
        metrics_url=metrics_url, api_base=api_base, request_logs_base=request_logs_base,
        max_pages=max(1, max_pages))
    with VercelClient(token_from_env(), api_base=api_base, team=team, timeout=timeout) as client:
        result = run(options, client)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        state = "complete" if result.complete else "PARTIAL"
        click.echo(f"collected {result.deployments} deployments, {result.files} files into "
                   f"{result.out} ({state})")
        for item in result.skipped:
            click.echo(f"  skipped {item['what']}: {item['reason']}")
    if not result.complete:
        for reason in result.partial_reasons:
            click.echo(f"irkit: partial: {reason}", err=True)
        sys.exit(1)


@click.command()
@click.argument("url")
@click.option("-n", "count", default=5, show_default=True, help="Number of requests.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between requests.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per request.")
@click.option("--head", is_flag=True, help="Send HEAD instead of GET (like curl -I).")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--json", "as_json", is_flag=True, help="Print results and summary as JSON.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Also write the timings as metrics (.prom: Prometheus text, else JSON).")
def probe(url: str, count: int, interval: float, timeout: float, head: bool, insecure: bool,
          as_json: bool, out: Path | None) -> None:
    """Time N requests to URL per phase: DNS, connect, TLS, first byte, total (ms, cumulative).

    Exit 1 when any request got no response or a 5xx.
    """
    from irkit.capture.probe import probe as run
    from irkit.capture.probe import summary, write_metrics

    results = run(url, count, interval=interval, timeout=timeout,
                  method="HEAD" if head else "GET", verify=not insecure)
    if out is not None:
        write_metrics(results, out)
    if as_json:
        click.echo(json.dumps({"url": url, "results": [r.as_dict() for r in results],
                               "summary": summary(results)}, indent=2))
    else:
        _probe_table(results)
    if any(not r.ok for r in results):
        sys.exit(1)


def _probe_table(results: list) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"irkit probe {results[0].url}"), title_justify="left")
    for name in ("#", "status", "dns", "connect", "tls", "1st byte", "total", "bytes"):
        table.add_column(name, justify="right")
    table.add_column("cache")
    table.add_column("x-vercel-id / error", overflow="fold")

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    for r in results:
        # Text() keeps header values literal: a server controls them, rich markup must not run
        table.add_row(str(r.seq), str(r.status or "—"), ms(r.dns_ms), ms(r.connect_ms),
                      ms(r.tls_ms), ms(r.first_byte_ms), ms(r.total_ms), str(r.bytes),
                      Text(r.headers.get("x-vercel-cache", "")),
                      Text(r.error or r.headers.get("x-vercel-id", "")))
    Console().print(table)
    click.echo("times in ms from the start of each request (like curl -w time_*)")


@click.command()
@click.option("--port", required=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--spool", "spool", required=True, type=click.Path(path_type=Path),
              help="Folder for the NDJSON spool files (created if needed).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (put TLS in front: Vercel delivers over HTTPS).")
@click.option("--max-body", default=8 * 1024 * 1024, show_default=True,
              help="Largest delivery accepted, in bytes (413 above).")
@click.option("--max-file", default=64 * 1024 * 1024, show_default=True,
              help="Rotate spool files at this size, in bytes.")
@click.option("--access-log", is_flag=True, help="Log every request line.")
def receive(port: int, spool: Path, host: str, max_body: int, max_file: int,
            access_log: bool) -> None:
    """Receive Vercel log-drain deliveries into an evidence spool that `irkit load` reads.

    Verifies x-vercel-signature (HMAC-SHA1, secret in VERCEL_DRAIN_SECRET), answers
    x-vercel-verify (VERCEL_VERIFY_TOKEN); bad or missing signature → 403, nothing written.
    """
    from irkit.capture.receive import serve

    serve(host=host, port=port, spool_dir=spool, max_body=max_body, max_file_bytes=max_file,
          access_log=access_log)
