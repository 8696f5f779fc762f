"""Certificate URLs: the member's pages (``certificates``), the registrar's
(``registrar_certificates``) and the public ones (``public_urls``, mounted at the root)."""

from django.urls import path

from accreditation import certificate_views as views

app_name = "certificates"

urlpatterns = [
    path("<uuid:public_id>/", views.certificate_detail, name="detail"),
    path("<uuid:public_id>/renew/", views.certificate_renew, name="renew"),
    path("<uuid:public_id>/certificate.pdf", views.certificate_pdf, name="pdf"),
    path("<uuid:public_id>/credential.jwt", views.credential_jwt, name="credential_jwt"),
    path("<uuid:public_id>/credential.json", views.credential_json, name="credential_json"),
]

registrar_urls = (
    [
        path("", views.registrar_certificates, name="list"),
        path("<uuid:public_id>/", views.registrar_certificate, name="detail"),
    ],
    "registrar_certificates",
)

public_urls = [
    path("verify/", views.verify_credential, name="verify_credential"),
    path("verify/<str:public_id>", views.verify, name="verify"),
    path("verify/<str:public_id>/", views.verify),
    path(".well-known/did.json", views.did_document, name="did_document"),
    path(".well-known/jwks.json", views.jwks, name="jwks"),
    path("credentials/status/<str:purpose>", views.status_list, name="status_list"),
]
