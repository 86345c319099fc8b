"""The credit code held in the browser (issue 11): a real Chromium makes the holder key with
WebCrypto, obtains and renews the credential at the OpenID4VCI endpoints, shows the offline QR code
and answers a partner's presentation request — the partner's poll sees a verified answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.exchange._b64 import b64url_decode
from gateway.exchange.credit_code_offline import encode_offline, verify_offline
from gateway.services.context import Gateway
from gateway.store.tables_credential import credentials
from tests.support.partners import access_token
from tests.web.conftest import LiveServer, enrol, screenshot
from tests.web.test_browser_journeys import resident_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _held(page: Any) -> None:
    page.wait_for_selector("#credit-code[data-held='1']")  # wait_for_function would need eval: the CSP refuses it


def test_resident_obtains_renews_shows_and_presents_the_credit_code_in_the_browser(
    gw: Gateway, live: LiveServer, page_factory: Any
) -> None:
    idn, _, _ = enrol(gw, 441, "钱十一")
    page = page_factory(375, 812)
    resident_sign_in(page, live, idn, "钱十一")
    page.click("nav.tabs a[href='/me/credit-code']")
    page.wait_for_url(live.url + "/me/credit-code")
    page.wait_for_selector("#obtain:not([hidden])")
    page.click("#obtain")
    _held(page)
    assert page.locator("#renew").is_visible()
    # The private key never left the browser: it is a non-extractable CryptoKey in IndexedDB.
    extractable = page.evaluate(
        """() => new Promise((resolve) => {
            const open = indexedDB.open('sx-credit-code', 1);
            open.onsuccess = () => {
                const get = open.result.transaction('holders').objectStore('holders').getAll();
                get.onsuccess = () => resolve(get.result.map((h) => h.keys.privateKey.extractable));
            };
        })"""
    )
    assert extractable == [False]

    page.click("#show-qr")
    page.wait_for_selector("#code-qr:not([hidden])")
    assert page.locator("#code-qr-img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert "alphanumeric" in page.locator("#code-qr-facts").inner_text()
    page.wait_for_selector("#code-qr-img[data-drawn='1']")

    page.click("#renew")  # a new credential with the same key; the earlier one is superseded
    page.wait_for_selector("#code-qr-img[data-drawn='2']")  # and the QR code is redrawn from it
    with gw.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(credentials)).scalar_one() == 2

    # A scenic operator asks, through the API, whether the resident's level is at least "good".
    with httpx.Client(base_url=live.url) as api:
        headers = {"Authorization": f"Bearer {access_token(api, 'sx-scenic-example')}"}  # type: ignore[arg-type]
        created = api.post(
            "/v1/presentation-requests",
            json={"purpose": "tourism", "claims": ["level_at_least.good"]},
            headers=headers,
        ).json()
        page.fill("#request-text", created["qr_content"])
        page.click("#read-request")
        page.wait_for_selector("#request-view:not([hidden])")
        assert "sx-scenic-example" in page.locator("#prq-verifier").inner_text()
        assert page.locator("#prq-claims li[data-claim='level_at_least.good']").count() == 1
        page.click("#prq-approve")
        page.wait_for_selector("#answer-status[data-outcome='presented']")
        assert "sx-scenic-example" in page.locator("#answer-status").inner_text()
        polled = api.get(f"/v1/presentation-requests/{created['request_id']}", headers=headers).json()
        assert polled["state"] == "verified"
        # Only what was asked: the one level_at_least claim, not the tier, name or score.
        assert list(polled["result"]["claims"]) == ["level_at_least.good"]

        # A second request, declined: the partner learns "declined" and nothing else.
        second = api.post(
            "/v1/presentation-requests", json={"purpose": "tourism", "claims": ["tier"]}, headers=headers
        ).json()
        page.fill("#request-text", second["qr_content"])
        page.click("#read-request")
        page.wait_for_selector("#request-view:not([hidden])")
        page.click("#prq-decline")
        page.wait_for_selector("#answer-status[data-outcome='declined']")
        declined = api.get(f"/v1/presentation-requests/{second['request_id']}", headers=headers).json()
        assert declined["state"] == "declined" and declined["result"] == {"error": "access_denied"}

    page.reload()  # the key and the credential stay on this device (IndexedDB)
    _held(page)
    assert re.search(r"景区|scenic", page.locator("#presentations").inner_text(), re.IGNORECASE)
    page.click("#show-qr")
    page.wait_for_selector("#code-qr:not([hidden])")
    screenshot(page, "7-resident-credit-code-in-browser")


def test_the_offline_code_the_page_draws_verifies_at_a_counter(
    gw: Gateway, live: LiveServer, page_factory: Any
) -> None:
    """What the page sends to be drawn is an offline presentation a counter accepts (the KB-JWT was
    signed by WebCrypto: raw r||s, the JWS form)."""
    idn, _, _ = enrol(gw, 442, "孙十二")
    page = page_factory(375, 812)
    resident_sign_in(page, live, idn, "孙十二")
    page.goto(live.url + "/me/credit-code")
    page.wait_for_selector("#obtain:not([hidden])")
    page.click("#obtain")
    _held(page)
    page.select_option("#verifier-kind", "incentive_provider")
    with page.expect_request(re.compile(r".*/me/credit-code/qr$")) as sent:
        page.click("#show-qr")
    presentation = sent.value.post_data_json["presentation"]
    page.wait_for_selector("#code-qr:not([hidden])")
    payload = json.loads(b64url_decode(presentation.split("~")[0].split(".")[1]))
    with httpx.Client(base_url=live.url) as api:
        jwks = api.get("/.well-known/jwks.json").json()
        status_jwt = api.get(payload["status"]["status_list"]["uri"].removeprefix(gw.settings.issuer)).text
    compact = encode_offline(presentation)  # what the page's QR code holds
    claims = verify_offline(
        compact, jwks=jwks, issuer=gw.settings.issuer, verifier_kind="incentive_provider", status_list_jwt=status_jwt
    )
    assert list(claims) == ["level_at_least.good"] and isinstance(claims["level_at_least.good"], bool)


def test_a_kiosk_keeps_the_key_only_in_the_page(gw: Gateway, live: LiveServer, page_factory: Any) -> None:
    """A kiosk is shared: nothing of the holder is written to the browser's storage."""
    idn, _, _ = enrol(gw, 443, "周十三")
    page = page_factory(1080, 1920)
    page.goto(live.url + "/me/sign-in")
    page.fill("#id_number", idn)
    page.fill("#name", "周十三")
    page.check("#kiosk")
    page.click("#sign-in")
    page.wait_for_url(live.url + "/me")
    page.goto(live.url + "/me/credit-code")
    page.wait_for_selector("#obtain:not([hidden])")
    page.click("#obtain")
    _held(page)
    stored = page.evaluate("""() => indexedDB.databases().then((dbs) => dbs.map((d) => d.name))""")
    assert "sx-credit-code" not in stored
    screenshot(page, "7b-kiosk-credit-code")
    page.reload()  # leaving the page forgets the key and the credential
    page.wait_for_selector("#credit-code[data-held='0']")
    assert page.locator("#obtain").is_visible()
