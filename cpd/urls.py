from django.urls import path

from cpd import views

app_name = "cpd"

urlpatterns = [
    path("", views.log, name="log"),
    path("add/", views.entry_add, name="entry_add"),
    path("<uuid:public_id>/edit/", views.entry_edit, name="entry_edit"),
    path("<uuid:public_id>/delete/", views.entry_delete, name="entry_delete"),
    path("evidence/<uuid:public_id>/", views.evidence_download, name="evidence"),
    path("progress/", views.progress, name="progress"),
]
