"""`python manage.py reindex [--type T] [--batch N]`: rebuild the search index from stored JSON.

Walks the current, non-deleted resources in primary-key order one batch at a time (keyset
paging, so memory stays flat however many rows there are), and re-indexes each batch in its own
transaction with `indexer.index_resources`. Use it after a change to the search definitions or
the extraction code; it is safe to run while the server takes writes, since every write indexes
its own resource in the write's transaction.
"""

from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from fhirstore import jsontext
from fhirstore.models import Resource
from fhirstore.search import registry
from fhirstore.search.indexer import index_resources


class Command(BaseCommand):
    help = "Rebuild search index rows for all current resources, or those of one type."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--type", dest="resource_type", help="only this resource type")
        parser.add_argument("--batch", type=int, default=500, help="resources per transaction")

    def handle(self, *args: Any, resource_type: str | None, batch: int, **options: Any) -> None:
        if resource_type and resource_type not in registry.resource_types():
            raise CommandError(f"Unknown resource type {resource_type!r}")
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        current = Resource.objects.filter(deleted=False)
        if resource_type:
            current = current.filter(resource_type=resource_type)
        total = reindex(current, batch=batch, progress=options.get("verbosity", 1) > 0)
        self.stdout.write(f"Re-indexed {total} resources.")


def reindex(queryset: Any, *, batch: int, progress: bool) -> int:
    """Re-index every row of `queryset` in batches of `batch`; answers how many were done."""
    done, last_pk = 0, 0
    with tqdm(total=queryset.count(), unit="res", disable=not progress) as bar:
        while rows := list(queryset.filter(pk__gt=last_pk).order_by("pk")[:batch]):
            with transaction.atomic():
                index_resources([(row, _parsed(row.text)) for row in rows])
            last_pk = rows[-1].pk
            done += len(rows)
            bar.update(len(rows))
    return done


def _parsed(text: str) -> dict:
    """orjson for speed; the lossless parser for numbers orjson cannot hold (huge integers)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return jsontext.loads(text)
