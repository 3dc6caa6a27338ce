"""Which unit's jurisdiction a source record falls in, for access scoping.

The record's own division code says it best (a 9-digit township code is a police
station's area, a 6-digit code a county's or a city's); failing that, the address code
written into an identifier — the first six digits of a resident ID, characters 3–8 of a
unified social credit code — names the county where it was issued; failing that, the
record belongs to the province. Units are read once per import, so resolving a row is
a few dictionary look-ups. A resolver is plain data, so it travels to the worker process
that prepares a big file's rows (which imports no Django: models are imported in load()).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["UnitResolver"]

# Fields holding a resident ID, per kind, in the order they are trusted.
_ID_FIELDS: Final[tuple[str, ...]] = (
    "id_number", "owner_id_number", "subscriber_id_number", "legal_rep_id_number", "holder_id_number",
)  # fmt: skip
# core.models.UnitKind values, spelt out so this module imports no Django.
_STATION: Final = "station"
_AREA_KINDS: Final = ("province", "city", "county")


class UnitResolver:
    """Resolves records to unit ids; build one per import with :meth:`load`."""

    def __init__(self, stations: Mapping[str, int], areas: Mapping[str, int], root: int | None) -> None:
        self._stations = dict(stations)  # 9-digit township code -> station id
        self._areas = dict(areas)  # 6-digit county/city/province code -> unit id
        self.root = root

    @classmethod
    def load(cls) -> UnitResolver:
        from jingwu.core.models import Unit

        stations: dict[str, int] = {}
        areas: dict[str, int] = {}
        rows = (Unit.objects.exclude(division_code="")
                .filter(kind__in=[_STATION, *_AREA_KINDS])
                .order_by("path").values_list("division_code", "kind", "pk"))
        for code, kind, pk in rows:
            # The first in path order wins should two units carry one code.
            if kind == _STATION and len(code) == 9:
                stations.setdefault(code, pk)
            elif kind != _STATION and len(code) == 6:
                areas.setdefault(code, pk)
        root = (Unit.objects.filter(parent__isnull=True, kind="province").order_by("path")
                .values_list("pk", flat=True).first())
        return cls(stations, areas, root)

    def _area(self, code: str) -> int | None:
        """The unit of a 6-digit address code: the county, else its city (codes of
        counties that were merged or renamed still name the right city)."""
        unit = self._areas.get(code)
        if unit is None and code[4:] != "00":
            unit = self._areas.get(code[:4] + "00")
        return unit

    def _division(self, code: str) -> int | None:
        if len(code) >= 9:
            station = self._stations.get(code[:9])
            if station is not None:
                return station
        return self._area(code[:6])

    def unit_for(self, fields: Mapping[str, str | None]) -> int | None:
        """The unit id for a record's normalised fields (the province root when nothing
        in the record names a place we have a unit for; None only without any units)."""
        code = fields.get("division_code")
        if code:
            unit = self._division(code)
            if unit is not None:
                return unit
        for name in _ID_FIELDS:
            id_number = fields.get(name)
            if id_number:
                unit = self._area(id_number[:6])
                if unit is not None:
                    return unit
        uscc = fields.get("uscc")
        if uscc and uscc[2:8].isdigit():
            unit = self._area(uscc[2:8])
            if unit is not None:
                return unit
        return self.root
