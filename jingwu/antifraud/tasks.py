"""Scheduled work of the anti-fraud centre (Huey): thin, the service does the rest."""

from __future__ import annotations

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from jingwu.antifraud import services, sms


@db_periodic_task(crontab(minute="*"))
def stop_payment_sweep() -> None:
    """Every minute: expire stops past 48 h (96 h renewed), remind the desk of stops about to
    expire, and take up requests whose sender stopped or whose next poll is due."""
    services.stop_payment_sweep(now=timezone.now())


@db_periodic_task(crontab(minute="*"))
def sms_outbox_send() -> None:
    """Every minute: the early-warning SMS that are due go to the SMS gateway."""
    sms.sms_outbox_send()
