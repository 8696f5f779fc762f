"""Registrar (staff) pages, mounted at /registrar/. Every view requires is_staff."""

from django.urls import path

from members import staff_views

app_name = "registrar"

member_action_urls = [
    path(
        f"members/<uuid:public_id>/{action.slug}/",
        staff_views.member_action,
        {"action": action.slug},
        name=action.url_name,
    )
    for action in staff_views.MEMBER_ACTIONS.values()
]

urlpatterns = [
    path("", staff_views.home, name="home"),
    path("members/", staff_views.member_list, name="member_list"),
    path("members/<uuid:public_id>/", staff_views.member_detail, name="member_detail"),
    *member_action_urls,
    path("invoices/", staff_views.invoice_list, name="invoice_list"),
    path(
        "invoices/<uuid:public_id>/record-payment/",
        staff_views.invoice_record_payment,
        name="invoice_record_payment",
    ),
    path("invoices/<uuid:public_id>/cancel/", staff_views.invoice_cancel, name="invoice_cancel"),
    path("invoices.csv", staff_views.invoices_csv, name="invoices_csv"),
    path("payments.csv", staff_views.payments_csv, name="payments_csv"),
    path("refunds.csv", staff_views.refunds_csv, name="refunds_csv"),
    path("grade-reviews/", staff_views.grade_review_list, name="grade_review_list"),
]
