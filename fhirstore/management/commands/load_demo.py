"""`python manage.py load_demo`: load the demo patients once (what `make run` calls on every start).

The demo data in `fhirstore/data/demo/` is three Synthea patients with the organisations and
practitioners they refer to. Resources keep their Synthea ids (`load_fhir --keep-ids`), so the
demo patients have stable ids to document and log in as. When every demo patient is already
stored the command does nothing, which makes it safe to run on each start; `--force` reloads.
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fhirstore import jsontext
from fhirstore.bundles.loading import discover, load_file
from fhirstore.context import SYSTEM
from fhirstore.models import Resource
from fhirstore.repository import Repository

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"


def demo_patients(files: list[Path]) -> dict[str, str]:
    """Patient id → display name, for each demo file whose first entry is a Patient."""
    patients: dict[str, str] = {}
    for path in files:
        entries = jsontext.loads(path.read_bytes()).get("entry") or [{}]
        resource = entries[0].get("resource") or {}
        if resource.get("resourceType") == "Patient":
            name = (resource.get("name") or [{}])[0]
            patients[resource["id"]] = " ".join([*name.get("given", []), name.get("family", "")])
    return patients


class Command(BaseCommand):
    help = "Load the demo patients on the first run; do nothing when they are already stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="load even if already loaded")

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        files = discover([DEMO_DIR])
        patients = demo_patients(files)
        stored = Resource.objects.filter(
            resource_type="Patient", logical_id__in=list(patients), deleted=False
        ).count()
        if stored == len(patients) and not force:
            self.stdout.write(f"Demo data already loaded ({len(patients)} patients).")
            return
        self._load(files)
        for logical_id, name in patients.items():
            self.stdout.write(f"  Patient/{logical_id}  {name}")

    def _load(self, files: list[Path]) -> None:
        repo = Repository(scope=SYSTEM)
        written = 0
        for path in files:
            report = load_file(repo=repo, path=path, keep_ids=True)
            if report.failed:
                raise CommandError("Demo data failed to load: " + "; ".join(report.errors))
            written += sum(report.written.values())
        self.stdout.write(f"Loaded demo data: {written} resources from {len(files)} files.")
