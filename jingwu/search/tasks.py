"""Index jobs: thin, idempotent (each builds the documents from the database as they are now)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from jingwu.search import services

INDEX_TASKS = ("index_ids", "index_type")


@db_task(retries=3, retry_delay=2)
def index_ids(doc_type: str, ids: list[int], enqueued_at: float) -> int:
    return services.index_update(doc_type=doc_type, ids=ids, enqueued_at=enqueued_at)


@db_task(retries=3, retry_delay=2)
def index_type(doc_type: str, enqueued_at: float) -> int:
    return services.index_rebuild(doc_types=[doc_type], enqueued_at=enqueued_at).total
