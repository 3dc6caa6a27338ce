from django.urls import URLPattern, path

from jingwu.records import views

urlpatterns: list[URLPattern] = [
    path("", views.imports, name="imports"),
    path("<int:pk>/", views.import_detail, name="import_detail"),
    path("<int:pk>/progress", views.import_progress, name="import_progress"),
    path("quarantine/<int:pk>/retry", views.quarantine_retry, name="quarantine_retry"),
    path("quarantine/<int:pk>/discard", views.quarantine_discard, name="quarantine_discard"),
]
