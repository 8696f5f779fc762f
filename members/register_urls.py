from django.urls import path

from members import register_views

app_name = "register"

urlpatterns = [
    path("", register_views.register_search, name="search"),
    path("<str:membership_number>/", register_views.register_entry, name="entry"),
]
