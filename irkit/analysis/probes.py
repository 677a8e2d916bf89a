"""Well-known probe targets: the paths vulnerability scanners request on every site they find.

Why a fixed list: scanners do not guess, they walk public wordlists (SecLists, nuclei templates,
nikto's database).  A request for ``/.env`` or ``/.git/config`` on a Next.js site on Vercel has no
legitimate reason; one or two such requests are noise from the internet, many from one client are
a scan.  Each :data:`PROBES` entry is ``(target, category, regex)``: ``target`` is the stable name
a report groups by, ``regex`` is matched case-insensitively against the request's path and query
after percent-decoding (twice, to see through double encoding such as ``%252e%252e%252f``).

Deliberately absent: generic words a real application may serve (``/admin``, ``/login``,
``/api``), so that a site's own routes never count as probes.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote

import numpy as np
import pandas as pd

from irkit.schema import categorical_by_code

#: (target, category, regex) — categories: secrets, vcs, cms, admin, traversal, injection,
#: webshell, backup, infra.
PROBES: tuple[tuple[str, str, str], ...] = (
    ("/.env", "secrets", r"/\.env(\.[\w-]+)?(?:$|[/?#])"),
    ("/.aws/credentials", "secrets", r"/\.aws/"),
    ("ssh keys", "secrets", r"/(\.ssh/|id_rsa|id_dsa|id_ecdsa|id_ed25519)"),
    ("/.npmrc, /.htpasswd, /.htaccess", "secrets", r"/\.(npmrc|htpasswd|htaccess|netrc|pgpass)"),
    ("config dumps", "secrets",
     r"/(config\.(php|inc|bak|old|yml|yaml)|wp-config\.php|settings\.py|appsettings\.json"
     r"|credentials\.json|secrets?\.(json|yml|yaml)|database\.yml|docker-compose\.ya?ml)"),
    ("/.git/", "vcs", r"/\.git(/|$)"),
    ("/.svn/, /.hg/, /.bzr/", "vcs", r"/\.(svn|hg|bzr)(/|$)"),
    ("/.DS_Store", "vcs", r"/\.ds_store"),
    ("/wp-login.php", "cms", r"/wp-login\.php"),
    ("/wp-admin/", "cms", r"/wp-admin(/|$)"),
    ("/xmlrpc.php", "cms", r"/xmlrpc\.php"),
    ("/wp-content/, /wp-includes/", "cms", r"/wp-(content|includes|json)(/|$)"),
    ("joomla/drupal/magento", "cms",
     r"/(administrator/index\.php|user/register\?element_parents|magento_version|downloader/)"),
    ("/phpmyadmin", "admin",
     r"/(phpmyadmin|pma|myadmin|mysqladmin|adminer)(\.php)?(/|$)"),
    ("/phpinfo.php", "admin", r"/(phpinfo|info|test|php_info)\.php"),
    ("/server-status", "admin", r"/server-(status|info)(/|$)"),
    ("java consoles", "admin",
     r"/(manager/html|jmx-console|web-console|invoker/|solr/admin|axis2|struts|console/login)"),
    ("/actuator", "admin", r"/actuator(/|$)"),
    ("debug endpoints", "admin",
     r"/(_profiler|telescope|_debugbar|__debug__|debug/pprof|elmah\.axd|trace\.axd)"),
    ("path traversal", "traversal",
     r"(\.\./|\.\.\\|\.\.;/|/etc/(passwd|shadow|hosts)|win\.ini|boot\.ini)"),
    ("sql injection", "injection",
     r"(union(\s|\+|/\*.*?\*/)+(all(\s|\+)+)?select|'\s*or\s*'?1'?\s*=\s*'?1|sleep\(\d+\)"
     r"|benchmark\(\d|waitfor\s+delay|information_schema)"),
    ("script injection", "injection", r"(<script|javascript:|onerror\s*=|onload\s*=|<svg)"),
    ("log4shell / template injection", "injection", r"(\$\{jndi:|\$\{\{|\{\{.*?\}\}|%\{)"),
    ("command injection", "injection", r"(;|\||`|\$\()\s*(cat|id|wget|curl|uname|whoami)\b"),
    ("/cgi-bin/", "webshell", r"/cgi-bin/"),
    ("web shells", "webshell",
     r"/(shell|cmd|c99|r57|wso|alfa|eval-stdin|upl|up|uploader|backdoor)\.(php|asp|aspx|jsp)"),
    ("phpunit eval-stdin", "webshell", r"/vendor/phpunit/"),
    ("backup files", "backup",
     r"(/[\w.-]*\.(bak|old|orig|swp|save|sql|sql\.gz)"
     r"|/(backup|backups|db|dump|database|site|www|wwwroot|htdocs|public_html)"
     r"\.(tar|tar\.gz|tgz|zip|rar|7z|gz))(?:$|[?#\n])"),
    ("router / IoT exploits", "infra", r"/(hnap1|boaform|goform|setup\.cgi|device\.rsp)"),
)

_COMPILED = [(target, category, re.compile(rx, re.IGNORECASE)) for target, category, rx in PROBES]


def _decode(text: str) -> str:
    """Percent-decode twice and turn backslashes into slashes (IIS-style traversal)."""
    once = unquote(text)
    return unquote(once).replace("\\", "/") + "\n" + once  # keep '..\' visible for traversal


@lru_cache(maxsize=131072)
def match_probe(target: str | None) -> tuple[str, str] | None:
    """Return ``(target, category)`` of the first probe signature a path+query matches."""
    if not target:
        return None
    text = _decode(str(target)[:4096])
    for name, category, rx in _COMPILED:
        if rx.search(text):
            return name, category
    return None


def probe_columns(path: pd.Series, query: pd.Series) -> pd.DataFrame:
    """``probe`` and ``probe_category`` per row (NA when the request is no known probe).

    Each distinct path+query is matched once, so a million-row table costs as much as its
    distinct URLs.  The pairs are found on integer codes (:func:`pandas.factorize`), never by
    building a column of joined strings: that works alike for string and categorical columns
    (the engine's compact rows) and keeps a 10M-row table's memory at its distinct URLs; both
    columns are categoricals.
    """
    path_codes, paths = pd.factorize(path)
    query_codes, queries = pd.factorize(query)
    # one integer per (path, query) pair; code -1 (missing) stays distinguishable
    width = len(queries) + 1
    pair_codes, pairs = pd.factorize(path_codes.astype(np.int64) * width + (query_codes + 1))
    found = [match_probe(_url(paths, queries, p // width, p % width - 1)) for p in pairs]
    return pd.DataFrame(
        {"probe": categorical_by_code([f[0] if f else None for f in found], pair_codes),
         "probe_category": categorical_by_code([f[1] if f else None for f in found],
                                               pair_codes)},
        index=path.index,
    )


def _url(paths: pd.Index, queries: pd.Index, path_code: int, query_code: int) -> str:
    """``path?query`` of one distinct pair; a missing part (code -1) is left out."""
    url = str(paths[path_code]) if path_code >= 0 else ""
    return url + (f"?{queries[query_code]}" if query_code >= 0 else "")
