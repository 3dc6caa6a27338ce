"""Records loaded without normalised fields (the synthetic province) were hashed over their
payload; imports hash the normalised fields (rows.content_hash), so the same record seeded
and then imported looked changed. Hash them as imports do."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import migrations

CHUNK = 2000


def _rehash(apps: Any, schema_editor: Any, *, normalised: bool) -> None:
    record = apps.get_model("records", "SourceRecord")
    table = record._meta.db_table
    seeded = record.objects.using(schema_editor.connection.alias).filter(fields__isnull=True).order_by("pk")
    last = 0
    while True:
        # A page at a time, by id: no cursor stays open across the updates.
        page = list(seeded.filter(pk__gt=last).values_list("pk", "kind", "source_key", "payload",
                                                           "content_hash")[:CHUNK])
        if not page:
            return
        last = page[-1][0]
        changed = []
        for pk, kind, key, payload, old in page:
            digest = _normalised_hash(kind, key, payload) if normalised else _payload_hash(payload)
            if digest is not None and digest != old:
                changed.append((digest, pk))
        if changed:
            with schema_editor.connection.cursor() as cursor:
                cursor.executemany(f'UPDATE "{table}" SET content_hash = %s WHERE id = %s', changed)  # noqa: S608


def _normalised_hash(kind: str, key: str, payload: dict[str, Any]) -> str | None:
    from jingwu.records.mapping import Mapping
    from jingwu.records.readers import RawRow
    from jingwu.records.rows import GoodRow, content_hash, normalize_row

    cells = {name: value if value is None or isinstance(value, str) else str(value) for name, value in payload.items()}
    cells["id"] = key
    result = normalize_row(RawRow(0, cells), Mapping.identity(kind))
    # A record that no longer normalises keeps its hash.
    return content_hash(result.fields) if isinstance(result, GoodRow) else None


def _payload_hash(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def forwards(apps: Any, schema_editor: Any) -> None:
    _rehash(apps, schema_editor, normalised=True)


def backwards(apps: Any, schema_editor: Any) -> None:
    _rehash(apps, schema_editor, normalised=False)


class Migration(migrations.Migration):
    dependencies = [("records", "0004_import_partners_idempotency_interruption")]

    operations = [migrations.RunPython(forwards, backwards)]
