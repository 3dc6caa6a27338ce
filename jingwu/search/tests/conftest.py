"""Search tests: a fresh index folder per test, and the small labelled province linked and indexed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jingwu.core import services as core_services
from jingwu.core.models import User
from jingwu.core.tests.factories import make_user
from jingwu.records.tests.test_linking_fixture import Province, linked_province
from jingwu.search import services

PURPOSE = "核查盗窃案嫌疑人"


@pytest.fixture(autouse=True)
def index_folder(settings: Any, tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "search"
    settings.JINGWU_SEARCH_DIR = folder
    yield folder


@pytest.fixture
def province(db: Any) -> Province:
    """The records fixture province, linked in full and indexed."""
    p = linked_province()
    services.index_rebuild()
    return p


def user_with(name: str, role: str, unit: Any, *, purpose: bool = True) -> User:
    user = make_user(name, [(role, unit)])
    if purpose:
        core_services.purpose_set(actor=user, text=PURPOSE, ref_type="case", ref_id="A2026-0001")
    return user
