"""PII redaction: IPs, e-mail addresses and user ids become stable keyed pseudonyms."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from irkit.redact import KEY_ENV, Redactor, redact_frame, redact_text, redact_value
from irkit.schema import STRING, conform

R = Redactor(b"test-key")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("client 203.0.113.7 connected", "203.0.113.7"),
        ("from 2001:db8::1 via edge", "2001:db8::1"),
        ("full 2001:0db8:0000:0000:0000:0000:0000:0001 form", "2001:0db8:0000"),
        ("mapped ::ffff:203.0.113.9 address", "203.0.113.9"),
        ("http://10.0.0.1:8080/health", "10.0.0.1"),
        ("list 1.2.3.4,5.6.7.8.", "5.6.7.8"),
        ("login failed for alice@example.com: bad password", "alice@example.com"),
        ("GET /reset?email=bob%40example.org", "bob%40example.org"),
        ("uid=4242 signed in", "4242"),
        ("user_id=dana&x=1", "dana"),
        ('{"userId": "u-777", "ok": true}', "u-777"),
        ("GET /users/88123/orders", "88123"),
        ("charge for cus_NffrFeUfNV2Hib failed", "cus_NffrFeUfNV2Hib"),
        ("user_2x9Kq1 logged out", "user_2x9Kq1"),
    ],
)
def test_pii_is_replaced(text: str, secret: str) -> None:
    out = R.text(text)
    assert secret not in out
    assert re.search(r"\b(ip|email|user)-[0-9a-f]{10}\b", out)


@pytest.mark.parametrize(
    "text",
    [
        "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0.0.0 Safari/537.36",
        "at 2025-08-04T10:00:00.123+00:00 took 12:30:45",
        "GET /users/me",
        "route /users/[id]/orders",
        "TypeError: cannot read properties of undefined (reading 'id')",
        "version v1.2.3.4 deployed",
    ],
)
def test_non_pii_is_kept(text: str) -> None:
    assert R.text(text) == text


def test_pseudonyms_stable_per_key_and_differ_across_keys() -> None:
    a = R.text("203.0.113.7 and 203.0.113.7 and ::ffff:203.0.113.7")
    first = a.split()[0]
    assert a.split() == [first, "and", first, "and", first]
    assert Redactor(b"other").text("203.0.113.7") != first
    assert R.text("Alice@Example.com") == R.text("alice@example.com")


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "ab" * 16)
    assert Redactor().text("192.0.2.1") == Redactor(bytes.fromhex("ab" * 16)).text("192.0.2.1")
    monkeypatch.delenv(KEY_ENV)
    assert Redactor().text("192.0.2.1") != Redactor().text("192.0.2.1")  # random per instance


def test_redact_frame_all_text_cells_and_dtypes_kept() -> None:
    events = conform(
        {
            "timestamp": [pd.Timestamp("2025-08-04T10:00:00Z")] * 3,
            "level": ["info", "error", "info"],
            "message": ["login failed for carol@example.com", "boom at 10.1.2.3", None],
            "client_ip": ["198.51.100.23", "2001:db8::42", None],
            "path": ["/users/991/profile", "/api", "/"],
            "status_code": [401, 500, 200],
        }
    )
    out = redact_frame(events)
    assert list(out.dtypes) == list(events.dtypes)
    text = out.to_csv()
    for secret in ("carol@example.com", "10.1.2.3", "198.51.100.23", "2001:db8::42", "/991/"):
        assert secret not in text
    assert out["status_code"].tolist() == [401, 500, 200]
    assert pd.isna(out.loc[2, "client_ip"]) and pd.isna(out.loc[2, "message"])
    # the original is untouched: raw evidence keeps the values
    assert events.loc[0, "client_ip"] == "198.51.100.23"


def test_redact_frame_nested_cells_and_index() -> None:
    table = pd.DataFrame(
        {"examples": [["x from 192.0.2.9", "y"], [], None], "n": [1, 2, 3]},
        index=pd.Index(["192.0.2.9", "dave@example.net", "plain"], dtype=STRING, name="client"),
    )
    out = redact_frame(table)
    dump = repr(out.to_dict()) + repr(list(out.index))
    assert "192.0.2.9" not in dump and "dave@example.net" not in dump
    assert out.index[2] == "plain" and out.index.name == "client"


def test_redact_value_for_findings() -> None:
    findings = {"security": {"suspicious_ips": [{"ip": "45.155.205.233", "requests": 3,
                                                  "reasons": ["bruteforce"]}]},
                "timeline": [{"text": "admin@acme.io locked out"}]}
    out = redact_value(findings, redactor=R)
    dumped = repr(out)
    assert "45.155.205.233" not in dumped and "admin@acme.io" not in dumped
    assert out["security"]["suspicious_ips"][0]["requests"] == 3


def test_module_helpers_share_one_process_key() -> None:
    assert redact_text("192.0.2.1") == redact_text("192.0.2.1")
    assert redact_text(pd.NA) is pd.NA


def test_categorical_columns_redact_like_strings_and_stay_categorical() -> None:
    """Reduced tables keep repetitive strings as categoricals; redaction must not turn their
    values into missing ones (casting redacted text back to the old categories would)."""
    text = pd.Series(["203.0.113.7", None, "jane@example.com", "203.0.113.7", "/api/x",
                      "ann@example.com"], dtype=STRING)
    plain = R.series(text)
    cat = R.series(text.astype("category"))
    assert isinstance(cat.dtype, pd.CategoricalDtype)
    assert cat.astype(STRING).tolist() == plain.tolist()
    assert cat.isna().tolist() == text.isna().tolist()
