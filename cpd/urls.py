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

# Sharing, the development plan, export and import (cpd/sharing_views.py).
from cpd import sharing_views  # noqa: E402

urlpatterns += [
    path("sharing/", sharing_views.sharing_page, name="sharing"),
    path("sharing/<uuid:public_id>/revoke/", sharing_views.share_revoke, name="share_revoke"),
    path("shared/<str:token>/", sharing_views.shared, name="shared"),
    path(
        "shared/<str:token>/evidence/<uuid:public_id>/",
        sharing_views.shared_evidence,
        name="shared_evidence",
    ),
    path("plan/", sharing_views.plan, name="plan"),
    path("plan/add/", sharing_views.goal_add, name="goal_add"),
    path("plan/<uuid:public_id>/", sharing_views.goal_detail, name="goal"),
    path("plan/<uuid:public_id>/edit/", sharing_views.goal_edit, name="goal_edit"),
    path("export/", sharing_views.export_page, name="export"),
    path("export/csv/", sharing_views.export_csv, name="export_csv"),
    path("import/", sharing_views.import_preview, name="import_preview"),
    path("import/confirm/", sharing_views.import_confirm, name="import_confirm"),
    path("portfolio/", sharing_views.portfolio_start, name="portfolio_start"),
    path("portfolio/<uuid:key>/", sharing_views.portfolio_status, name="portfolio"),
    path(
        "portfolio/<uuid:key>/download/",
        sharing_views.portfolio_download,
        name="portfolio_download",
    ),
]

# Annual returns and the audit (cpd.returns_views).
from cpd import returns_views  # noqa: E402

urlpatterns += [
    path("returns/", returns_views.return_list, name="return_list"),
    path("returns/<int:year>/", returns_views.return_detail, name="return_detail"),
    path("audit/<uuid:public_id>/", returns_views.audit_case, name="audit_case"),
    path("assess/", returns_views.assess_queue, name="assess_queue"),
    path("assess/<uuid:public_id>/", returns_views.assess_case, name="assess_case"),
]
