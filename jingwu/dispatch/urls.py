from django.urls import path

from jingwu.dispatch import views, views_board, views_my

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
    path("board/", views_board.board, name="board"),
    path("board/incidents", views_board.board_incidents, name="board_incidents"),
    path("board/grids.json", views_board.board_grids, name="board_grids"),
    path("board/positions.json", views_board.board_positions, name="board_positions"),
    path("board/call", views_board.board_call, name="board_call"),
    path("board/incidents/<int:pk>/", views_board.board_panel, name="board_panel"),
    path("board/incidents/<int:pk>/classify", views_board.board_classify, name="board_classify"),
    path("board/incidents/<int:pk>/dispatch", views_board.board_dispatch, name="board_dispatch"),
    path("my/", views_my.my_dispatches, name="my"),
    path("my/<int:pk>/event", views_my.my_event, name="my_event"),
    path("my/<int:pk>/result", views_my.my_result, name="my_result"),
]
