"""Invoice and receipt PDFs, rendered with WeasyPrint from HTML templates.

They are rendered on request rather than cached: an invoice's state (open,
paid, cancelled) is printed on it, and a page renders in well under a second.
Only local fonts are used and the fetcher refuses every URL except inline
``data:`` ones, so rendering never touches the network.

``pdf_from_html`` is the one way the site renders a PDF (certificates and CPD
portfolios use it too).
"""

import gc
import threading

from django.conf import settings
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from members.models import Invoice, Payment


def _context(**extra) -> dict:
    return {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **extra}


_fonts = threading.local()


def _font_config() -> FontConfiguration:
    """One font configuration per thread, kept: WeasyPrint makes a new one for every
    document otherwise, and the fontconfig and Pango objects behind it are never
    freed, so a task worker grew by about 0.3 MB a certificate (docs/benchmarks.md)."""
    config = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


def _render(html: str) -> bytes:
    fetcher = URLFetcher(allowed_protocols={"data"})
    return HTML(string=html, url_fetcher=fetcher).write_pdf(font_config=_font_config())


def pdf_from_html(html: str) -> bytes:
    """Render HTML to PDF with local fonts only; no URL but inline data is fetched.

    Memory stays flat however many PDFs a process renders: the font configuration
    is reused, and once the document is gone (rendered in ``_render``, so nothing
    here still refers to it) its reference cycles are collected at once, young
    generations only, instead of being promoted and kept until Python's next full
    collection."""
    pdf = _render(html)
    gc.collect(1)
    return pdf


def invoice_html(invoice: Invoice) -> str:
    """The invoice as HTML; pass an invoice with ``member__user`` and ``grade`` loaded."""
    return render_to_string("members/documents/invoice.html", _context(invoice=invoice))


def invoice_pdf(invoice: Invoice) -> bytes:
    return pdf_from_html(invoice_html(invoice))


def receipt_html(payment: Payment) -> str:
    """The receipt as HTML; pass a payment with its member, grade, period and invoice loaded."""
    return render_to_string("members/documents/receipt.html", _context(payment=payment))


def receipt_pdf(payment: Payment) -> bytes:
    return pdf_from_html(receipt_html(payment))
