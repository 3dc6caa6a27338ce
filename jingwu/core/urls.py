from django.urls import path

from jingwu.core import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("login", views.login, name="login"),
    path("login/otp", views.login_otp, name="login_otp"),
    path("login/otp/setup", views.login_otp_setup, name="login_otp_setup"),
    path("logout", views.logout, name="logout"),
    path("tasks/<int:pk>/status", views.workitem_status, name="workitem_status"),
    path("purpose", views.purpose, name="purpose"),
    path("purpose/clear", views.purpose_clear, name="purpose_clear"),
    path("audit", views.audit_log, name="audit"),
]
