"""What this database holds of the synthetic province."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SeedState(models.Model):
    """The one synthetic population in this database: people 0 … people-1 of this seed
    and city count are stored. Updated in the same transaction as each stored chunk, so
    an interrupted run resumes exactly where it stopped."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seed = models.BigIntegerField()
    cities = models.PositiveSmallIntegerField()
    generator_version = models.PositiveSmallIntegerField()
    people = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"seed {self.seed}, {self.cities} cities, {self.people} people"
