from django.urls import path

from accreditation import views

app_name = "accreditation"

urlpatterns = [
    path("", views.index, name="index"),
    path("referee/<str:token>/", views.referee, name="referee"),
    path("<uuid:public_id>/", views.detail, name="detail"),
    path("<uuid:public_id>/details/", views.details, name="details"),
    path("<uuid:public_id>/statements/<int:standard_id>/", views.statement, name="statement"),
    path("<uuid:public_id>/referees/", views.referee_invite, name="referee_invite"),
    path(
        "<uuid:public_id>/referees/<uuid:referee_id>/replace/",
        views.referee_replace,
        name="referee_replace",
    ),
    path("<uuid:public_id>/fee/pay/", views.fee_checkout, name="fee_checkout"),
    path("<uuid:public_id>/fee/paid/", views.fee_paid, name="fee_paid"),
    path("<uuid:public_id>/fee/invoice/", views.fee_invoice, name="fee_invoice"),
    path("<uuid:public_id>/fee/invoice.pdf", views.fee_invoice_pdf, name="fee_invoice_pdf"),
    path("<uuid:public_id>/submit/", views.submit, name="submit"),
    path("<uuid:public_id>/withdraw/", views.withdraw, name="withdraw"),
    path("<uuid:public_id>/respond/", views.information_respond, name="information_respond"),
    path("<uuid:public_id>/appeal/", views.appeal, name="appeal"),
]
