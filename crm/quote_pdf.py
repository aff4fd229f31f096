"""A quote (报价单) as a PDF, Chinese and English side by side.

Rendered with reportlab in pure Python; Chinese text uses reportlab's built-in CID font ``STSong-Light`` (Adobe's
Song typeface, which every PDF reader ships — no font file is embedded, downloaded or served), so the server
needs no fonts installed. See docs/decisions.md.
"""

from __future__ import annotations

import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django.utils import formats
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from crm.models import Quote

FONT = "STSong-Light"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _quantity(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def render_quote_pdf(quote: Quote) -> bytes:
    """The quote as PDF bytes (A4): header with company, customer, number, version, dates; the frozen lines
    with discount and tax; totals; terms. The document title names the quote number."""
    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=11, textColor=colors.HexColor("#555555"))
    title = ParagraphStyle("title", parent=body, fontSize=18, leading=24, spaceAfter=4)
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    company = quote.company
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Quote {quote.display_number}",
        author=company.name_en or company.code,
        subject=f"Quote {quote.display_number} for opportunity {quote.opportunity_id}",
        creator="Troika CRM",
    )
    story = [
        _p(company.name, body),
        _p(company.name_en, small),
        Spacer(1, 4 * mm),
        _p(f"报价单 Quotation  {quote.display_number}", title),
    ]
    facts = [
        ("客户 Customer", quote.customer_name + (f" · {quote.contact_name}" if quote.contact_name else "")),
        ("报价编号 Number", quote.number),
        ("版本 Version", str(quote.version)),
        ("报价日期 Date", formats.date_format(quote.created_at.date(), "Y-m-d")),
        ("有效期至 Valid until", formats.date_format(quote.valid_until, "Y-m-d")),
        ("币种 Currency", quote.currency),
    ]
    story.append(
        Table(
            [[_p(label, small), _p(value, body)] for label, value in facts],
            colWidths=[40 * mm, 130 * mm],
            style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]),
        )
    )
    story.append(Spacer(1, 6 * mm))
    header = ["#", "产品 Product", "数量 Qty", "单价 Unit price", "折扣 Disc.", "税率 Tax", "金额 Amount"]
    rows = [[_p(text, small) for text in header]]
    for index, line in enumerate(quote.lines.all(), start=1):
        rows.append(
            [
                _p(str(index), body),
                _p(f"{line.product_name}\n{line.sku}", body),
                _p(f"{_quantity(line.quantity)} {line.uom}", right),
                _p(_money(line.unit_price), right),
                _p(f"{_quantity(line.discount_percent)}%", right),
                _p(f"{_quantity(line.tax_rate)}%", right),
                _p(_money(line.line_total), right),
            ]
        )
    widths = [8 * mm, 60 * mm, 22 * mm, 26 * mm, 16 * mm, 14 * mm, 32 * mm]
    story.append(
        Table(
            rows,
            colWidths=widths,
            repeatRows=1,
            style=TableStyle(
                [
                    ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                    ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            ),
        )
    )
    story.append(Spacer(1, 4 * mm))
    totals = [
        ("不含税金额 Net", quote.subtotal),
        ("税额 Tax", quote.tax_total),
        ("含税总计 Total", quote.total),
    ]
    story.append(
        Table(
            [[_p(label, right), _p(f"{quote.currency} {_money(value)}", right)] for label, value in totals],
            colWidths=[140 * mm, 38 * mm],
            style=TableStyle([("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]),
        )
    )
    if quote.terms:
        story += [Spacer(1, 6 * mm), _p("条款 Terms", small), _p(quote.terms, body)]
    document.build(story)
    return buffer.getvalue()
