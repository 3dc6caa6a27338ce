from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "jingwu.cases"
    label = "cases"
    verbose_name = "closed-loop case handling"

    def ready(self) -> None:
        from jingwu.cases import intake

        intake.register()
