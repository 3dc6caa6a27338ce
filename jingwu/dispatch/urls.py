from django.urls import path

from jingwu.dispatch import views

app_name = "dispatch"

urlpatterns = [
    path("", views.intake, name="intake"),
    path("incidents/<int:pk>/", views.incident, name="incident"),
    path("incidents/<int:pk>/classify", views.incident_classify, name="classify"),
    path("incidents/<int:pk>/dispatch", views.incident_dispatch, name="dispatch"),
    path("incidents/<int:pk>/units/<int:unit_pk>/event", views.unit_event, name="unit_event"),
    path("incidents/<int:pk>/result", views.incident_result, name="result"),
    path("incidents/<int:pk>/divert", views.incident_divert, name="divert"),
    path("incidents/<int:pk>/diversions/<int:diversion_pk>/feedback", views.diversion_feedback, name="feedback"),
    path("incidents/<int:pk>/calls/<int:call_pk>/split", views.call_split, name="split"),
    path("incidents/<int:pk>/calls/<int:call_pk>/number", views.caller_number, name="caller_number"),
]
