"""`jingwu serve`: the development server with an in-process job consumer."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command


def test_serve_refuses_when_jobs_run_immediately(settings: object) -> None:
    from huey.contrib.djhuey import HUEY

    assert HUEY.immediate  # the test settings (JINGWU_JOBS_IMMEDIATE=1)
    with pytest.raises(CommandError, match="nothing to consume"):
        call_command("serve", "127.0.0.1:0")
