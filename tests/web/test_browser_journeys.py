"""Journeys in a real browser (headless Chromium, Playwright) against a real uvicorn server.

Each journey ends with a screenshot under ``screenshots/`` (git-ignored) for a reviewer to look at.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from gateway.services.context import Gateway
from gateway.services.rights.objections import file_objection
from gateway.store.tables import audit_log
from gateway.store.tables_web import web_sessions
from tests.support.partners import access_token
from tests.web.conftest import LiveServer, enrol, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def staff_sign_in(page: Any, live: LiveServer, name: str, roles: list[str], path: str = "/console") -> None:
    page.goto(live.url + path)
    page.click("#sign-in")  # → the development staff IdP (authorization code + PKCE)
    page.wait_for_url(re.compile(r".*/dev-idp/staff/authorize\?.*"))
    page.fill("#name", name)
    for role in roles:
        page.check(f"#role-{role}")
    page.click("#continue")  # → callback → code exchange → session
    page.wait_for_url(live.url + path)
    assert page.locator("#sign-out").is_visible()


def resident_sign_in(page: Any, live: LiveServer, idn: str, name: str) -> None:
    page.goto(live.url + "/me")
    page.wait_for_url(re.compile(r".*/me/sign-in"))
    page.fill("#id_number", idn)
    page.fill("#name", name)
    page.click("#sign-in")
    page.wait_for_url(live.url + "/me")


def test_mapping_admin_drafts_previews_publishes_and_signs_out(
    gw: Gateway, live: LiveServer, page_factory: Any
) -> None:
    for seq, name in ((401, "张三"), (402, "李四")):
        enrol(gw, seq, name)
    enrol(gw, 403, "王五", breach=True)
    page = page_factory()
    staff_sign_in(page, live, "mapper-li", ["mapping_admin"])
    assert page.locator("svg.chart").count() >= 2  # the dashboard's server-side charts
    screenshot(page, "1a-dashboard")
    page.click("a[href='/console/crosswalks']")
    page.click("a[href='/console/crosswalks/sx-integrity-yrd-common']")
    # Edit the table: tier D now maps to "fair", which moves the seeded residents in the impact chart.
    rows = page.locator("#to-rows tr")
    for i in range(rows.count()):
        if rows.nth(i).locator("input[name=to_local]").input_value() == "D":
            rows.nth(i).locator("input[name=to_common]").fill("fair")
    page.fill("#draft-reason", "browser test: D counts as fair")
    page.click("#save-draft")
    page.wait_for_url(re.compile(r".*/versions/2\?done=saved"))
    assert page.locator("#impact svg.chart").is_visible()
    impact = page.locator("#impact table").inner_text()
    assert re.search(r"fair\s+0\s+3", impact) and re.search(r"basic\s+3\s+0", impact)
    assert page.locator("#diff tr.diff-add").count() >= 1
    screenshot(page, "1b-impact-chart")
    page.fill("#publish-reason", "reviewed")
    page.click("#publish")
    page.wait_for_url(re.compile(r".*/crosswalks/sx-integrity-yrd-common\?done=published"))
    history = page.locator("#history").inner_text()
    assert "v2" in history and "published" in history and "D counts as fair" in history
    screenshot(page, "1-crosswalk-published")
    page.click("#sign-out")
    page.wait_for_url(live.url + "/console/sign-in")
    page.goto(live.url + "/console/crosswalks")  # the session is gone from the database
    page.wait_for_url(live.url + "/console/sign-in")
    with gw.engine.connect() as conn:
        actions = [
            r.action for r in conn.execute(select(audit_log.c.action).where(audit_log.c.actor_id == "mapper-li"))
        ]
    assert {"staff.sign_in", "crosswalk.draft", "crosswalk.publish", "staff.sign_out"} <= set(actions)


def test_auditor_reads_crosswalks_but_cannot_publish(gw: Gateway, live: LiveServer, page_factory: Any) -> None:
    page = page_factory()
    staff_sign_in(page, live, "auditor-wang", ["auditor"])
    menu = page.locator("header nav").inner_text()
    assert "审计" in menu and "异议" not in menu  # no objections queue in an auditor's menu
    page.goto(live.url + "/console/crosswalks/sx-integrity-yrd-common")
    assert page.locator("#draft-form").count() == 0
    # Forced: the same POST a mapping administrator's form sends is refused.
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    response = page.request.post(
        live.url + "/console/crosswalks/sx-integrity-yrd-common/publish",
        form={"csrf_token": csrf, "version": "1", "reason": "x", "etag": '"1"'},
    )
    assert response.status == 403
    forced = page.goto(live.url + "/console/objections")
    assert forced is not None and forced.status == 403
    page.goto(live.url + "/console/partners")
    assert page.locator("#partners tbody tr").count() >= 1
    screenshot(page, "2a-auditor-partners")
    page.goto(live.url + "/console/programmes")
    screenshot(page, "2b-auditor-programmes")
    page.goto(live.url + "/console/audit?lang=en")
    assert "Audit log" in page.locator("h1").inner_text() and "staff.sign_in" in page.locator("#audit").inner_text()
    screenshot(page, "2-auditor-audit-log-en")


def test_resident_sees_score_grants_and_withdraws_consent(gw: Gateway, live: LiveServer, page_factory: Any) -> None:
    idn, _, _ = enrol(gw, 411, "赵六")
    page = page_factory(375, 812)
    resident_sign_in(page, live, idn, "赵六")
    assert idn not in page.url
    assert int(page.locator("#score").inner_text().split("/")[0]) > 0
    screenshot(page, "3a-resident-score")
    page.click("nav.tabs a[href='/me/consents']")
    page.select_option("#audience", index=0)
    page.locator("#grant-form input[name=purposes]").first.check()
    page.click("#grant")
    page.wait_for_url(re.compile(r".*/me/consents\?done=granted"))
    assert page.locator("#consents .withdraw").count() == 1
    page.click("#consents .withdraw")
    page.wait_for_url(re.compile(r".*/me/consents\?done=withdrawn"))
    assert page.locator("#consents .withdraw").count() == 0
    assert "已撤回" in page.locator("#consents").inner_text()
    screenshot(page, "3-resident-consent-withdrawn")


def test_resident_authorises_consents_approves_a_bank_request_reads_the_report_and_shows_the_code(
    gw: Gateway, live: LiveServer, page_factory: Any
) -> None:
    idn, _, _ = enrol(gw, 415, "冯九", authorised=False)
    page = page_factory(375, 812)
    resident_sign_in(page, live, idn, "冯九")
    assert page.locator("#score-status").is_visible()  # not scored before the authorisation
    page.click("nav.tabs a[href='/me/authorisation']")
    assert "sx-scoring-notice" in page.locator("#notice").inner_text()
    screenshot(page, "6a-authorisation-notice")
    page.click("#authorise")
    page.wait_for_url(re.compile(r".*/me/authorisation\?done=authorised"))
    assert "已授权评分" in page.locator("#auth-status").inner_text()
    page.click("nav.tabs a[href='/me']")
    page.wait_for_url(live.url + "/me")
    assert int(page.locator("#score").inner_text().split("/")[0]) > 0
    page.click("nav.tabs a[href='/me/consents']")
    page.select_option("#audience", index=0)
    page.locator("#grant-form input[name=purposes]").first.check()
    page.click("#grant")
    page.wait_for_url(re.compile(r".*/me/consents\?done=granted"))
    page.click("#consents .withdraw")
    page.wait_for_url(re.compile(r".*/me/consents\?done=withdrawn"))
    # A bank asks through the API with its partner token; the resident opens the link (its QR code).
    with httpx.Client(base_url=live.url) as api:
        token = access_token(api, "sx-example-bank")  # type: ignore[arg-type]
        created = api.post(
            "/v1/consent-requests",
            json={"purpose": "loan_discount", "disclosure": "tier", "valid_days": 30},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    rid = created["request_id"]
    page.goto(live.url + urlsplit(created["links"]["web"]).path)
    page.click(f"a[href='/me/consent-requests/{rid}']")
    page.wait_for_url(live.url + f"/me/consent-requests/{rid}")
    assert "示例商业银行" in page.locator("#crq-partner").inner_text()
    assert "sx-disclosure-notice" in page.locator("#notice").inner_text()
    screenshot(page, "6b-consent-request")
    page.click("#approve")
    page.wait_for_url(re.compile(rf".*/me/consent-requests/{rid}\?done=approved"))
    assert "已同意" in page.locator("#crq-status").inner_text()
    page.click("nav.tabs a[href='/me/report']")
    page.wait_for_url(live.url + "/me/report")
    assert page.locator("#records tr").count() >= 3
    assert "示例商业银行" in page.locator("#lookups").inner_text()
    with page.expect_download() as download:
        page.click("#export")
    assert download.value.suggested_filename == "credit-report.json"
    screenshot(page, "6c-credit-report")
    page.click("nav.tabs a[href='/me/credit-code']")
    page.wait_for_url(live.url + "/me/credit-code")
    assert page.locator("#code-offer svg").is_visible()
    screenshot(page, "6-resident-credit-code")
    desktop = page_factory()
    resident_sign_in(desktop, live, idn, "冯九")
    for path, name in (("/me/report?lang=en", "6d-report-desktop-en"), ("/me/credit-code", "6e-credit-code-desktop")):
        desktop.goto(live.url + path)
        screenshot(desktop, name)


def test_officer_answers_an_objection_and_the_resident_sees_it(
    gw: Gateway, live: LiveServer, page_factory: Any
) -> None:
    idn, resident, ref = enrol(gw, 421, "孙八", breach=True)
    filed = file_objection(gw, resident, target=ref, statement="这条记录不是我的。", evidence=[])
    officer = page_factory()
    staff_sign_in(officer, live, "officer-zhou", ["credit_officer"])
    officer.click("a[href='/console/objections']")
    assert filed["id"] in officer.locator("#objection-queue").inner_text()
    screenshot(officer, "4a-officer-queue")
    officer.click(f"a[href='/console/objections/{filed['id']}']")
    officer.click("#start-review")
    officer.check("#outcome-rejected")
    officer.fill("#answer-text", "经核实，该记录由法院依法报送，异议不成立。")
    officer.click("#decide")
    officer.wait_for_url(re.compile(rf".*/console/objections/{filed['id']}$"))
    assert "异议不成立" in officer.locator("#answer").inner_text()
    resident_page = page_factory(375, 812)
    resident_sign_in(resident_page, live, idn, "孙八")
    resident_page.click("nav.tabs a[href='/me/objections']")
    assert "经核实" in resident_page.locator("#my-objections").inner_text()
    assert "不成立" in resident_page.locator("#my-objections").inner_text()
    screenshot(resident_page, "4-resident-sees-answer")


def test_the_kiosk_signs_out_after_inactivity(gw: Gateway, page_factory: Any) -> None:
    from dataclasses import replace

    from tests.web.conftest import LiveServer as Server

    idn, _, _ = enrol(gw, 431, "吴十")
    short = replace(gw, settings=replace(gw.settings, kiosk_idle_seconds=2))
    with Server(short) as live:
        page = page_factory(1080, 1920)
        page.goto(live.url + "/me/sign-in")
        page.fill("#id_number", idn)
        page.fill("#name", "吴十")
        page.check("#kiosk")
        page.click("#sign-in")
        page.wait_for_url(live.url + "/me")
        assert "kiosk" in (page.locator("body").get_attribute("class") or "")
        screenshot(page, "5-kiosk-score")
        # The page's own script (allowed by the CSP as a same-origin file) signs out after 2 s idle.
        page.wait_for_url(live.url + "/me/sign-in", timeout=10_000)
    with gw.engine.connect() as conn:
        actions = {r.action for r in conn.execute(select(audit_log.c.action))}
        assert conn.execute(select(web_sessions)).first() is None
    # The screen's timer and the server's idle limit race; either way the session is gone and audited.
    assert actions & {"resident.sign_out", "resident.session_expired"}
