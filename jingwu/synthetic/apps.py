from django.apps import AppConfig


class SyntheticConfig(AppConfig):
    name = "jingwu.synthetic"
    label = "synthetic"
    verbose_name = "synthetic province"
