from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from accreditation import certificate_urls
from config import health

# Admin sign-in goes through allauth, so it gets MFA, rate limits and one login page.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = admin.site.site_title = "Registry administration"

urlpatterns = [
    path("", include("members.urls")),
    path("accounts/", include("allauth.urls")),
    path("cpd/", include("cpd.urls")),
    path("accreditation/certificates/", include("accreditation.certificate_urls")),
    path("accreditation/", include("accreditation.urls")),
    path("registrar/cpd/", include("cpd.staff_urls")),
    path("registrar/accreditation/", include("accreditation.staff_urls")),
    path("accreditation/assess/", include("accreditation.assess_urls")),
    path("registrar/certificates/", include(certificate_urls.registrar_urls)),
    path("registrar/employers/", include("api.staff_urls")),
    path("registrar/", include("members.staff_urls")),
    path("employer/", include("api.portal_urls")),
    path("register/", include("members.register_urls")),
    # The version is in the path; a v2 would be mounted beside it with its own urls.
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
    *certificate_urls.public_urls,
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(
        "accessibility/",
        TemplateView.as_view(template_name="pages/accessibility.html"),
        name="accessibility",
    ),
    path("privacy/", TemplateView.as_view(template_name="pages/privacy.html"), name="privacy"),
]

if settings.BENCH_ENDPOINTS:
    urlpatterns.append(path("bench/", include("bench.urls")))
