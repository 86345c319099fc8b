"""The pages' security: strict CSP and framing headers, no inline script or style, output escaped,
CSRF on every form, the ID number never in a URL, a log line or the session row, uploads checked as
the API checks them, kiosk timeouts, and a 412 that keeps the editor's work."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.api.app import create_app
from gateway.clock import utcnow
from gateway.services.context import Gateway
from gateway.store.tables import audit_log
from gateway.store.tables_web import web_sessions
from gateway.web.security import CSP
from tests.web.conftest import enrol
from tests.web.test_staff_sign_in import BASE, csrf_of, sign_in

TEMPLATES = Path(__file__).resolve().parents[2] / "gateway" / "web" / "templates"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def resident_sign_in(client: TestClient, idn: str, name: str, *, kiosk: bool = False) -> None:
    page = client.get("/me/sign-in")
    state = re.search(r'name="login_state" value="([^"]+)"', page.text)
    assert state
    data = {"login_state": state.group(1), "id_number": idn, "name": name}
    if kiosk:
        data["kiosk"] = "1"
    done = client.post("/me/sign-in", data=data, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/me"


def test_pages_carry_a_strict_csp_and_the_api_is_unchanged(client: TestClient) -> None:
    page = client.get("/console/sign-in")
    assert page.headers["content-security-policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP and "script-src 'self'" in CSP
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    api = client.get("/health/live")
    assert "content-security-policy" not in api.headers


def test_templates_hold_no_inline_script_style_or_handler() -> None:
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert "<style" not in text and not re.search(r"\sstyle=", text), path
        assert not re.search(r"\son[a-z]+=", text), path


def test_output_is_escaped(client: TestClient) -> None:
    sign_in(client, "<img src=x onerror=alert(1)>", ["auditor"])
    page = client.get("/console").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_resident_sign_in_keeps_the_id_number_out_of_urls_logs_and_rows(
    client: TestClient, gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    idn, resident, _ = enrol(gw, 501, "钱七")
    caplog.set_level(logging.DEBUG)
    resident_sign_in(client, idn, "钱七")
    page = client.get("/me")
    assert page.status_code == 200 and idn not in page.text and "钱七" not in page.text  # the masked name only
    assert idn not in caplog.text and idn not in str(page.url)
    with gw.engine.connect() as conn:
        row = conn.execute(select(web_sessions)).one()
    assert row.subject == resident.id_hash and idn not in str(row.profile)


def test_a_bad_id_number_is_refused_without_echoing_it(client: TestClient) -> None:
    page = client.get("/me/sign-in")
    state = re.search(r'name="login_state" value="([^"]+)"', page.text)
    assert state
    bad = "33060219900517123X"
    answer = client.post("/me/sign-in", data={"login_state": state.group(1), "id_number": bad, "name": "某"})
    assert answer.status_code == 422 and bad not in answer.text
    forged = client.post("/me/sign-in", data={"login_state": "forged", "id_number": bad, "name": "某"})
    assert forged.status_code == 403


def test_resident_forms_need_the_csrf_token(client: TestClient, gw: Gateway) -> None:
    idn, _, _ = enrol(gw, 502, "周九")
    resident_sign_in(client, idn, "周九")
    refused = client.post("/me/consents", data={"audience": "x", "purposes": ["loan_discount"]})
    assert refused.status_code == 403 and "csrf_rejected" in refused.text


def test_evidence_uploads_are_checked_as_the_api_checks_them(client: TestClient, gw: Gateway) -> None:
    idn, _, ref = enrol(gw, 503, "吴十", breach=True)
    resident_sign_in(client, idn, "吴十")
    csrf = csrf_of(client, "/me/objections")
    fake = client.post(
        "/me/objections",
        data={"csrf_token": csrf, "target": ref, "statement": "不是我"},
        files={"evidence": ("x.png", b"MZ\x90\x00not a png", "image/png")},
    )
    assert fake.status_code == 415  # the content is not what the type claims
    wrong_type = client.post(
        "/me/objections",
        data={"csrf_token": csrf, "target": ref, "statement": "不是我"},
        files={"evidence": ("x.html", b"<html>", "text/html")},
    )
    assert wrong_type.status_code == 415
    ok = client.post(
        "/me/objections",
        data={"csrf_token": csrf, "target": ref, "statement": "不是我"},
        files={"evidence": ("x.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    listing = client.get("/me/objections").text
    assert ref in listing and "已提交" in listing


def test_a_photo_larger_than_the_default_body_limit_reaches_the_objection_form(client: TestClient, gw: Gateway) -> None:
    # The form carries evidence files: its body limit is the evidence limit's, not the 64 KiB default.
    idn, _, ref = enrol(gw, 505, "郑十一", breach=True)
    resident_sign_in(client, idn, "郑十一")
    csrf = csrf_of(client, "/me/objections")
    photo = PNG + b"\x00" * (300 * 1024)
    ok = client.post(
        "/me/objections",
        data={"csrf_token": csrf, "target": ref, "statement": "照片为证"},
        files={"evidence": ("photo.png", photo, "image/png")},
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text


def test_kiosk_sessions_end_after_the_short_idle_time(client: TestClient, gw: Gateway) -> None:
    idn, _, _ = enrol(gw, 504, "张三")
    resident_sign_in(client, idn, "张三", kiosk=True)
    page = client.get("/me")
    assert f'data-kiosk-idle="{gw.settings.kiosk_idle_seconds}"' in page.text and "kiosk" in page.text
    with gw.engine.begin() as conn:
        conn.execute(
            update(web_sessions).values(last_seen_at=utcnow() - timedelta(seconds=gw.settings.kiosk_idle_seconds))
        )
    assert client.get("/me", follow_redirects=False).headers["location"] == "/me/sign-in"
    with gw.engine.connect() as conn:
        assert "resident.session_expired" in {r.action for r in conn.execute(select(audit_log.c.action))}


def test_a_concurrent_crosswalk_change_shows_412_and_keeps_the_rows(client: TestClient) -> None:
    sign_in(client, "li", ["mapping_admin"])
    page = client.get("/console/crosswalks/sx-integrity-yrd-common").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    etag = re.search(r'name="etag" value="([^"]+)"', page)
    assert csrf and etag
    form = {
        "csrf_token": csrf.group(1),
        "etag": etag.group(1).replace("&#34;", '"'),
        "to_local": ["A", "B", "C", "D", "E"],
        "to_min": [""] * 5,
        "to_max": [""] * 5,
        "to_common": ["outstanding", "good", "good", "basic", "low"],
        "from_common": ["outstanding", "good", "fair", "basic", "low"],
        "from_local": ["A", "B", "D", "E", "E"],
        "effective_from": "2026-01-01",
        "reason": "first",
    }
    assert (
        client.post("/console/crosswalks/sx-integrity-yrd-common/drafts", data=form, follow_redirects=False).status_code
        == 303
    )
    stale = {**form, "to_common": ["outstanding", "outstanding", "good", "basic", "low"], "reason": "second"}
    conflict = client.post("/console/crosswalks/sx-integrity-yrd-common/drafts", data=stale)
    assert conflict.status_code == 412
    assert "Someone else" in conflict.text or "其他人" in conflict.text
    # The second person's edit is still in the form, with the fresh ETag to save it again.
    assert conflict.text.count('value="outstanding"') >= 3 and 'value="second"' in conflict.text


def test_an_invalid_row_is_marked(client: TestClient) -> None:
    sign_in(client, "li", ["mapping_admin"])
    page = client.get("/console/crosswalks/sx-integrity-yrd-common").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    etag = re.search(r'name="etag" value="([^"]+)"', page)
    assert csrf and etag
    form = {
        "csrf_token": csrf.group(1),
        "etag": etag.group(1).replace("&#34;", '"'),
        "to_local": ["A", "B", "C", "D", "E"],
        "to_min": [""] * 5,
        "to_max": [""] * 5,
        "to_common": ["outstanding", "good", "splendid", "basic", "low"],
        "from_common": ["outstanding", "good", "fair", "basic", "low"],
        "from_local": ["A", "B", "C", "D", "E"],
        "reason": "typo",
    }
    answer = client.post("/console/crosswalks/sx-integrity-yrd-common/drafts", data=form)
    assert answer.status_code == 422
    marked = re.findall(r'<tr class="row-error">\s*<td><input name="to_local" value="(\w)"', answer.text)
    assert marked == ["C"]


def test_an_officer_verifies_a_self_report_from_the_queue(client: TestClient, gw: Gateway) -> None:
    from gateway.services.scores.ingestion import ingest_batch
    from gateway.store.tables import information_records
    from tests.support import record

    idn, _, _ = enrol(gw, 505, "李四")
    unit = gw.partners.enabled("sx-self-report")
    assert unit is not None
    batch = [record("volunteer_service", {"hours": 20}, ref="web-self-1", id_number=idn, name="李四")]
    assert len(ingest_batch(gw, unit, batch).accepted) == 1
    with gw.engine.connect() as conn:
        rid = conn.execute(
            select(information_records.c.id).where(information_records.c.source_ref == "web-self-1")
        ).scalar_one()
    sign_in(client, "officer", ["credit_officer"])
    queue = client.get("/console/self-reports").text
    assert f"/console/self-reports/{rid}/decision" in queue and idn not in queue
    done = client.post(
        f"/console/self-reports/{rid}/decision",
        data={"csrf_token": csrf_of(client), "decision": "verified", "reason": "材料核实无误"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with gw.engine.connect() as conn:
        status = conn.execute(select(information_records.c.status).where(information_records.c.id == rid)).scalar_one()
    assert status == "valid"
    assert f"/console/self-reports/{rid}/decision" not in client.get("/console/self-reports").text


def test_partner_admin_disables_a_partner_and_a_stale_form_shows_412(client: TestClient, gw: Gateway) -> None:
    sign_in(client, "pa", ["partner_admin"])
    page = client.get("/console/partners").text
    form = re.search(
        r'action="/console/partners/sx-example-bank/enabled">\s*<input type="hidden" name="csrf_token" value="([^"]+)">'
        r'<input type="hidden" name="etag" value="([^"]+)">',
        page,
    )
    assert form
    data = {"csrf_token": form.group(1), "etag": form.group(2).replace("&#34;", '"'), "enabled": "0", "reason": "test"}
    assert (
        client.post("/console/partners/sx-example-bank/enabled", data=data, follow_redirects=False).status_code == 303
    )
    from gateway.services.admin.partner_admin import show_partner

    assert show_partner(gw, "sx-example-bank")["enabled"] is False
    stale = client.post("/console/partners/sx-example-bank/enabled", data={**data, "enabled": "1"})
    assert stale.status_code == 412 and "sx-example-bank" in stale.text
    bad = client.post(
        "/console/partners/sx-example-bank/jwks",
        data={"csrf_token": form.group(1), "etag": '"1"', "jwks": "{not json", "reason": "x"},
    )
    assert bad.status_code == 422


def test_partner_admin_changes_allowed_purposes_on_the_console(client: TestClient, gw: Gateway) -> None:
    from gateway.services.admin.partner_admin import show_partner

    sign_in(client, "pa", ["partner_admin"])
    page = client.get("/console/partners").text
    form = re.search(
        r'action="/console/partners/sx-example-bank/purposes" class="purposes-form">\s*'
        r'<input type="hidden" name="csrf_token" value="([^"]+)"><input type="hidden" name="etag" value="([^"]+)">',
        page,
    )
    assert form and "/console/partners/sx-intermediate-court/purposes" not in page  # a unit has no purposes
    before = show_partner(gw, "sx-example-bank")["allowed_purposes"]
    data = {"csrf_token": form.group(1), "etag": form.group(2).replace("&#34;", '"'), "reason": "scope review"}
    chosen = {**data, "purposes": ["credit_line", "tourism"]}
    # No CSRF token: refused, nothing changed.
    forged = client.post("/console/partners/sx-example-bank/purposes", data={**chosen, "csrf_token": "x"})
    assert forged.status_code == 403 and show_partner(gw, "sx-example-bank")["allowed_purposes"] == before
    unknown = client.post("/console/partners/sx-example-bank/purposes", data={**data, "purposes": ["gambling"]})
    assert unknown.status_code == 422
    done = client.post("/console/partners/sx-example-bank/purposes", data=chosen, follow_redirects=False)
    assert done.status_code == 303
    assert show_partner(gw, "sx-example-bank")["allowed_purposes"] == ["credit_line", "tourism"]
    assert gw.partners.get("sx-example-bank").allowed_purposes == {"credit_line", "tourism"}  # type: ignore[union-attr]
    with gw.engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.action == "partner.set_purposes")).one()
    assert row.actor_id == "pa" and row.details["reason"] == "scope review"
    # An auditor sees the purposes but no form; forcing the POST is refused.
    sign_in(client, "au", ["auditor"])
    assert "purposes-form" not in client.get("/console/partners").text
    forced = client.post("/console/partners/sx-example-bank/purposes", data={**chosen, "csrf_token": csrf_of(client)})
    assert forced.status_code == 403


def test_a_forced_console_page_is_refused_and_audited_once_per_window(client: TestClient, gw: Gateway) -> None:
    from gateway.services.web.page_access import FORBIDDEN_ACTION

    sign_in(client, "auditor-li", ["auditor"])
    for _ in range(5):  # a script hammering the page: five 403s, one audit row
        assert client.get("/console/objections").status_code == 403
    assert client.get("/console/objections/obj_123").status_code == 403
    assert client.get("/console/audit").status_code == 200
    with gw.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == FORBIDDEN_ACTION)).all()
    pages = sorted((r.target_ref, r.actor_id, tuple(r.details["missing_role"]), r.details["method"]) for r in rows)
    assert pages == [
        ("/console/objections", "auditor-li", ("credit_officer",), "GET"),
        ("/console/objections/{objection_id}", "auditor-li", ("credit_officer",), "GET"),  # no id from the URL
    ]
    assert all(r.details["roles"] == ["auditor"] for r in rows)
    # A CSRF refusal is not a role refusal: not audited as one.
    sign_in(client, "pa-2", ["partner_admin"])
    assert client.post("/console/partners/sx-example-bank/enabled", data={"csrf_token": "x"}).status_code == 403
    with gw.engine.connect() as conn:
        assert (
            conn.execute(
                select(audit_log).where(audit_log.c.actor_id == "pa-2", audit_log.c.action == FORBIDDEN_ACTION)
            ).first()
            is None
        )
