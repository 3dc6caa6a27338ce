"""Dispatch tests: a fresh world per test, and the grid/division caches dropped between tests
(a rolled-back test leaves unit ids behind that the next test's database does not have)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jingwu.dispatch import handoff, locating


@pytest.fixture(autouse=True)
def _fresh_indexes() -> Iterator[None]:
    locating.forget()
    handoff.register_case_intake(None)
    yield
    locating.forget()
    handoff.register_case_intake(None)


@pytest.fixture
def world(db: None) -> Any:
    from jingwu.dispatch.tests.factories import make_world

    return make_world()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Concurrency tests need PostgreSQL's row locks between real connections: they run in the
    PostgreSQL suite and are left out (not skipped) of the SQLite one, whose in-memory test
    database serves every thread one shared connection."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    kept = [item for item in items if item.get_closest_marker("postgres_only") is None]
    dropped = [item for item in items if item.get_closest_marker("postgres_only") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
