from django.urls import path

from bench import views

app_name = "bench"

urlpatterns = [
    path("floor/static", views.FloorStatic.as_view(), name="floor_static"),
    path("floor/row/<str:number>", views.FloorRow.as_view(), name="floor_row"),
]
