"""Registrar (staff) pages, mounted at /registrar/."""

from django.urls import path

app_name = "registrar"

urlpatterns: list = []
