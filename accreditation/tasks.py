"""Background work for certificates: thin wrappers around the services."""

from django.tasks import task


@task()
def certificate_pdf_render(*, certificate_id: int) -> None:
    """After a certificate is issued or changes, render its PDF (if it is out of date)."""
    from accreditation.certificate_pdf import certificate_pdf_refresh

    certificate_pdf_refresh(certificate_id=certificate_id)
