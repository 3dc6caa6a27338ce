from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "jingwu.records"
    label = "records"
    verbose_name = "data centre"
