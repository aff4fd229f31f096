"""Financial statements as PDF (A4), the same rows as the XLSX export.

reportlab in pure Python with its built-in CID font ``STSong-Light`` for Chinese (no font file embedded or needed
on the server), as the CRM's quote PDF does (docs/decisions.md).
"""

from __future__ import annotations

import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django.http import HttpResponse
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def _cell(value, style: ParagraphStyle):
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return Paragraph(escape(str(value)), style)


def report_pdf(*, filename: str, title: str, subtitle: str, header: list, rows: list[list]) -> HttpResponse:
    """A one-table PDF of a report (landscape when it has more than four columns), as a download."""
    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=8, leading=11)
    heading = ParagraphStyle("heading", parent=body, fontSize=15, leading=20, spaceAfter=2)
    buffer = io.BytesIO()
    size = landscape(A4) if len(header) > 4 else A4
    document = SimpleDocTemplate(
        buffer,
        pagesize=size,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=title,
        creator="Troika ERP",
    )
    data = [[_cell(str(h), body) for h in header], *[[_cell(v, body) for v in row] for row in rows]]
    table = Table(data, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f4f6f8")]),
            ]
        )
    )
    document.build([Paragraph(escape(title), heading), Paragraph(escape(subtitle), body), Spacer(1, 4 * mm), table])
    response = HttpResponse(buffer.getvalue(), content_type="application/pdf")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
