"""The printable certificate: one page carrying the facts a reader needs."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from certification.adapters.pdf import format_date, format_ects, render_certificate_pdf
from certification.domain import Learner
from pypdf import PdfReader

VERIFY_URL = "https://credentials.example.edu/verify/5b0f8c1e-7d1a-4a52-9a53-0c0f7a1c9e11"


def render(learner, microcredential, **overrides):
    args = dict(
        learner=learner,
        microcredential=microcredential,
        issued_at=datetime(2025, 7, 1, 9, 30, tzinfo=UTC),
        verification_url=VERIFY_URL,
        credential_id="https://credentials.example.edu/credentials/5b0f8c1e",
    )
    args.update(overrides)
    return render_certificate_pdf(**args)


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    # Collapse whitespace: extraction may break lines where the layout wraps.
    return re.sub(r"\s+", " ", reader.pages[0].extract_text())


def test_certificate_shows_the_key_facts(learner, microcredential):
    text = text_of(render(learner, microcredential))
    for expected in (
        "Ada Lovelace",
        "Applied Machine Learning for Engineers",
        "6 ECTS credits",
        "EQF level 7",
        "second cycle",
        "Issued by Example University, Faculty of Engineering",
        "Flanders, BE",
        "1 July 2025",
        "Scan to verify this credential",
        VERIFY_URL,
    ):
        assert expected in text, expected
    for outcome in microcredential.learning_outcomes:
        assert outcome in text, outcome


def test_qr_code_is_a_link_to_the_verification_url(learner, microcredential):
    reader = PdfReader(io.BytesIO(render(learner, microcredential)))
    annotations = [a.get_object() for a in reader.pages[0].get("/Annots", [])]
    assert any(a["/A"]["/URI"] == VERIFY_URL for a in annotations)


def test_rendering_is_reproducible(learner, microcredential):
    assert render(learner, microcredential) == render(learner, microcredential)


def test_long_and_non_ascii_content_still_fits_one_page(microcredential):
    learner = Learner(id="r1", given_name="Zoë Łucja", family_name="Ševčíková-Dąbrowska von Hohenzollern")
    several = tuple(f"Outcome {i}: apply the method rigorously in a realistic engineering setting." for i in range(8))
    text = text_of(render(learner, replace(microcredential, learning_outcomes=several, ects_credits=Decimal("4.5"))))
    assert "Ševčíková-Dąbrowska" in text
    assert "4.5 ECTS credits" in text
    assert all(f"Outcome {i}:" in text for i in range(8))


def test_too_many_outcomes_are_cut_with_a_pointer_to_the_credential(learner, microcredential):
    many = tuple(f"Outcome {i}: " + "apply the method rigorously in a realistic setting " * 3 for i in range(12))
    text = text_of(render(learner, replace(microcredential, learning_outcomes=many)))
    assert "Outcome 0:" in text
    assert "Outcome 11:" not in text
    match = re.search(r"and (\d+) more learning outcomes, listed in the digital credential", text)
    assert match
    shown = sum(f"Outcome {i}:" in text for i in range(12))
    assert shown + int(match.group(1)) == 12
    assert "Issued by" in text


def test_formatting_helpers():
    assert format_date(datetime(2025, 12, 31, 23, 30, tzinfo=UTC)) == "31 December 2025"
    assert format_ects(Decimal("1")) == "1 ECTS credit"
    assert format_ects(Decimal("6.00")) == "6 ECTS credits"
    assert format_ects(Decimal("2.5")) == "2.5 ECTS credits"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) not installed")
def test_page_renders_to_an_image(learner, microcredential, tmp_path):
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(render(learner, microcredential))
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    (png,) = tmp_path.glob("page*.png")
    assert png.read_bytes().startswith(b"\x89PNG")


def test_a_wallet_offer_adds_a_second_labelled_qr_code_that_links_to_the_offer(learner, microcredential):
    offer = (
        "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fcredentials.example.edu%2Foid4vci%2Foffers%2Fx"
    )
    pdf = render(learner, microcredential, wallet_offer=offer)

    text = text_of(pdf)
    assert "Scan to verify this credential" in text and "Scan with your wallet app to add this credential" in text
    annotations = [a.get_object() for a in PdfReader(io.BytesIO(pdf)).pages[0].get("/Annots", [])]
    boxes = {a["/A"]["/URI"]: [float(v) for v in a["/Rect"]] for a in annotations}
    assert set(boxes) == {VERIFY_URL, offer}
    offer_box, verify_box = boxes[offer], boxes[VERIFY_URL]
    assert offer_box[2] < verify_box[0]  # side by side, not on top of each other
    assert "wallet" not in text_of(render(learner, microcredential))
    for outcome in microcredential.learning_outcomes:
        assert outcome in text, outcome
