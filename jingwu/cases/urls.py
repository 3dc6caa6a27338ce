from django.urls import URLPattern, path

from jingwu.cases import views

app_name = "cases"

urlpatterns: list[URLPattern] = [
    path("", views.case_list, name="list"),
    path("new", views.case_new, name="new"),
    path("<int:pk>/", views.case_detail, name="detail"),
    path("<int:pk>/transition", views.case_transition, name="transition"),
    path("<int:pk>/reviews", views.review_request, name="review_request"),
    path("<int:pk>/tasks", views.task_add, name="task_add"),
    path("<int:pk>/evidence", views.evidence_add, name="evidence_add"),
    path("<int:pk>/parties", views.party_add, name="party_add"),
    path("<int:pk>/measures", views.measure_take, name="measure_take"),
    path("<int:pk>/owner", views.owner_assign, name="owner_assign"),
    path("<int:pk>/receipt", views.receipt_reissue, name="receipt_reissue"),
    path("<int:pk>/receipt.pdf", views.receipt_pdf, name="receipt_pdf"),
    path("reviews/<int:pk>/decide", views.review_decide, name="review_decide"),
    path("tasks/<int:pk>/done", views.task_done, name="task_done"),
    path("measures/<int:pk>/extend", views.measure_extend, name="measure_extend"),
    path("measures/<int:pk>/end", views.measure_end, name="measure_end"),
    path("documents/<int:pk>/", views.document_html, name="document"),
    path("documents/<int:pk>/pdf", views.document_pdf, name="document_pdf"),
    path("supervision/", views.supervision, name="supervision"),
    path("supervision/closed-loop", views.closed_loop, name="closed_loop"),
]
