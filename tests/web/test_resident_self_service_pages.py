"""The residents' pages that act for them (issue 11 over issues 9 and 10): the scoring authorisation
with its notice, a partner's consent request (sign in, then land on it), the credit report and its
signed export, the credit code — CSRF on every form, the channel and notice recorded, no open redirect."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.services.context import Gateway
from gateway.services.residents.authorisation import authorisation_view
from gateway.store.tables import audit_log
from gateway.web.security import CSP
from tests.support.partners import access_token
from tests.web.conftest import enrol
from tests.web.test_pages_security import resident_sign_in
from tests.web.test_staff_sign_in import BASE

BANK = "sx-example-bank"


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _consent_request(client: TestClient) -> dict[str, Any]:
    token = access_token(client, BANK)
    body = {"purpose": "loan_discount", "disclosure": "tier", "valid_days": 30}
    created = client.post("/v1/consent-requests", json=body, headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text
    out: dict[str, Any] = created.json()
    return out


def test_authorise_with_the_notice_shown_then_withdraw(client: TestClient, gw: Gateway) -> None:
    idn, resident, _ = enrol(gw, 601, "周一", authorised=False)
    resident_sign_in(client, idn, "周一", kiosk=True)
    page = client.get("/me/authorisation")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert "绍兴市个人诚信分授权评分告知书" in page.text and "sx-scoring-notice" in page.text
    assert "Notice on authorising" in client.get("/me/authorisation?lang=en").text
    client.get("/me/authorisation?lang=zh")
    # No CSRF token: refused, nothing recorded.
    forged = client.post("/me/authorisation", data={"notice_id": "sx-scoring-notice"}, follow_redirects=False)
    assert forged.status_code == 403 and authorisation_view(gw, resident)["status"] == "none"
    csrf = csrf_of(page.text)
    # A notice version that was never published is refused as the API refuses it.
    bad = client.post(
        "/me/authorisation", data={"csrf_token": csrf, "notice_id": "sx-scoring-notice", "notice_version": "1999.1"}
    )
    assert bad.status_code == 422 and authorisation_view(gw, resident)["status"] == "none"
    done = client.post(
        "/me/authorisation",
        data={"csrf_token": csrf, "notice_id": "sx-scoring-notice", "notice_version": "2026.1"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/me/authorisation?done=authorised"
    view = authorisation_view(gw, resident)
    assert view["status"] == "granted" and view["channel"] == "kiosk" and view["score"]["status"] == "scored"
    assert view["events"][0]["notice"] == {"id": "sx-scoring-notice", "version": "2026.1"}
    gone = client.post("/me/authorisation/withdraw", data={"csrf_token": csrf}, follow_redirects=False)
    assert gone.status_code == 303
    after = authorisation_view(gw, resident)
    assert after["status"] == "withdrawn" and after["records_deleted_after"]
    again = client.post("/me/authorisation/withdraw", data={"csrf_token": csrf})
    assert again.status_code == 409  # nothing live to withdraw: shown on the page, not a 500


def test_a_consent_request_link_signs_in_then_lands_on_the_request(client: TestClient, gw: Gateway) -> None:
    idn, _, _ = enrol(gw, 602, "周二")
    created = _consent_request(client)
    rid = created["request_id"]
    landing = client.get(f"/consent-requests/{rid}")
    assert f'href="/me/consent-requests/{rid}"' in landing.text
    first = client.get(f"/me/consent-requests/{rid}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == f"/me/sign-in?next=/me/consent-requests/{rid}"
    form = client.get(first.headers["location"]).text
    state = re.search(r'name="login_state" value="([^"]+)"', form)
    assert state and f'name="next" value="/me/consent-requests/{rid}"' in form
    data = {"login_state": state.group(1), "id_number": idn, "name": "周二", "next": f"/me/consent-requests/{rid}"}
    signed_in = client.post("/me/sign-in", data=data, follow_redirects=False)
    assert signed_in.headers["location"] == f"/me/consent-requests/{rid}" and idn not in signed_in.headers["location"]
    page = client.get(f"/me/consent-requests/{rid}")
    assert "示例商业银行" in page.text and "loan_discount" in page.text and "sx-disclosure-notice" in page.text
    csrf = csrf_of(page.text)
    assert client.post(f"/me/consent-requests/{rid}/approve", data={}).status_code == 403
    approved = client.post(
        f"/me/consent-requests/{rid}/approve",
        data={"csrf_token": csrf, "notice_id": "sx-disclosure-notice", "notice_version": "2026.1"},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    poll = client.get(f"/v1/consent-requests/{rid}", headers={"Authorization": f"Bearer {access_token(client, BANK)}"})
    assert poll.json()["status"] == "approved"
    assert "已同意" in client.get(approved.headers["location"]).text
    twice = client.post(f"/me/consent-requests/{rid}/decline", data={"csrf_token": csrf})
    assert twice.status_code == 409  # answered once


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/me", "/me/../console", "/console"])
def test_sign_in_never_redirects_elsewhere(client: TestClient, gw: Gateway, target: str) -> None:
    idn, _, _ = enrol(gw, 603, "周三")
    form = client.get("/me/sign-in", params={"next": target}).text
    state = re.search(r'name="login_state" value="([^"]+)"', form)
    assert state and 'name="next"' not in form
    data = {"login_state": state.group(1), "id_number": idn, "name": "周三", "next": target}
    assert client.post("/me/sign-in", data=data, follow_redirects=False).headers["location"] == "/me"


def test_report_page_and_signed_export(client: TestClient, gw: Gateway) -> None:
    idn, _, _ = enrol(gw, 604, "周四", breach=True)
    resident_sign_in(client, idn, "周四")
    page = client.get("/me/report")
    assert page.status_code == 200
    assert 'href="/me/report/export"' in page.text and 'id="what-changes"' in page.text
    records = page.text.split('id="records"')[1].split("</table>")[0]
    assert records.count("<tr>") == 4 and records.count("r:") == 3  # authorisation, residency, breach; p:…
    export = client.get("/me/report/export")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    signed = export.json()
    assert signed["format"] == "credit-report+jwt" and jwt.get_unverified_header(signed["report"])["typ"] == (
        "credit-report+jwt"
    )
    assert idn not in export.text


def test_credit_code_page_shows_the_offer_only_to_an_authorised_scored_resident(
    client: TestClient, gw: Gateway
) -> None:
    idn, _, _ = enrol(gw, 605, "周五", authorised=False)
    resident_sign_in(client, idn, "周五")
    page = client.get("/me/credit-code")
    assert page.status_code == 200 and 'id="code-not-ready"' in page.text and "<svg" not in page.text
    csrf = csrf_of(client.get("/me/authorisation").text)
    client.post("/me/authorisation", data={"csrf_token": csrf})
    page = client.get("/me/credit-code")
    assert (
        'id="code-ready"' in page.text
        and 'viewBox="' in page.text
        and not re.search(r"<script(?![^>]*src=)", page.text)
    )
    assert idn not in page.text


def test_a_personal_statement_is_added_from_the_report_page(client: TestClient, gw: Gateway) -> None:
    idn, _, ref = enrol(gw, 606, "周六", breach=True)
    other_idn, _, other_ref = enrol(gw, 607, "周七", breach=True)
    resident_sign_in(client, idn, "周六")
    page = client.get("/me/report")
    assert 'id="statement-form"' in page.text and f'value="{ref}"' in page.text
    csrf = csrf_of(page.text)
    text = "该笔违约系银行系统故障所致，已于次日还清。"
    # No CSRF token: refused, nothing added.
    assert client.post("/me/statements", data={"record": ref, "statement": text}).status_code == 403
    # Another person's record answers as a record that does not exist; too long is refused in place.
    assert (
        client.post("/me/statements", data={"csrf_token": csrf, "record": other_ref, "statement": text}).status_code
        == 404
    )
    long = client.post("/me/statements", data={"csrf_token": csrf, "record": ref, "statement": "长" * 501})
    assert long.status_code == 422 and 'id="statement-form"' in long.text
    done = client.post(
        "/me/statements", data={"csrf_token": csrf, "record": ref, "statement": text}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/me/report?done=statement_added"
    shown = client.get(done.headers["location"]).text
    assert "本人声明已添加" in shown and text in shown.split('id="statements"')[1]
    # The same service as POST /v1/me/statements: audited the same way.
    with gw.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log.c.action))]
    assert "statement.add" in actions and other_idn not in shown


def test_signing_out_makes_the_browser_forget_the_credit_code_it_held(client: TestClient, gw: Gateway) -> None:
    idn, _, _ = enrol(gw, 607, "周七")
    resident_sign_in(client, idn, "周七")
    page = client.get("/me")
    assert page.status_code == 200
    forged = client.post("/me/sign-out", data={"csrf_token": "wrong"}, follow_redirects=False)
    assert forged.status_code == 403
    done = client.post("/me/sign-out", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["clear-site-data"] == '"storage"'
    assert client.get("/me", follow_redirects=False).status_code in (302, 303)  # signed out
