"""The assessor's accreditation pages, mounted at /accreditation/assess/."""

from django.urls import path

from accreditation import assess_views

app_name = "accreditation_assess"

urlpatterns = [
    path("", assess_views.assess_queue, name="queue"),
    path("<uuid:public_id>/", assess_views.assess_application, name="application"),
]
