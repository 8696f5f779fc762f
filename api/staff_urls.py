"""Registrar pages for employer clients, mounted at /registrar/employers/."""

from django.urls import path

from api import staff_views

app_name = "registrar_employers"

urlpatterns = [
    path("", staff_views.employer_list, name="list"),
    path("<uuid:public_id>/", staff_views.employer_detail, name="detail"),
]
