from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import views
from api.exceptions import api_not_found

app_name = "api"

urlpatterns = [
    path("verify/bulk", views.BulkVerifyView.as_view(), name="verify_bulk"),
    path("verify/<str:membership_number>", views.VerifyView.as_view(), name="verify"),
    path("certificates/<str:public_id>", views.CertificateView.as_view(), name="certificate"),
    path("register", views.RegisterView.as_view(), name="register"),
    path("", include("api.watch_views")),  # the watch list and webhook endpoints
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, so the page keeps to
    # the site's Content Security Policy (no inline scripts).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    # Anything else under /api/v1/ is a 404 in the API's one error shape.
    re_path(r"^.*$", api_not_found),
]
