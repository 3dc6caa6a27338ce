from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "jingwu.dispatch"
    label = "dispatch"
    verbose_name = "110 command and dispatch"

    def ready(self) -> None:
        # Cache upkeep, not business logic: a changed unit drops this process's grid and division indexes.
        from django.db.models.signals import post_delete, post_save

        from jingwu.core.models import Unit
        from jingwu.dispatch import locating

        def forget(**_kwargs: object) -> None:
            locating.forget()

        post_save.connect(forget, sender=Unit, dispatch_uid="dispatch.locating.forget.save", weak=False)
        post_delete.connect(forget, sender=Unit, dispatch_uid="dispatch.locating.forget.delete", weak=False)

        from jingwu.dispatch import handoff

        handoff.register_incident_feed()
