from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SearchConfig(AppConfig):
    name = "jingwu.search"
    label = "search"
    verbose_name = _("警务千度")

    def ready(self) -> None:
        # Each app declares its searchable documents in `<app>.search_documents`.
        from jingwu.search import registry

        registry.autodiscover()
