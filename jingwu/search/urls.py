from django.urls import path

from jingwu.search import views

app_name = "search"

urlpatterns = [
    path("", views.search_page, name="page"),
    path("suggest", views.suggest, name="suggest"),
]
