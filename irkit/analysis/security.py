"""Security evidence from the canonical events table: who attacked, how, and what they got.

The playbook's security path asks three things of the logs: which clients to block, what to keep
as evidence, and what data may have been accessed.  This module answers them from request rows
(events that carry a ``client_ip``; several log lines of one request are merged by
``request_id``):

* :func:`client_profiles` — per client (IP, or JA4/JA3 digest) request rate, per-minute burst
  against the client's own and the site's baseline, 4xx/401/403 ratios, distinct paths,
  user-agent classes, probe hits, auth failures, WAF actions; :func:`suspicious_clients` keeps
  the flagged ones, each with machine ``reasons`` and human ``details``.
* :func:`scanner_paths` — requests for well-known probe targets, grouped (see
  :mod:`irkit.analysis.probes`).
* :func:`auth_failures` / :func:`auth_failure_bursts` — 401/403 on authentication routes per
  client and for the whole site per minute (brute force, credential stuffing).
* :func:`waf_actions` — what the Vercel firewall did, per client.
* :func:`data_access` — for given clients, the routes that answered 2xx and how many bytes.
* :func:`blocklist` / :func:`export_blocklist` — IPs and CIDRs to block with reasons and time
  windows, as formula-safe CSV and JSON.
* :func:`security_findings` — the ``security`` object of ``findings.json``.

Why these rules (thresholds are the module constants below): heavy legitimate clients — a
crawler fetching thousands of distinct pages, an office NAT behind which a hundred people browse —
have high rates too, so a high rate is only *supporting* evidence.  A client is flagged by what
no legitimate client does: announcing a scanner tool, requesting probe targets, failing logins
in bursts, drawing 4xx storms over many distinct paths, or being acted on by the WAF.

Log values (paths, agents) are attacker-controlled: the frames returned here carry them raw, and
whoever displays them must escape (:mod:`irkit.safety`, ``irkit.display.show_table``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.typing import SeriesGroupBy

from irkit.analysis.probes import probe_columns
from irkit.analysis.useragents import BOT, BROWSER, SCANNER, TOOL, classify_series
from irkit.errors import IrkitError
from irkit.safety import write_csv
from irkit.schema import STRING, fill_missing, most_common

# --- thresholds (documented; tests pin the behaviour they produce) -------------------------------
#: Distinct probe targets (or probe requests) from one client that make it a scanner.
MIN_PROBE_TARGETS = 3
MIN_PROBE_REQUESTS = 10
#: Brute force: failed auth requests, their share of the client's auth requests, and the peak
#: per-minute count of failures.
MIN_AUTH_FAILURES = 10
MIN_AUTH_FAILURE_RATIO = 0.5
MIN_AUTH_FAILURE_PEAK = 5
#: 404 storm: client errors, their share of the client's requests, distinct paths.
MIN_STORM_ERRORS = 20
MIN_STORM_RATIO = 0.5
MIN_STORM_PATHS = 10
#: WAF: requests the firewall denied, challenged or rate-limited.
MIN_WAF_BLOCKED = 3
WAF_BLOCKING = frozenset({"deny", "challenge", "rate_limit"})
#: Burst: a client's busiest minute against its own median minute (ratio) and against the
#: site's per-client-minute distribution (robust z-score, median/MAD).
MIN_BURST_PEAK = 20
MIN_BURST_OWN_RATIO = 5.0
MIN_BURST_SITE_Z = 10.0
#: A burst flags a client on its own only together with this share of 4xx responses.
BURST_ERROR_RATIO = 0.3
#: Site-wide auth-failure burst: failures in one minute above max(floor, median + k * MAD).
SITE_AUTH_BURST_FLOOR = 10
SITE_AUTH_BURST_K = 6.0

#: Routes that authenticate someone: failures there are login attempts.
AUTH_ROUTE = re.compile(
    r"(?:^|/)(?:api/)?(login|log-in|logon|signin|sign-in|sign_in|auth|authenticate|"
    r"authorize|session|sessions|token|oauth2?|sso|saml|password|passwd|reset-password|"
    r"forgot-password|otp|2fa|mfa|verify|register|signup|sign-up|wp-login\.php|xmlrpc\.php)"
    r"(?:$|[/.?_\-\[])",
    re.IGNORECASE,
)

#: Reason codes, their weight in the suspicion score, and whether they flag on their own.
REASONS: dict[str, tuple[float, bool]] = {
    "scanner_ua": (3.0, True),
    "probe_paths": (3.0, True),
    "bruteforce": (3.0, True),
    "waf": (2.0, True),
    "error_storm": (2.0, True),
    "burst": (1.0, False),
    "fingerprint": (1.0, False),
    "scripted_ua": (0.5, False),
}

_REQUEST_COLUMNS = [
    "timestamp", "client_ip", "user_agent", "method", "host", "path", "query", "route",
    "status_code", "bytes", "waf_action", "ja4", "ja3", "request_id",
]


def _iso(ts: Any) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).isoformat()


# --- columns that may be categoricals --------------------------------------------------------
# The out-of-core engine hands over its request rows with the repetitive string columns as
# pandas categoricals (irkit.schema.compact) to save memory.  Every function here must answer
# exactly as for string columns, without casting those columns back: the helpers below work on
# distinct values (codes) and turn only small per-group results into strings.


def _per_value(series: pd.Series, test: Callable[[str], Any]) -> np.ndarray:
    """``test`` of each row's value as a bool array (False where missing).

    Each distinct value is tested once (:func:`pandas.factorize` reads a categorical's codes),
    so this costs the distinct values, not the rows, for string and categorical columns alike.
    """
    codes, uniques = pd.factorize(series)
    found = np.array([bool(test(str(u))) for u in uniques] + [False])
    return found[codes]  # code -1 (missing) picks the trailing False


def _text(column: SeriesGroupBy, summary: Callable[[pd.Series], str]) -> pd.Series:
    """``summary`` of each group of ``column`` (a grouped column) as a string column.

    pandas casts an aggregate back to the column's dtype when it can: to the canonical string
    dtype for strings, but not for categoricals.  Spelling the dtype out makes both alike.
    """
    return column.agg(summary).astype(STRING)


def _string_keys(frame: pd.DataFrame, keys: Iterable[str]) -> pd.DataFrame:
    """``frame`` (a small per-group result) with its ``keys`` columns as canonical strings."""
    return frame.astype(dict.fromkeys(keys, STRING))


def _is_auth_route(frame: pd.DataFrame) -> np.ndarray:
    """True where the request's route pattern or concrete path is an authentication endpoint."""
    def auth(value: str) -> bool:
        return bool(AUTH_ROUTE.search(value[:512]))

    return _per_value(frame["route"], auth) | _per_value(frame["path"], auth)


def requests_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per client request, with the derived columns the security analysis uses.

    Vercel writes several log lines per request sharing ``requestId`` and often only the first
    carries the status; they are merged (first non-missing value per column, earliest time).
    Added columns: ``minute``, ``ua_class``, ``ua_name``, ``probe``, ``probe_category``,
    ``is_auth``, ``is_4xx``, ``auth_failed``, ``waf_blocked``, ``ok``.  Categorical input
    columns stay categorical (the added ones are the same for string and categorical input).
    """
    missing = [c for c in _REQUEST_COLUMNS if c not in events.columns]
    if missing:
        raise IrkitError(f"events table lacks columns {missing}: load it with irkit.load()")
    ev = events.loc[events["client_ip"].notna(), _REQUEST_COLUMNS]
    keyed = ev["request_id"].notna()
    shared = keyed & ev["request_id"].duplicated(keep=False)
    parts = [ev[~shared]]
    if shared.any():
        grouped = ev[shared].groupby("request_id", sort=False, observed=True)
        merged = grouped.first()
        merged["timestamp"] = grouped["timestamp"].min()
        parts.append(merged.reset_index()[_REQUEST_COLUMNS])
    req = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    req = req.sort_values("timestamp", kind="stable", ignore_index=True)
    status = req["status_code"]
    ua = classify_series(req["user_agent"])
    probes = probe_columns(req["path"], req["query"])
    is_auth = _is_auth_route(req)
    is_4xx = ((status >= 400) & (status < 500)).fillna(False).to_numpy(dtype=bool)
    denied = status.isin([401, 403]).fillna(False).to_numpy(dtype=bool)
    return req.assign(
        minute=req["timestamp"].dt.floor("1min"),
        ua_class=ua["ua_class"],
        ua_name=ua["ua_name"],
        probe=probes["probe"],
        probe_category=probes["probe_category"],
        is_auth=is_auth,
        is_4xx=is_4xx,
        auth_failed=is_auth & denied,
        waf_blocked=_per_value(req["waf_action"], lambda action: action.lower() in WAF_BLOCKING),
        ok=((status >= 200) & (status < 300)).fillna(False).to_numpy(dtype=bool),
    )


def _robust_z(values: pd.Series, baseline: pd.Series) -> pd.Series:
    """(value - median) / (1.4826 * MAD) of ``baseline``; MAD floored at 1 request."""
    med = float(baseline.median()) if len(baseline) else 0.0
    mad = float((baseline - med).abs().median()) if len(baseline) else 0.0
    return (values - med) / max(1.4826 * mad, 1.0)


def _joined(values: Iterable[Any], limit: int = 5) -> str:
    items = [str(v) for v in values if v is not None and not pd.isna(v)]
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" (+{more} more)" if more > 0 else "")


def _examples(paths: pd.Series) -> str:
    """The first three distinct paths of a group, as a table's ``examples`` cell."""
    return _joined(paths.drop_duplicates(), 3)


def _statuses(codes: pd.Series) -> str:
    """``"404×120, 200×1"``: a group's status codes, most frequent first."""
    return ", ".join(f"{int(k)}×{n}" for k, n in codes.value_counts().items())


def _aligned(per_client: pd.Series, index: pd.Index) -> pd.Series:
    """``per_client`` ready to become a column of the profiles indexed by ``index``.

    Why: a groupby over no rows returns an empty result whose categorical index pandas cannot
    align with the profiles' categorical index (its codes have another width); empty means
    "missing for every client".
    """
    if len(per_client):
        return per_client
    return pd.Series(None, index=index, dtype=object)


def _mode_by(frame: pd.DataFrame, key: str, col: str) -> pd.Series:
    """The most frequent non-missing ``col`` per ``key`` (vectorised, ties: first seen)."""
    counts = frame[[key, col]].dropna().groupby([key, col], sort=False, observed=True).size()
    if counts.empty:  # indexed like the key, so that it aligns with categorical keys too
        return pd.Series([], dtype=STRING, index=pd.Index(frame[key].iloc[:0]))
    top = counts.reset_index(name="n").sort_values("n", ascending=False, kind="stable")
    return top.drop_duplicates(key).set_index(key)[col]


def _names_by(pairs: pd.DataFrame, key: str, col: str) -> dict[Any, str]:
    """``{key: "a, b, c"}`` of the distinct ``col`` values per key (pairs already distinct)."""
    names: dict[Any, set[str]] = {}
    for k, v in zip(pairs[key], pairs[col], strict=True):
        if v is not None and not pd.isna(v):
            names.setdefault(k, set()).add(str(v))
    return {k: _joined(sorted(v)) for k, v in names.items()}


_PROFILE_COLUMNS = {
    "client": STRING, "requests": "int64", "first_seen": None, "last_seen": None,
    "distinct_paths": "int64", "user_agents": "int64", "ua_class": STRING, "ua_names": STRING,
    "client_errors": "int64", "client_error_ratio": "float64", "denied": "int64",
    "not_found": "int64", "server_errors": "int64", "probe_requests": "int64",
    "probe_targets": "int64", "auth_requests": "int64", "auth_failures": "int64",
    "auth_failure_ratio": "float64", "auth_failure_peak": "int64", "waf_blocked": "int64",
    "waf_actions": STRING, "ok_bytes": "int64", "peak_per_min": "int64",
    "median_per_min": "float64", "burst_own_ratio": "float64", "burst_site_z": "float64",
    "ja4": STRING, "ja3": STRING, "flagged": "bool", "score": "float64", "reasons": object,
    "details": object,
}


def _empty_profiles() -> pd.DataFrame:
    from irkit.schema import TIMESTAMP

    cols = {}
    for name, dtype in _PROFILE_COLUMNS.items():
        cols[name] = pd.Series([], dtype=TIMESTAMP if dtype is None else dtype)
    return pd.DataFrame(cols)


def client_profiles(events: pd.DataFrame, *, key: str = "client_ip") -> pd.DataFrame:
    """Per-client behaviour, flags and reasons for every client that sent a request.

    ``key`` is ``"client_ip"`` (default), ``"ja4"`` or ``"ja3"``: TLS fingerprints group an
    attacker that rotates IPs but keeps its TLS stack (browsers share fingerprints, so read those
    profiles with care).  Sorted most suspicious first.
    """
    if key not in ("client_ip", "ja4", "ja3"):
        raise IrkitError(f"client key {key!r}: expected client_ip, ja4 or ja3")
    req = requests_table(events)
    return _profiles(req, key)


def _profiles(req: pd.DataFrame, key: str) -> pd.DataFrame:
    req = req[req[key].notna()]
    if req.empty:
        return _empty_profiles()
    g = req.groupby(key, sort=False, observed=True)
    status = req["status_code"]
    flags = pd.DataFrame(
        {
            key: req[key],
            "denied": status.isin([401, 403]).fillna(False),
            "not_found": (status == 404).fillna(False),
            "server_errors": (status >= 500).fillna(False),
            "ok_bytes": req["bytes"].where(req["ok"], 0).fillna(0),
            "is_probe": req["probe"].notna(),
        }
    ).groupby(key, sort=False, observed=True).sum()
    prof = pd.DataFrame(
        {
            "requests": g.size(),
            "first_seen": g["timestamp"].min(),
            "last_seen": g["timestamp"].max(),
            "distinct_paths": g["path"].nunique(),
            "user_agents": g["user_agent"].nunique(),
            "client_errors": g["is_4xx"].sum(),
            "probe_targets": g["probe"].nunique(),
            "auth_requests": g["is_auth"].sum(),
            "auth_failures": g["auth_failed"].sum(),
            "waf_blocked": g["waf_blocked"].sum(),
        }
    )
    prof = prof.join(flags)
    prof["probe_requests"] = prof.pop("is_probe")

    # user-agent classes: the most suspicious class a client used, and the names seen
    rank = {SCANNER: 0, TOOL: 1, BOT: 2, BROWSER: 3}
    ua = req[[key, "ua_class", "ua_name"]].drop_duplicates()
    ua = ua.assign(rank=ua["ua_class"].map(lambda c: rank.get(c, 4)).astype("int64"))
    ua = ua.sort_values("rank", kind="stable")  # not by key: a categorical sorts by its codes
    prof["ua_class"] = ua.groupby(key, sort=False, observed=True)["ua_class"].first()
    prof["ua_names"] = pd.Series(_names_by(ua, key, "ua_name"), dtype=object)
    scanners = _names_by(ua[ua["ua_class"] == SCANNER], key, "ua_name")
    tools = _names_by(ua[ua["ua_class"] == TOOL], key, "ua_name")
    majority = _mode_by(req, key, "ua_class")

    # per-minute rates: own baseline and site baseline
    per_min = req.groupby([key, "minute"], sort=False, observed=True).size()
    own = per_min.groupby(level=0, sort=False, observed=True)
    prof["peak_per_min"] = own.max()
    prof["median_per_min"] = own.median().astype("float64")
    prof["burst_own_ratio"] = prof["peak_per_min"] / prof["median_per_min"].clip(lower=1.0)
    prof["burst_site_z"] = _robust_z(prof["peak_per_min"].astype("float64"), per_min)

    fails = req[req["auth_failed"]].groupby([key, "minute"], sort=False, observed=True).size()
    prof["auth_failure_peak"] = _aligned(
        fails.groupby(level=0, sort=False, observed=True).max(), prof.index)
    prof["auth_failure_peak"] = prof["auth_failure_peak"].fillna(0).astype("int64")

    waf = req[req["waf_action"].notna()].groupby([key, "waf_action"], sort=False,
                                                 observed=True).size()
    prof["waf_actions"] = _aligned(waf.groupby(level=0, sort=False, observed=True).agg(
        lambda s: ", ".join(f"{a}×{n}" for (_, a), n in s.sort_values(ascending=False).items())
    ), prof.index)
    for col in ("ja4", "ja3"):
        prof[col] = prof.index.to_series() if key == col else _mode_by(req, key, col)

    prof["client_error_ratio"] = prof["client_errors"] / prof["requests"]
    prof["auth_failure_ratio"] = (prof["auth_failures"] / prof["auth_requests"]).where(
        prof["auth_requests"] > 0, 0.0
    )
    for col in ("ua_names", "waf_actions"):
        prof[col] = prof[col].astype(object).where(prof[col].notna(), "")
    top_probes = (
        req[req["probe"].notna()].groupby([key, "probe"], sort=False, observed=True).size()
        .sort_values(ascending=False)
    )
    probe_names = top_probes.reset_index().groupby(key, sort=False, observed=True)["probe"].agg(
        lambda s: _joined(s, 4)
    ).to_dict()  # plain dicts: an empty groupby's categorical index cannot be looked up
    majority = majority.to_dict()

    reasons: list[list[str]] = []
    details: list[list[str]] = []
    for client, row in zip(prof.index, prof.to_dict("records"), strict=True):
        r, d = _judge(row, scanners.get(client), tools.get(client), majority.get(client),
                      probe_names.get(client))
        reasons.append(r)
        details.append(d)
    prof["reasons"] = reasons
    prof["details"] = details
    _fingerprint_pass(prof, key)
    prof["flagged"] = prof["reasons"].map(bool)
    prof["score"] = prof["reasons"].map(lambda rs: float(sum(REASONS[r][0] for r in rs)))
    prof.index.name = "client"
    prof = prof.reset_index()
    prof["client"] = prof["client"].astype(STRING)
    for name, dtype in _PROFILE_COLUMNS.items():
        if dtype is not None and dtype is not object:
            prof[name] = prof[name].fillna(0) if dtype in ("int64", "float64") else prof[name]
            prof[name] = prof[name].astype(dtype)
    prof = prof[list(_PROFILE_COLUMNS)]
    return prof.sort_values(
        ["flagged", "score", "requests"], ascending=[False, False, False], ignore_index=True
    )


def _judge(
    row: dict[str, Any],
    scanner_names: str | None,
    tool_names: str | None,
    majority_class: Any,
    probe_names: str | None,
) -> tuple[list[str], list[str]]:
    """Reason codes and human details for one client profile (see module docstring)."""
    reasons: list[str] = []
    details: list[str] = []
    if scanner_names:
        reasons.append("scanner_ua")
        details.append(f"scanner user agent: {scanner_names}")
    if row["probe_targets"] >= MIN_PROBE_TARGETS or row["probe_requests"] >= MIN_PROBE_REQUESTS:
        reasons.append("probe_paths")
        details.append(
            f"{int(row['probe_requests'])} requests for {int(row['probe_targets'])} known probe "
            f"targets ({probe_names})"
        )
    if (
        row["auth_failures"] >= MIN_AUTH_FAILURES
        and row["auth_failure_ratio"] >= MIN_AUTH_FAILURE_RATIO
        and row["auth_failure_peak"] >= MIN_AUTH_FAILURE_PEAK
    ):
        reasons.append("bruteforce")
        details.append(
            f"{int(row['auth_failures'])} failed logins (401/403 on auth routes), "
            f"{row['auth_failure_ratio']:.0%} of its auth requests, "
            f"peak {int(row['auth_failure_peak'])}/min"
        )
    if (
        row["client_errors"] >= MIN_STORM_ERRORS
        and row["client_error_ratio"] >= MIN_STORM_RATIO
        and row["distinct_paths"] >= MIN_STORM_PATHS
    ):
        reasons.append("error_storm")
        details.append(
            f"{int(row['client_errors'])} client errors ({row['client_error_ratio']:.0%} 4xx, "
            f"{int(row['not_found'])} not found) over {int(row['distinct_paths'])} distinct paths"
        )
    if row["waf_blocked"] >= MIN_WAF_BLOCKED:
        reasons.append("waf")
        details.append(f"WAF acted on {int(row['waf_blocked'])} requests ({row['waf_actions']})")
    burst = row["peak_per_min"] >= MIN_BURST_PEAK and (
        row["burst_own_ratio"] >= MIN_BURST_OWN_RATIO or row["burst_site_z"] >= MIN_BURST_SITE_Z
    )
    if burst and (reasons or row["client_error_ratio"] >= BURST_ERROR_RATIO):
        reasons.append("burst")
        details.append(
            f"peak {int(row['peak_per_min'])} requests/min: {row['burst_own_ratio']:.1f}x its "
            f"own median minute, robust z {row['burst_site_z']:.0f} over the site's "
            f"per-client minutes"
        )
    if tool_names and reasons and majority_class in (TOOL, SCANNER):
        reasons.append("scripted_ua")
        details.append(f"scripted client: {tool_names}")
    return reasons, details


def _fingerprint_pass(prof: pd.DataFrame, key: str) -> None:
    """Flag clients sharing a TLS fingerprint with flagged clients that also misbehave a little.

    An attacker rotating IPs keeps its TLS stack; a client on the same JA4 with any probe hit,
    failed login or mostly-4xx traffic is then part of the same campaign.  Browsers share
    fingerprints, so the fingerprint alone never flags.
    """
    if key != "client_ip" or "ja4" not in prof:
        return
    primary = prof["reasons"].map(lambda rs: any(REASONS[r][1] for r in rs))
    bad_prints = set(prof.loc[primary, "ja4"].dropna())
    if not bad_prints:
        return
    suspect = (
        ~primary
        & prof["ja4"].isin(bad_prints).fillna(False)
        & (
            (prof["probe_requests"] > 0)
            | (prof["auth_failures"] >= 3) & (prof["auth_failure_ratio"] >= MIN_AUTH_FAILURE_RATIO)
            | (prof["client_error_ratio"] >= MIN_STORM_RATIO) & (prof["client_errors"] >= 5)
        )
    )
    for client in prof.index[suspect]:
        prof.at[client, "reasons"] = [*prof.at[client, "reasons"], "fingerprint"]
        prof.at[client, "details"] = [
            *prof.at[client, "details"],
            f"TLS fingerprint {prof.at[client, 'ja4']} shared with flagged clients",
        ]


def suspicious_clients(events: pd.DataFrame, *, key: str = "client_ip") -> pd.DataFrame:
    """The flagged clients of :func:`client_profiles`, most suspicious first.

    Columns include ``client`` (the IP, or the fingerprint for ``key="ja4"``), ``requests``,
    ``first_seen``, ``last_seen``, ``reasons`` (codes: ``scanner_ua``, ``probe_paths``,
    ``bruteforce``, ``error_storm``, ``waf``, ``burst``, ``fingerprint``, ``scripted_ua``) and
    ``details`` (one human sentence per reason).
    """
    prof = client_profiles(events, key=key)
    return prof[prof["flagged"]].reset_index(drop=True)


def scanner_paths(events: pd.DataFrame) -> pd.DataFrame:
    """Requests for well-known probe targets, grouped by target, most requested first.

    Columns: ``target``, ``category``, ``requests``, ``clients``, ``first_seen``, ``last_seen``,
    ``statuses`` (e.g. ``"404×120, 200×1"`` — a 2xx here deserves a look), ``examples``.
    """
    return _scanner_paths(requests_table(events))


def _scanner_paths(req: pd.DataFrame) -> pd.DataFrame:
    hits = req[req["probe"].notna()]
    columns = ["target", "category", "requests", "clients", "first_seen", "last_seen",
               "statuses", "examples"]
    if hits.empty:
        out = pd.DataFrame({c: pd.Series([], dtype=STRING) for c in columns})
        return out.astype({"requests": "int64", "clients": "int64"})
    g = hits.groupby("probe", sort=False, observed=True)
    out = pd.DataFrame(
        {
            "category": g["probe_category"].first(),
            "requests": g.size(),
            "clients": g["client_ip"].nunique(),
            "first_seen": g["timestamp"].min(),
            "last_seen": g["timestamp"].max(),
            "statuses": g["status_code"].agg(_statuses),
            "examples": _text(g["path"], _examples),
        }
    )
    out.index.name = "target"
    out = out.reset_index().sort_values("requests", ascending=False, ignore_index=True)
    return out.astype({"target": STRING, "category": STRING, "statuses": STRING,
                       "examples": STRING})[columns]


def auth_failures(events: pd.DataFrame) -> pd.DataFrame:
    """401/403 answers on authentication routes, per client, most failures first.

    Columns: ``client_ip``, ``failures``, ``attempts`` (all auth-route requests),
    ``failure_ratio``, ``peak_per_min``, ``first_seen``, ``last_seen``, ``routes``,
    ``user_agents``, ``bruteforce`` (the client meets the brute-force thresholds).
    """
    return _auth_failures(requests_table(events))


def _auth_failures(req: pd.DataFrame) -> pd.DataFrame:
    auth = req[req["is_auth"]]
    fails = auth[auth["auth_failed"]]
    columns = ["client_ip", "failures", "attempts", "failure_ratio", "peak_per_min",
               "first_seen", "last_seen", "routes", "user_agents", "bruteforce"]
    if fails.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    g = fails.groupby("client_ip", sort=False, observed=True)
    out = pd.DataFrame(
        {
            "failures": g.size(),
            "first_seen": g["timestamp"].min(),
            "last_seen": g["timestamp"].max(),
            "routes": _text(g["route"], lambda s: _joined(sorted(set(s.dropna())), 5)),
            "user_agents": g["user_agent"].nunique(),
        }
    )
    out["attempts"] = auth.groupby("client_ip", sort=False, observed=True).size()
    out["peak_per_min"] = (
        fails.groupby(["client_ip", "minute"], sort=False, observed=True).size()
        .groupby(level=0, sort=False, observed=True).max()
    )
    # clients in lexical order before the sort by failures (which breaks ties by position); a
    # categorical index would sort by its codes, so the (few) client keys become strings first
    out.index = out.index.astype(STRING)
    out = out.sort_index()
    out = out.astype({"failures": "int64", "attempts": "int64", "peak_per_min": "int64",
                      "user_agents": "int64"})
    out["failure_ratio"] = out["failures"] / out["attempts"]
    out["bruteforce"] = (
        (out["failures"] >= MIN_AUTH_FAILURES)
        & (out["failure_ratio"] >= MIN_AUTH_FAILURE_RATIO)
        & (out["peak_per_min"] >= MIN_AUTH_FAILURE_PEAK)
    )
    out.index.name = "client_ip"
    out = out.reset_index()
    return out.sort_values("failures", ascending=False, ignore_index=True)[columns]


def auth_failure_bursts(events: pd.DataFrame, *, freq: str = "1min") -> pd.DataFrame:
    """Site-wide failed logins per time bucket, with ``burst`` marking credential stuffing.

    Columns: ``time``, ``failures``, ``clients`` (distinct IPs failing in that bucket),
    ``burst`` (failures above ``max(SITE_AUTH_BURST_FLOOR, median + k·1.4826·MAD)``).  Many IPs
    failing in the same minute, each only a few times, is stuffing that per-client rules miss.
    """
    return _auth_failure_bursts(requests_table(events), freq)


def _auth_failure_bursts(req: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    fails = req[req["auth_failed"]]
    if fails.empty:
        return pd.DataFrame({"time": pd.Series([], dtype=req["timestamp"].dtype),
                             "failures": pd.Series([], dtype="int64"),
                             "clients": pd.Series([], dtype="int64"),
                             "burst": pd.Series([], dtype="bool")})
    bucket = fails["timestamp"].dt.floor(freq)
    g = fails.groupby(bucket, observed=True)
    series = pd.DataFrame({"failures": g.size(), "clients": g["client_ip"].nunique()})
    full = pd.date_range(req["timestamp"].min().floor(freq), req["timestamp"].max().floor(freq),
                         freq=freq)
    series = series.reindex(full, fill_value=0)
    med = float(series["failures"].median())
    mad = float((series["failures"] - med).abs().median())
    threshold = max(SITE_AUTH_BURST_FLOOR, med + SITE_AUTH_BURST_K * 1.4826 * mad)
    series["burst"] = series["failures"] > threshold
    series.index.name = "time"
    return series.reset_index().astype({"failures": "int64", "clients": "int64"})


def waf_actions(events: pd.DataFrame) -> pd.DataFrame:
    """What the Vercel firewall did (``proxy.wafAction``), per client and action.

    Columns: ``client_ip``, ``waf_action``, ``requests``, ``first_seen``, ``last_seen``,
    ``paths`` (distinct), ``examples``; most requests first.
    """
    req = requests_table(events)
    acted = req[req["waf_action"].notna()]
    columns = ["client_ip", "waf_action", "requests", "first_seen", "last_seen", "paths",
               "examples"]
    if acted.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    keys = ["client_ip", "waf_action"]
    g = acted.groupby(keys, sort=False, observed=True)
    out = pd.DataFrame(
        {
            "requests": g.size(),
            "first_seen": g["timestamp"].min(),
            "last_seen": g["timestamp"].max(),
            "paths": g["path"].nunique(),
            "examples": _text(g["path"], _examples),
        }
    ).reset_index()
    out = _string_keys(out, keys)
    return out.sort_values("requests", ascending=False, ignore_index=True)[columns]


def data_access(
    events: pd.DataFrame, ips: Iterable[str] | pd.Series | pd.DataFrame
) -> pd.DataFrame:
    """What the given clients may have obtained: their 2xx answers per route, with bytes.

    ``ips`` is any iterable of client IPs, or a :func:`suspicious_clients` frame.  Columns:
    ``client_ip``, ``method``, ``route``, ``requests``, ``bytes`` (sum of response bytes; NA
    when the source does not record sizes), ``first_seen``, ``last_seen``, ``statuses``,
    ``examples``; most bytes first.
    """
    if isinstance(ips, pd.DataFrame):
        ips = ips["client"] if "client" in ips else ips["client_ip"]
    wanted = {str(ip) for ip in ips if ip is not None and not pd.isna(ip)}
    req = requests_table(events)
    return _data_access(req, wanted)


def _data_access(req: pd.DataFrame, wanted: set[str]) -> pd.DataFrame:
    hits = req[req["client_ip"].isin(wanted).fillna(False) & req["ok"]]
    columns = ["client_ip", "method", "route", "requests", "bytes", "first_seen", "last_seen",
               "statuses", "examples"]
    if hits.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    hits = hits.assign(route=fill_missing(fill_missing(hits["route"], hits["path"]), "(none)"),
                       method=fill_missing(hits["method"], "(none)"))
    keys = ["client_ip", "method", "route"]
    g = hits.groupby(keys, sort=False, observed=True)
    out = pd.DataFrame(
        {
            "requests": g.size(),
            "bytes": g["bytes"].sum(min_count=1),
            "first_seen": g["timestamp"].min(),
            "last_seen": g["timestamp"].max(),
            "statuses": g["status_code"].agg(_statuses),
            "examples": _text(g["path"], _examples),
        }
    ).reset_index()
    out = _string_keys(out, keys)
    out["bytes"] = out["bytes"].astype("Int64")
    return out.sort_values(["bytes", "requests"], ascending=False, na_position="last",
                           ignore_index=True)[columns]


# --- block list ---------------------------------------------------------------------------------

#: Prefix lengths used to aggregate several flagged addresses into one rule.
CIDR_V4 = 24
CIDR_V6 = 64
#: Flagged addresses one network needs before they become one CIDR rule.
MIN_CIDR_MEMBERS = 3


@dataclass(frozen=True)
class _Entry:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    members: tuple[str, ...]


def _parse_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


def blocklist(events: pd.DataFrame, *, aggregate: bool = True) -> pd.DataFrame:
    """IPs and CIDRs to block, with reasons and the time window each was active.

    Only valid addresses are listed (a malformed ``client_ip`` cannot be a firewall rule).
    With ``aggregate``, several flagged addresses in one /24 (IPv4) or /64 (IPv6) become one CIDR
    rule — unless an unflagged client with traffic shares that network, because blocking it would
    lock out legitimate users.  Columns: ``entry``, ``kind`` (``ip``/``cidr``), ``addresses``,
    ``reasons`` (codes joined by ``;``), ``requests``, ``first_seen``, ``last_seen``,
    ``details``.
    """
    return _blocklist(client_profiles(events), aggregate=aggregate)


def _blocklist(prof: pd.DataFrame, *, aggregate: bool = True) -> pd.DataFrame:
    columns = ["entry", "kind", "addresses", "reasons", "requests", "first_seen", "last_seen",
               "details"]
    parsed = prof.assign(ip=prof["client"].map(_parse_ip))
    parsed = parsed[parsed["ip"].notna()]
    flagged = parsed[parsed["flagged"]]
    if flagged.empty:
        out = pd.DataFrame({c: pd.Series([], dtype=STRING) for c in columns})
        return out.astype({"requests": "int64"})

    def net(ip: Any) -> Any:
        prefix = CIDR_V4 if ip.version == 4 else CIDR_V6
        return ipaddress.ip_network(f"{ip}/{prefix}", strict=False)

    clean_nets = {net(ip) for ip in parsed.loc[~parsed["flagged"], "ip"]}
    rows: list[dict[str, Any]] = []
    groups = flagged.groupby(flagged["ip"].map(net), sort=False) if aggregate else None
    for network, members in (groups if groups is not None else []):
        if len(members) >= MIN_CIDR_MEMBERS and network not in clean_nets:
            rows.append(_row(str(network), "cidr", members))
        else:
            rows.extend(_row(str(ip), "ip", members[members["ip"] == ip]) for ip in members["ip"])
    if not aggregate:
        rows = [_row(str(ip), "ip", flagged[flagged["ip"] == ip]) for ip in flagged["ip"]]
    out = pd.DataFrame(rows)
    out = out.astype({"entry": STRING, "kind": STRING, "addresses": STRING, "reasons": STRING,
                      "details": STRING, "requests": "int64"})
    return out.sort_values(["requests"], ascending=False, ignore_index=True)[columns]


def _row(entry: str, kind: str, members: pd.DataFrame) -> dict[str, Any]:
    reasons = dict.fromkeys(r for rs in members["reasons"] for r in rs)
    details = dict.fromkeys(d for ds in members["details"] for d in ds)
    return {
        "entry": entry,
        "kind": kind,
        "addresses": " ".join(str(ip) for ip in sorted(members["ip"])),
        "reasons": ";".join(reasons),
        "requests": int(members["requests"].sum()),
        "first_seen": members["first_seen"].min(),
        "last_seen": members["last_seen"].max(),
        "details": " | ".join(details),
    }


def export_blocklist(frame: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write ``blocklist.csv`` (formula-safe) and ``blocklist.json`` into ``out_dir``.

    The CSV is for people and spreadsheet-driven change tickets: every text cell goes through
    :func:`irkit.safety.write_csv` (neutralised and quoted), so a log value cannot run as a
    formula.  The JSON is for
    automation (a WAF or firewall rule generator): ``{"generated_at", "entries": [{entry, kind,
    addresses: [...], reasons: [...], requests, first_seen, last_seen, details}]}``.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IrkitError(f"{out}: cannot create block-list folder ({exc.strerror})") from exc
    table = frame.copy()
    for col in ("first_seen", "last_seen"):
        if col in table:
            table[col] = table[col].map(_iso).astype(STRING)
    csv_path = out / "blocklist.csv"
    json_path = out / "blocklist.json"
    write_csv(table, csv_path)
    entries = []
    for rec in table.to_dict(orient="records"):
        rec = {k: (None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v)
               for k, v in rec.items()}
        rec["addresses"] = str(rec.get("addresses") or "").split()
        rec["reasons"] = [r for r in str(rec.get("reasons") or "").split(";") if r]
        rec["requests"] = int(rec.get("requests") or 0)
        entries.append(rec)
    doc = {"generated_at": pd.Timestamp.now(tz="UTC").isoformat(), "entries": entries}
    json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [csv_path, json_path]


# --- findings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityEvidence:
    """Everything the security evidence report shows, from one pass over the client requests.

    Why one pass: on 10M client requests each public function above rebuilds
    :func:`requests_table` (gigabytes and a minute each); ``irkit open`` computes this once and
    keeps the small tables with the run, so the report's kernel never holds the requests.
    """

    #: the ``security`` object of ``findings.json`` (see :func:`security_findings`)
    findings: dict[str, Any]
    #: :func:`blocklist` of the same requests
    blocklist: pd.DataFrame
    #: :func:`data_access` of the suspicious clients
    data_access: pd.DataFrame
    #: :func:`auth_failures`
    auth_failures: pd.DataFrame


def security_evidence(events: pd.DataFrame) -> SecurityEvidence:
    """:class:`SecurityEvidence` of ``events`` (or of already-merged client request rows)."""
    req = requests_table(events)
    prof = _profiles(req, "client_ip")
    found = _security_findings(req, prof)
    return SecurityEvidence(
        findings=found, blocklist=_blocklist(prof),
        data_access=_data_access(req, {s["ip"] for s in found["suspicious_ips"]}),
        auth_failures=_auth_failures(req))


def security_findings(events: pd.DataFrame) -> dict[str, Any]:
    """The ``security`` object of ``findings.json``.

    ``suspicious_ips``: ``[{ip, requests, reasons, details, first_seen, last_seen, ja4}]`` most
    suspicious first; ``scanner_paths``: ``[{target, category, requests, clients, first_seen,
    last_seen}]``; plus ``auth_failures`` (site totals and burst minutes), ``waf_actions``
    (counts per action) and ``blocklist`` (``[{entry, kind, reasons}]``).  Values are plain
    JSON types; log-derived strings are raw and must be escaped where displayed.
    """
    req = requests_table(events)
    return _security_findings(req, _profiles(req, "client_ip"))


def _security_findings(req: pd.DataFrame, prof: pd.DataFrame) -> dict[str, Any]:
    flagged = prof[prof["flagged"]]
    suspicious = [
        {
            "ip": str(row.client),
            "requests": int(row.requests),
            "reasons": list(row.reasons),
            "details": list(row.details),
            "first_seen": _iso(row.first_seen),
            "last_seen": _iso(row.last_seen),
            "ja4": None if pd.isna(row.ja4) else str(row.ja4),
        }
        for row in flagged.itertuples(index=False)
    ]
    paths = _scanner_paths(req)
    scanner = [
        {
            "target": str(row.target),
            "category": str(row.category),
            "requests": int(row.requests),
            "clients": int(row.clients),
            "first_seen": _iso(row.first_seen),
            "last_seen": _iso(row.last_seen),
        }
        for row in paths.itertuples(index=False)
    ]
    bursts = _auth_failure_bursts(req)
    waf = most_common(req["waf_action"])
    block = _blocklist(prof)
    return {
        "suspicious_ips": suspicious,
        "scanner_paths": scanner,
        "auth_failures": {
            "total": int(req["auth_failed"].sum()),
            "clients": int(req.loc[req["auth_failed"], "client_ip"].nunique()),
            "peak_per_min": int(bursts["failures"].max()) if len(bursts) else 0,
            "burst_minutes": [_iso(t) for t in bursts.loc[bursts["burst"], "time"]],
        },
        "waf_actions": {str(k): int(v) for k, v in waf.items()},
        "blocklist": [
            {"entry": str(r.entry), "kind": str(r.kind), "reasons": str(r.reasons).split(";")}
            for r in block.itertuples(index=False)
        ],
    }
