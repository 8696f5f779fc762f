"""Registrar (staff) pages for CPD returns and the audit, mounted at /registrar/cpd/."""

from django.urls import path

from cpd import returns_views

app_name = "registrar_cpd"

urlpatterns = [
    path("returns/", returns_views.registrar_returns, name="returns"),
    path("audit/", returns_views.registrar_audit, name="audit"),
    path(
        "audit/cases/<uuid:public_id>/defer/",
        returns_views.registrar_case_defer,
        name="case_defer",
    ),
]
