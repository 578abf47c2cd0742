"""Printable certificate (one A4 landscape page) for a micro-credential.

The PDF is a human-readable companion, not the credential: the QR code points
to the verification URL where the signed credential is checked. Everything
shown comes from the same domain objects the credential is built from.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from certification.domain.model import AwardingBody, Learner, MicroCredential

NAVY = HexColor("#1F2A44")
GOLD = HexColor("#B08D57")
GREY = HexColor("#5A6270")
LIGHT = HexColor("#F4F1EA")

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# DejaVu covers the Latin, Greek and Cyrillic names of European learners; the
# PDF base-14 fonts only cover Latin-1. Use DejaVu where the OS has it (Debian:
# fonts-dejavu-core) and fall back to the base-14 fonts elsewhere.
_DEJAVU_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


@dataclass(frozen=True)
class _Fonts:
    serif: str
    serif_bold: str
    sans: str
    sans_bold: str


def _fonts() -> _Fonts:
    wanted = {
        "Cert-Serif": "DejaVuSerif.ttf",
        "Cert-Serif-Bold": "DejaVuSerif-Bold.ttf",
        "Cert-Sans": "DejaVuSans.ttf",
        "Cert-Sans-Bold": "DejaVuSans-Bold.ttf",
    }
    for directory in _DEJAVU_DIRS:
        if all((directory / name).is_file() for name in wanted.values()):
            registered = set(pdfmetrics.getRegisteredFontNames())
            for alias, name in wanted.items():
                if alias not in registered:
                    pdfmetrics.registerFont(TTFont(alias, str(directory / name)))
            return _Fonts("Cert-Serif", "Cert-Serif-Bold", "Cert-Sans", "Cert-Sans-Bold")
    return _Fonts("Times-Roman", "Times-Bold", "Helvetica", "Helvetica-Bold")


def format_date(moment: datetime) -> str:
    """``1 July 2025``: unambiguous in every European reading convention."""
    day = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def format_ects(credits: Decimal) -> str:
    text = format(credits.normalize(), "f")
    return f"{text} ECTS credit" + ("" if credits == 1 else "s")


def _draw_qr(canvas: Canvas, data: str, x: float, y: float, size: float) -> None:
    # Drawn as vector squares (not a raster image) so it stays sharp in print.
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    cells = len(matrix)
    cell = size / cells
    canvas.setFillColor(NAVY)
    for row, line in enumerate(matrix):
        for col, dark in enumerate(line):
            if dark:
                canvas.rect(x + col * cell, y + size - (row + 1) * cell, cell, cell, stroke=0, fill=1)


def _paragraph_height(paragraphs: Sequence[Paragraph], width: float) -> float:
    return float(sum(p.wrap(width, 10_000)[1] + p.style.spaceAfter for p in paragraphs))


def _centered(canvas: Canvas, text: str, y: float, font: str, size: float, color: Color) -> None:
    canvas.setFont(font, size)
    canvas.setFillColor(color)
    canvas.drawCentredString(canvas._pagesize[0] / 2, y, text)


def _fit_centered(canvas: Canvas, text: str, y: float, font: str, size: float, color: Color, width: float) -> None:
    # Long names or titles shrink instead of running off the page.
    while size > 10 and pdfmetrics.stringWidth(text, font, size) > width:
        size -= 1
    _centered(canvas, text, y, font, size, color)


def render_certificate_pdf(
    *,
    learner: Learner,
    microcredential: MicroCredential,
    issued_at: datetime,
    verification_url: str,
    credential_id: str | None = None,
    wallet_offer: str | None = None,
) -> bytes:
    """Render the certificate and return the PDF bytes; `wallet_offer` (an `openid-credential-offer://` URI) adds
    a second, labelled QR code beside the verification one, for adding the credential to a wallet."""
    fonts = _fonts()
    mc = microcredential
    page_w, page_h = landscape(A4)
    buffer = io.BytesIO()
    # invariant=1: no creation timestamp/random id, so the same input gives the
    # same bytes (reproducible archives, stable tests).
    canvas = Canvas(buffer, pagesize=(page_w, page_h), invariant=1)
    canvas.setTitle(f"{mc.title} - {learner.full_name}")
    canvas.setAuthor(mc.awarding_body.name)
    canvas.setSubject("Micro-credential certificate")
    _draw_frame(canvas, page_w, page_h)
    _draw_heading(canvas, fonts, learner, mc, page_w, page_h)
    left_x = 28 * mm
    reserved = 62 * mm if wallet_offer is None else 104 * mm
    _draw_outcomes(canvas, fonts, mc, left_x, page_w - 2 * left_x - reserved, page_h - 113 * mm)
    qr_box = _draw_qr_block(canvas, fonts, verification_url, page_w - left_x)
    if wallet_offer is not None:
        offer_box = _draw_qr_block(canvas, fonts, wallet_offer, page_w - left_x - 46 * mm, label=WALLET_LABEL)
        canvas.linkURL(wallet_offer, offer_box, relative=0)
    _draw_footer(canvas, fonts, mc.awarding_body, issued_at, verification_url, credential_id, left_x)
    canvas.linkURL(verification_url, qr_box, relative=0)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_frame(canvas: Canvas, page_w: float, page_h: float) -> None:
    """Background and double frame."""
    canvas.setFillColor(LIGHT)
    canvas.rect(0, 0, page_w, page_h, stroke=0, fill=1)
    canvas.setStrokeColor(NAVY)
    canvas.setLineWidth(3)
    canvas.rect(10 * mm, 10 * mm, page_w - 20 * mm, page_h - 20 * mm)
    canvas.setStrokeColor(GOLD)
    canvas.setLineWidth(0.8)
    canvas.rect(13 * mm, 13 * mm, page_w - 26 * mm, page_h - 26 * mm)


def _draw_heading(
    canvas: Canvas, fonts: _Fonts, learner: Learner, mc: MicroCredential, page_w: float, page_h: float
) -> None:
    """Awarding body and document kind, who completed what, and the key facts."""
    inner_width = page_w - 60 * mm
    _fit_centered(canvas, mc.awarding_body.name.upper(), page_h - 30 * mm, fonts.sans_bold, 12, NAVY, inner_width)
    canvas.setStrokeColor(GOLD)
    canvas.setLineWidth(1)
    canvas.line(page_w / 2 - 40 * mm, page_h - 34 * mm, page_w / 2 + 40 * mm, page_h - 34 * mm)
    _centered(canvas, "Micro-credential Certificate", page_h - 46 * mm, fonts.serif, 26, NAVY)

    _centered(canvas, "This certifies that", page_h - 58 * mm, fonts.serif, 12, GREY)
    _fit_centered(canvas, learner.full_name, page_h - 72 * mm, fonts.serif_bold, 30, NAVY, inner_width)
    _centered(canvas, "has successfully completed the micro-credential", page_h - 82 * mm, fonts.serif, 12, GREY)
    _fit_centered(canvas, mc.title, page_h - 94 * mm, fonts.serif_bold, 20, NAVY, inner_width)

    facts = [format_ects(mc.ects_credits), f"EQF level {mc.eqf_level}"]
    if mc.cycle:
        facts.append(mc.cycle)
    facts.append(f"academic year {mc.academic_year}")
    _centered(canvas, "  \u00b7  ".join(facts), page_h - 103 * mm, fonts.sans, 11, GOLD)


def _draw_outcomes(
    canvas: Canvas, fonts: _Fonts, mc: MicroCredential, left_x: float, column_w: float, top: float
) -> None:
    """Learning outcomes: left column, down to the footer."""
    bottom = 42 * mm
    canvas.setFont(fonts.sans_bold, 10)
    canvas.setFillColor(NAVY)
    canvas.drawString(left_x, top, "LEARNING OUTCOMES")
    available = top - 4 * mm - bottom
    paragraphs = _outcome_paragraphs(fonts, mc.learning_outcomes, column_w, available)
    y = top - 4 * mm
    for paragraph in paragraphs:
        _, height = paragraph.wrap(column_w, available)
        y -= height
        paragraph.drawOn(canvas, left_x, y)
        y -= paragraph.style.spaceAfter


def _outcome_paragraphs(fonts: _Fonts, outcomes: Sequence[str], column_w: float, available: float) -> list[Paragraph]:
    """The outcomes as bullets, shrinking the type until they fit."""
    for size in (10.5, 10, 9.5, 9, 8.5, 8, 7.5, 7):
        style = ParagraphStyle(
            "outcome",
            fontName=fonts.sans,
            fontSize=size,
            leading=size * 1.3,
            textColor=NAVY,
            alignment=TA_LEFT,
            leftIndent=10,
            bulletIndent=0,
            spaceAfter=size * 0.35,
        )
        paragraphs = [Paragraph(escape(outcome), style, bulletText="\u2022") for outcome in outcomes]
        if _paragraph_height(paragraphs, column_w) <= available:
            return paragraphs
    # Even the smallest type does not fit: show what fits and say where the
    # rest is, rather than printing over the footer.
    note_style = ParagraphStyle("more", parent=style, textColor=GREY, leftIndent=10)
    for shown in range(len(paragraphs) - 1, 0, -1):
        hidden = len(paragraphs) - shown
        note = Paragraph(
            f"\u2026 and {hidden} more learning outcome{'s' if hidden > 1 else ''}, listed in the digital credential",
            note_style,
        )
        if _paragraph_height([*paragraphs[:shown], note], column_w) <= available:
            return [*paragraphs[:shown], note]
    return paragraphs[:1]


VERIFY_LABEL = "Scan to verify this credential"
WALLET_LABEL = "Scan with your wallet app to add this credential (it asks for the PIN we sent you)"


def _draw_qr_block(
    canvas: Canvas, fonts: _Fonts, data: str, right_x: float, label: str = VERIFY_LABEL
) -> tuple[float, float, float, float]:
    """A QR code and its caption, ending at `right_x`; returns the code's box (for the link)."""
    qr_size = 38 * mm
    qr_x = right_x - qr_size
    qr_y = 44 * mm
    _draw_qr(canvas, data, qr_x, qr_y, qr_size)
    caption = ParagraphStyle(
        "caption", fontName=fonts.sans, fontSize=7, leading=8.5, textColor=GREY, alignment=TA_CENTER
    )
    text = Paragraph(label, caption)
    text.wrap(qr_size + 6 * mm, 20 * mm)
    text.drawOn(canvas, qr_x - 3 * mm, qr_y + qr_size + 2 * mm)  # drawOn's y is the caption's bottom line
    return (qr_x, qr_y, qr_x + qr_size, qr_y + qr_size)


def _draw_footer(
    canvas: Canvas,
    fonts: _Fonts,
    body: AwardingBody,
    issued_at: datetime,
    verification_url: str,
    credential_id: str | None,
    left_x: float,
) -> None:
    """Issuer, place, date; verification URL and credential id in small print."""
    place = ", ".join(part for part in (body.region, body.country_code.upper()) if part)
    canvas.setFillColor(NAVY)
    canvas.setFont(fonts.sans_bold, 10)
    canvas.drawString(left_x, 31 * mm, f"Issued by {body.name}")
    canvas.setFont(fonts.sans, 10)
    canvas.drawString(left_x, 26 * mm, f"{place}  \u00b7  {format_date(issued_at)}")
    canvas.setFont(fonts.sans, 7)
    canvas.setFillColor(GREY)
    canvas.drawString(left_x, 20 * mm, f"Verify at {verification_url}")
    if credential_id:
        # Own line: two long URLs side by side would overlap.
        canvas.drawString(left_x, 16.5 * mm, f"Credential {credential_id}")
