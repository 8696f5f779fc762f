from django.urls import path

from members import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("accounts/mfa-required/", views.mfa_required, name="mfa_required"),
]
