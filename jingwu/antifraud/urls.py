from django.urls import URLPattern, path

from jingwu.antifraud import dashboard_views, lists_views, network_views, views, warning_views

app_name = "antifraud"

urlpatterns: list[URLPattern] = [
    path("", views.reports, name="reports"),
    path("reports/new", views.report_new, name="report_new"),
    path("reports/<str:number>/", views.report_detail, name="report"),
    path("reports/<str:number>/stops", views.report_stops, name="report_stops"),
    path("reports/<str:number>/approve", views.report_approve, name="report_approve"),
    path("stops/<int:pk>/<str:event>", views.stop_decide, name="stop_decide"),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("networks/", network_views.networks, name="networks"),
    path("warnings/", warning_views.warnings, name="warnings"),
    path("warnings/<int:pk>/", warning_views.warning, name="warning"),
    path("networks/<int:root>/", network_views.network, name="network"),
    path("networks/<int:root>/group", network_views.network_group, name="network_group"),
    path("lists/", lists_views.lists, name="lists"),
    path("lists/add", lists_views.list_add, name="list_add"),
    path("lists/upload", lists_views.list_upload, name="list_upload"),
    path("lists/<int:pk>/retire", lists_views.list_retire, name="list_retire"),
    path("rules/", lists_views.rulesets, name="rulesets"),
    path("rules/new", lists_views.ruleset_new, name="ruleset_new"),
    path("rules/<int:version>/", lists_views.ruleset, name="ruleset"),
    path("rules/<int:version>/rules/<str:index>", lists_views.ruleset_rule, name="ruleset_rule"),
    path("rules/<int:version>/levels", lists_views.ruleset_levels, name="ruleset_levels"),
    path("rules/<int:version>/activate", lists_views.ruleset_activate, name="ruleset_activate"),
    path("rules/<int:version>/discard", lists_views.ruleset_discard, name="ruleset_discard"),
]
