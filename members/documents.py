"""Invoice and receipt PDFs, rendered with WeasyPrint from HTML templates.

They are rendered on request rather than cached: an invoice's state (open,
paid, cancelled) is printed on it, and a page renders in well under a second.
Only local fonts are used and the fetcher refuses every URL except inline
``data:`` ones, so rendering never touches the network.
"""

from django.conf import settings
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from members.models import Invoice, Payment


def _context(**extra) -> dict:
    return {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **extra}


def pdf_from_html(html: str) -> bytes:
    """Render HTML to PDF with local fonts only; no URL but inline data is fetched."""
    fetcher = URLFetcher(allowed_protocols={"data"})
    return HTML(string=html, url_fetcher=fetcher).write_pdf()


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
