"""Token rows carry their resource's principal date (`fhirstore/search/latest.py`), and the token
index ends with it, so a token search sorted newest first reads one index range. The index on
`resource_id` alone becomes (`resource_id`, `param`, `code`): the probes of a search pinned to one
patient read it alone, and it still serves the foreign key.

Existing rows are filled from each resource's `<date>:sort` row before the index is built (one
UPDATE per type that has a principal date). A change to `latest.py`'s choice of date needs a
migration like this one to refill the column.
"""

import django.db.models.deletion
from django.db import migrations, models

from fhirstore.models.index import MIN_DATE
from fhirstore.search import registry
from fhirstore.search.latest import principal_date

FILL = (
    "UPDATE fhirstore_searchtoken SET sort_high = COALESCE("
    "(SELECT MAX(d.high) FROM fhirstore_searchdate d"
    " WHERE d.resource_id = fhirstore_searchtoken.resource_id AND d.param = %s), %s)"
    " WHERE resource_type = %s"
)


def fill(apps, schema_editor):
    connection = schema_editor.connection
    missing = connection.ops.adapt_datetimefield_value(MIN_DATE)
    with connection.cursor() as cursor:
        for resource_type in registry.resource_types():
            if (date := principal_date(resource_type)) is not None:
                cursor.execute(FILL, [f"{date}:sort", missing, resource_type])


class Migration(migrations.Migration):
    dependencies = [("fhirstore", "0003_drop_duplicate_indexes")]

    operations = [
        migrations.RemoveIndex(model_name="searchtoken", name="stoken_code"),
        migrations.AlterField(
            model_name="searchtoken",
            name="resource",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="search_tokens",
                to="fhirstore.resource",
            ),
        ),
        migrations.AddField(
            model_name="searchtoken", name="sort_high", field=models.DateTimeField(null=True)
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="searchtoken",
            index=models.Index(
                fields=["resource_type", "param", "code", "system", "sort_high"],
                include=("resource",),
                name="stoken_code_date",
            ),
        ),
        migrations.AddIndex(
            model_name="searchtoken",
            index=models.Index(
                fields=["resource", "param", "code"],
                include=("resource_type", "system"),
                name="stoken_resource",
            ),
        ),
    ]
