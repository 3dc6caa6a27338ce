from django.urls import URLPattern, path

from jingwu.cases import views_public

app_name = "cases_public"

urlpatterns: list[URLPattern] = [
    path("", views_public.lookup, name="lookup"),
    path("reconsideration", views_public.reconsideration, name="reconsideration"),
]
