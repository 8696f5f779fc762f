"""The registrar's accreditation pages, mounted at /registrar/accreditation/."""

from django.urls import path

from accreditation import assess_views

app_name = "registrar_accreditation"

urlpatterns = [
    path("", assess_views.registrar_list, name="list"),
    path("<uuid:public_id>/", assess_views.registrar_application, name="application"),
]
