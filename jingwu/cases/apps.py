from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "jingwu.cases"
    label = "cases"
    verbose_name = "closed-loop case handling"
