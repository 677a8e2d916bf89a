"""User-agent classes for security triage: browser, known bot, scanner tool, scripted client.

Why a class and not the raw string: an attacker can send any user agent, so a user agent alone
proves nothing, but the *class* of the agents a client uses is strong supporting evidence.  A
client whose agent names a vulnerability scanner (sqlmap, nikto, nuclei, ...) announced itself;
a client using ``curl``/``python-requests`` is scripted (normal for APIs, suspicious against
login forms); a known crawler (ua-parser's ``Spider`` device family: Googlebot, bingbot,
AhrefsBot, ...) is expected to fetch many distinct pages.

Browser and bot detection come from the maintained `ua-parser`_ regex database; ua-parser does not
know offensive tools, so :data:`SCANNER_SIGNATURES` and :data:`TOOL_SIGNATURES` below list them.
Each entry is ``(name, regex)`` matched case-insensitively anywhere in the agent string.

.. _ua-parser: https://github.com/ua-parser/uap-python
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from irkit.schema import categorical_by_code

#: User-agent classes, from most to least suspicious.
SCANNER = "scanner"
TOOL = "tool"
BOT = "bot"
BROWSER = "browser"
UNKNOWN = "unknown"
NONE = "none"
CLASSES = (SCANNER, TOOL, BOT, BROWSER, UNKNOWN, NONE)

#: Vulnerability scanners, fuzzers, brute-forcers and internet-wide scanners that name themselves
#: in their default user agent.  Sources: each tool's documentation / default configuration.
SCANNER_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("sqlmap", r"sqlmap"),
    ("nikto", r"nikto"),
    ("nuclei", r"nuclei"),
    ("nmap", r"nmap scripting engine|\bnmap\b"),
    ("masscan", r"masscan"),
    ("zgrab", r"zgrab"),
    ("wpscan", r"wpscan"),
    ("dirbuster", r"dirbuster"),
    ("gobuster", r"gobuster"),
    ("dirb", r"\bdirb\b"),
    ("ffuf", r"\bffuf\b|fuzz faster u fool"),
    ("feroxbuster", r"feroxbuster"),
    ("wfuzz", r"wfuzz"),
    ("acunetix", r"acunetix|acunetix-wvs"),
    ("netsparker", r"netsparker|invicti"),
    ("openvas", r"openvas|greenbone"),
    ("nessus", r"nessus"),
    ("burp", r"burp ?(suite|collaborator)"),
    ("zap", r"owasp[ _-]?zap|\bzaproxy\b"),
    ("w3af", r"w3af"),
    ("arachni", r"arachni"),
    ("skipfish", r"skipfish"),
    ("hydra", r"\bhydra\b"),
    ("medusa", r"\bmedusa\b"),
    ("jaeles", r"jaeles"),
    ("whatweb", r"whatweb"),
    ("wapiti", r"wapiti"),
    ("commix", r"commix"),
    ("xsstrike", r"xsstrike"),
    ("morfeus", r"morfeus"),
    ("censys", r"censysinspect"),
    ("expanse", r"expanse,? a palo alto"),
    ("internet-measurement", r"internet-measurement"),
    ("l9scan", r"l9(scan|explore|tcpid)"),
)

#: Scripted HTTP clients and automation: normal for API consumers and monitoring, but not a
#: person at a browser.  Supporting evidence only, never a reason on its own.
TOOL_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("curl", r"^curl/|\bcurl/\d"),
    ("wget", r"\bwget/"),
    ("python-requests", r"python-requests"),
    ("python-urllib", r"python-urllib"),
    ("python-httpx", r"python-httpx"),
    ("aiohttp", r"aiohttp"),
    ("go-http-client", r"go-http-client"),
    ("okhttp", r"okhttp"),
    ("java", r"^java/|apache-httpclient"),
    ("libwww-perl", r"libwww-perl"),
    ("node", r"node-fetch|\bundici\b|^axios/|^got "),
    ("postman", r"postmanruntime"),
    ("httpie", r"^httpie/"),
    ("headless", r"headlesschrome|phantomjs|puppeteer|playwright|selenium"),
    ("scrapy", r"scrapy"),
    ("php", r"^php/|guzzlehttp"),
    ("ruby", r"^ruby\b|faraday"),
)


def _compile(signatures: tuple[tuple[str, str], ...]) -> list[tuple[str, re.Pattern[str]]]:
    return [(name, re.compile(rx, re.IGNORECASE)) for name, rx in signatures]


_SCANNERS = _compile(SCANNER_SIGNATURES)
_TOOLS = _compile(TOOL_SIGNATURES)


def _match(signatures: list[tuple[str, re.Pattern[str]]], agent: str) -> str | None:
    for name, rx in signatures:
        if rx.search(agent):
            return name
    return None


@lru_cache(maxsize=65536)
def classify(agent: str | None) -> tuple[str, str | None]:
    """Return ``(class, name)`` for one user agent, e.g. ``("scanner", "sqlmap")``.

    ``name`` is the matched tool or the ua-parser family (``"Googlebot"``, ``"Chrome"``) and
    ``None`` when nothing is known.  Results are cached: logs repeat the same few agents.
    """
    if agent is None or agent is pd.NA or not str(agent).strip():
        return NONE, None
    agent = str(agent)
    name = _match(_SCANNERS, agent)
    if name:
        return SCANNER, name
    name = _match(_TOOLS, agent)
    if name:
        return TOOL, name
    from ua_parser import parse  # imported lazily: loading its regex set takes ~0.2 s

    result = parse(agent[:2048])
    family = result.user_agent.family if result.user_agent else None
    if result.device is not None and result.device.family == "Spider":
        return BOT, family or "bot"
    if family and family != "Other" and result.os is not None:
        return BROWSER, family
    if family and family != "Other":
        return TOOL, family
    return UNKNOWN, None


def classify_series(agents: pd.Series) -> pd.DataFrame:
    """Classify a column of user agents: a frame with ``ua_class`` and ``ua_name`` per row.

    Each distinct agent is parsed once, so this is cheap on millions of rows; a categorical
    column (the engine's compact rows) is read through its codes, never cast to strings, and
    both columns are categoricals (a few bytes a row).
    """
    codes, uniques = pd.factorize(agents, use_na_sentinel=True)
    classes = [classify(None if pd.isna(u) else str(u)) for u in uniques]
    missing = len(uniques)  # rows without an agent: their own code, classed as NONE
    idx = np.where(codes >= 0, codes, missing)
    return pd.DataFrame(
        {
            "ua_class": categorical_by_code([c for c, _ in classes] + [NONE], idx),
            "ua_name": categorical_by_code([n for _, n in classes] + [None], idx),
        },
        index=agents.index,
    )
