"""The employer portal, mounted at /employer/. Every view requires an employer's person."""

from django.urls import path

from api import portal_views as views

app_name = "employer"

urlpatterns = [
    path("", views.home, name="home"),
    path("keys/", views.keys, name="keys"),
    path("keys/<uuid:public_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("watch-list/", views.watch_list, name="watch_list"),
    path("watch-list/upload/", views.watch_list_upload, name="watch_list_upload"),
    path(
        "watch-list/<uuid:public_id>/remove/", views.watch_entry_remove, name="watch_entry_remove"
    ),
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/new/", views.webhook_new, name="webhook_new"),
    path("webhooks/<uuid:public_id>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<uuid:public_id>/edit/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<uuid:public_id>/switch/", views.webhook_toggle, name="webhook_toggle"),
    path("webhooks/<uuid:public_id>/ping/", views.webhook_ping, name="webhook_ping"),
    path("webhooks/<uuid:public_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path(
        "webhooks/<uuid:public_id>/deliveries/<str:event_id>/",
        views.delivery_detail,
        name="delivery_detail",
    ),
    path("verify/", views.verify_index, name="verify_index"),
    path("verify/<uuid:public_id>/", views.verify_detail, name="verify_detail"),
    path("verify/<uuid:public_id>/progress/", views.verify_progress, name="verify_progress"),
    path("verify/<uuid:public_id>/result.csv", views.verify_result, name="verify_result"),
]
