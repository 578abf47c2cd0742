"""The verification page in a real headless Chromium (Debian's, driven by Playwright) against the app served by
uvicorn: paste a credential, paste a tampered one, open the QR link."""

from __future__ import annotations

import copy
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn
from certification.adapters import generate_secret_key
from certification.adapters.issuer import Issuer
from certification.bootstrap import migrate
from certification.config import CertificationSettings
from certification.entrypoints.http import create_app
from certification.entrypoints.kafka import event_handlers
from certification.store import Database
from reliability.database import create_database_engine

from tests.certification.certification_support import (
    HERITAGE_TITLE,
    apply,
    credential_of,
    enrolment_created,
    heritage_published,
    passes,
)
from tests.certification.sdjwt_support import Holder, sd_jwt_of, without

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("VERIFY_PAGE_SCREENSHOTS", tempfile.gettempdir())) / "certification-verify-page"


def _require_chromium() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    message = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    def __init__(self, base_url: str, credential: dict, sd_jwt: str) -> None:
        self.base_url = base_url
        self.credential = credential
        self.sd_jwt = sd_jwt


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app on 127.0.0.1:<free port>, whose public base URL is that address, with one credential issued."""
    _require_chromium()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path_factory.mktemp('browser')}/certification.db"
    issuer = Issuer.create(base_url=base_url, key_id="key-1", secret=generate_secret_key())
    migrate(database_url)
    engine = create_database_engine(database_url)
    handlers = event_handlers(issuer)
    apply(engine, handlers, heritage_published(), enrolment_created("enr-web"), *passes("enr-web"))
    row = credential_of(engine, "enr-web")
    assert row is not None
    settings = CertificationSettings(database_url=database_url, public_base_url=base_url)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, Database(engine), issuer), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Served(base_url, row.document, sd_jwt_of(issuer, row, Holder()))
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


@pytest.fixture
async def page():
    from playwright.async_api import async_playwright

    _require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 1000}, locale="en-GB")
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
            assert errors == [], errors
        finally:
            await browser.close()


def _expected_date(credential: dict) -> str:
    issued = datetime.fromisoformat(credential["validFrom"])
    return f"{issued.day} {issued.strftime('%B')} {issued.year}"


async def _verdict(page) -> dict[str, str]:
    verdict = page.locator("#verdict[data-verdict]")
    await verdict.wait_for(state="visible", timeout=20_000)
    return {
        "verdict": await verdict.get_attribute("data-verdict"),
        "title": await page.locator("#verdict-title").inner_text(),
        "reason": await page.locator("#verdict-reason").inner_text(),
        "learner": await page.locator("#verdict-learner").inner_text(),
        "credential": await page.locator("#verdict-title-of-credential").inner_text(),
        "issuer": await page.locator("#verdict-issuer").inner_text(),
        "issued": await page.locator("#verdict-issued").inner_text(),
    }


async def test_pasting_a_valid_credential_shows_verified(served, page):
    await page.goto(f"{served.base_url}/verify")
    await page.fill("#credential-input", json.dumps(served.credential, indent=2))
    await page.click("#verify-button")

    shown = await _verdict(page)

    assert shown["verdict"] == "verified"
    assert shown["title"] == "\u2713 Verified"
    assert shown["learner"] == "Amira Peeters"
    assert shown["credential"] == HERITAGE_TITLE
    assert shown["issuer"] == "University of Antwerp"
    assert shown["issued"] == _expected_date(served.credential)
    assert await page.locator("#verdict-checks li.ok").count() == 6
    assert not await page.locator("#verdict-unconfirmed").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "verified.png"), full_page=True)


async def test_pasting_a_tampered_credential_shows_not_verified_with_the_failing_check(served, page):
    tampered = copy.deepcopy(served.credential)
    tampered["credentialSubject"]["achievement"]["creditsAvailable"] = 60
    await page.goto(f"{served.base_url}/verify")
    await page.fill("#credential-input", json.dumps(tampered))
    await page.click("#verify-button")

    shown = await _verdict(page)

    assert shown["verdict"] == "not-verified"
    assert shown["title"] == "\u2717 Not verified"
    assert shown["reason"].startswith("Signature failed: the document differs from the credential issued under its id")
    assert await page.locator("#verdict-unconfirmed").is_visible()  # the claimed facts are marked as such
    failed = page.locator("#verdict-checks li.fail")
    assert await failed.count() == 1
    assert await failed.get_attribute("data-check") == "signature"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "tampered.png"), full_page=True)


async def test_the_qr_link_opens_the_credential_and_verifies_it(served, page):
    await page.goto(f"{served.base_url}/verify?credential={quote(served.credential['id'], safe='')}")

    shown = await _verdict(page)

    assert shown["verdict"] == "verified"
    assert shown["learner"] == "Amira Peeters"
    assert shown["credential"] == HERITAGE_TITLE
    assert shown["issued"] == _expected_date(served.credential)
    assert json.loads(await page.locator("#credential-input").input_value()) == served.credential


async def test_a_link_to_an_unknown_or_foreign_credential_says_so(served, page):
    await page.goto(f"{served.base_url}/verify?credential=00000000-0000-4000-8000-000000000000")
    unknown = await _verdict(page)
    await page.goto(f"{served.base_url}/verify?credential={quote('https://elsewhere.example/c/1', safe='')}")
    foreign = await _verdict(page)

    assert unknown["verdict"] == "not-verified"
    assert "no credential 00000000-0000-4000-8000-000000000000 was issued here" in unknown["reason"]
    assert foreign["verdict"] == "not-verified"
    assert f"only credentials issued by {served.base_url}" in foreign["reason"]


async def test_pasting_an_sd_jwt_vc_shows_verified_and_only_what_was_disclosed(served, page):
    await page.goto(f"{served.base_url}/verify")
    await page.fill("#credential-input", served.sd_jwt)
    await page.click("#verify-button")
    full = await _verdict(page)
    await page.fill("#credential-input", without(served.sd_jwt, "name"))
    await page.click("#verify-button")
    await page.locator("#verdict-learner", has_text="\u2014").wait_for(timeout=20_000)
    nameless = await _verdict(page)

    assert full["verdict"] == "verified"
    assert full["learner"] == "Amira Peeters"
    assert full["credential"] == HERITAGE_TITLE
    assert full["issued"] == _expected_date(served.credential)
    assert nameless["verdict"] == "verified"
    assert nameless["learner"] == "\u2014"
    assert await page.locator("#verdict-checks li.ok").count() == 8
