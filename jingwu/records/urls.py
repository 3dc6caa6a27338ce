from django.urls import include, path

app_name = "records"

urlpatterns = [
    path("imports/", include("jingwu.records.urls_import")),
    path("", include("jingwu.records.urls_entities")),
]
