from django.urls import URLPattern, path

from jingwu.records import views_entities as views

urlpatterns: list[URLPattern] = [
    path("entities/<int:pk>/", views.entity_profile, name="entity"),
    path("entities/<int:pk>/timeline", views.entity_timeline, name="entity_timeline"),
    path("entities/<int:pk>/split", views.entity_split, name="entity_split"),
    path("review/", views.review_queue, name="review_queue"),
    path("review/<int:pk>/judge", views.review_judge, name="review_judge"),
]
