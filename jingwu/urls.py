from django.urls import include, path

from jingwu.api import api
from jingwu.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("records/", include("jingwu.records.urls")),
    path("dispatch/", include("jingwu.dispatch.urls")),
    path("cases/", include("jingwu.cases.urls")),
    path("public/cases/", include("jingwu.cases.urls_public")),
    path("antifraud/", include("jingwu.antifraud.urls")),
    path("search/", include("jingwu.search.urls")),
    path("", include("jingwu.core.urls")),
]
