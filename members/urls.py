from django.urls import path
from django.views.generic import TemplateView

from members import stripe_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("accounts/mfa-required/", views.mfa_required, name="mfa_required"),
    path(
        "code-of-conduct/",
        TemplateView.as_view(template_name="pages/code_of_conduct.html"),
        name="code_of_conduct",
    ),
    # Joining and paying
    path("membership/join/", views.join, name="membership_join"),
    path("membership/join/review/", views.join_review, name="membership_join_review"),
    path("membership/pay/", views.pay, name="membership_pay"),
    path("membership/pay/invoice/", views.pay_by_invoice, name="membership_pay_by_invoice"),
    path("membership/pay/card/", stripe_views.card_checkout_start, name="membership_pay_by_card"),
    path("membership/pay/card/done/", stripe_views.card_checkout_done, name="membership_card_done"),
    path(
        "membership/pay/card/cancelled/",
        stripe_views.card_checkout_cancelled,
        name="membership_card_cancelled",
    ),
    path("membership/billing/", stripe_views.billing_portal, name="membership_billing_portal"),
    path("stripe/webhook/", stripe_views.stripe_webhook, name="stripe_webhook"),
    # Documents
    path("membership/invoices/<uuid:public_id>/", views.invoice_detail, name="membership_invoice"),
    path(
        "membership/invoices/<uuid:public_id>.pdf",
        views.invoice_pdf,
        name="membership_invoice_pdf",
    ),
    path(
        "membership/receipts/<uuid:public_id>.pdf",
        views.receipt_pdf,
        name="membership_receipt_pdf",
    ),
    # Member actions
    path("membership/profile/", views.profile, name="membership_profile"),
    path("membership/grade/", views.grade_change, name="membership_grade_change"),
    path(
        "membership/grade/withdraw/",
        views.grade_change_withdraw,
        name="membership_grade_change_withdraw",
    ),
    path("membership/pause/", views.pause, name="membership_pause"),
    path("membership/resume/", views.resume, name="membership_resume"),
    path("membership/resign/", views.resign, name="membership_resign"),
    path("membership/history/", views.history, name="membership_history"),
]
