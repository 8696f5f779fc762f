"""Every PDF goes through members.documents.pdf_from_html, which keeps a worker's
memory flat (its figure over 200 renders is in docs/benchmarks.md, not timed here)."""

import threading
from unittest import mock

from members import documents

HTML = "<p>Hello</p>"


def test_pdf_from_html_reuses_one_font_configuration_per_thread():
    first = documents.pdf_from_html(HTML)
    assert first.startswith(b"%PDF")
    config = documents._font_config()
    documents.pdf_from_html(HTML)
    assert documents._font_config() is config
    seen = []
    thread = threading.Thread(target=lambda: seen.append(documents._font_config()))
    thread.start()
    thread.join()
    assert seen[0] is not config  # WeasyPrint's font objects are not shared across threads


def test_pdf_from_html_collects_the_layouts_garbage_after_each_render():
    with mock.patch.object(documents.gc, "collect") as collect:
        documents.pdf_from_html(HTML)
    collect.assert_called_once_with(1)


def test_certificates_and_portfolios_render_through_pdf_from_html(monkeypatch):
    from accreditation import certificate_pdf
    from cpd import portability

    assert certificate_pdf.pdf_from_html is documents.pdf_from_html
    calls = []
    monkeypatch.setattr(certificate_pdf, "pdf_from_html", lambda html: calls.append(html) or b"")
    monkeypatch.setattr(certificate_pdf, "certificate_html", lambda c: "certificate")
    monkeypatch.setattr(documents, "pdf_from_html", lambda html: calls.append(html) or b"")
    monkeypatch.setattr(portability, "portfolio_html", lambda **kw: "portfolio")
    certificate_pdf.certificate_pdf_bytes(object())
    portability.portfolio_pdf(member=None, today=None)
    assert calls == ["certificate", "portfolio"]
