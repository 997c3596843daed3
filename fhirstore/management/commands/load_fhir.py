"""`python manage.py load_fhir PATH [PATH ...]`: load FHIR files and folders into the store.

Takes transaction, batch and collection Bundles, single resources and NDJSON files, or folders
of them (`fhirstore.bundles.loading` says how each is stored). A Bundle or resource file is loaded
whole or not at all; a bad file is reported by name and entry and the load goes on with the next.
NDJSON takes the bulk ingest path: valid lines load and bad lines are reported by line, or, with
`--atomic`, the file loads whole or not at all. Ends with a summary of files, resources by type
and errors; exits non-zero when any file failed.
"""

import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from fhirstore.bundles.ingest import Progress
from fhirstore.bundles.loading import FileReport, discover, load_file
from fhirstore.context import SYSTEM
from fhirstore.repository import Repository


class Command(BaseCommand):
    help = "Load FHIR Bundles, resources and NDJSON files (or folders of them) into the store."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="files or folders to load")
        parser.add_argument(
            "--keep-ids",
            action="store_true",
            help="store POST entries that carry an id under that id (PUT): reloading is idempotent",
        )
        parser.add_argument(
            "--atomic",
            action="store_true",
            help="NDJSON: store each file whole or not at all (default: valid lines load)",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=0,
            help="NDJSON: processes validating batches ahead of the writer (0: a thread does)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(
        self,
        *args: Any,
        paths: list[Path],
        keep_ids: bool,
        atomic: bool,
        processes: int,
        no_progress: bool,
        **options: Any,
    ) -> None:
        missing = [str(path) for path in paths if not path.exists()]
        if missing:
            raise CommandError(f"No such file or folder: {', '.join(missing)}")
        files = discover(paths)
        started = time.perf_counter()
        load = {"keep_ids": keep_ids, "atomic": atomic, "processes": max(processes, 0)}
        reports = self._load(files, load=load, progress=not no_progress)
        self._summarise(reports, seconds=time.perf_counter() - started)
        failed = [report for report in reports if report.failed]
        if failed:
            raise CommandError(f"{len(failed)} of {len(reports)} files failed to load")

    def _load(self, files: list[Path], *, load: dict[str, Any], progress: bool) -> list[FileReport]:
        repo = Repository(scope=SYSTEM)
        reports: list[FileReport] = []
        # The raw stream: Django's OutputWrapper ends every write with a newline, which would
        # break tqdm's in-place redraws. disable=None turns the bar off when not on a terminal.
        stream = self.stderr._out
        with tqdm(
            total=len(files), unit="file", disable=None if progress else True, file=stream
        ) as bar:
            for path in files:
                name = path.name[:40]
                bar.set_postfix_str(name)

                done = Progress()

                def batch_done(step: Progress, name: str = name, done: Progress = done) -> None:
                    done.add(step)
                    bar.set_postfix_str(f"{name}: {done.total} resources", refresh=True)

                report = load_file(repo=repo, path=path, on_batch=batch_done, **load)
                for error in report.errors:
                    bar.write(f"ERROR {error}", file=stream)
                reports.append(report)
                bar.update()
        return reports

    def _summarise(self, reports: list[FileReport], *, seconds: float) -> None:
        written: Counter[str] = Counter()
        for report in reports:
            written.update(report.written)
        total = sum(written.values())
        loaded = sum(1 for report in reports if not report.failed)
        rate = total / seconds if seconds > 0 else 0.0
        self.stdout.write(
            f"Files: {len(reports)} ({loaded} loaded, {len(reports) - loaded} failed)"
        )
        self.stdout.write(f"Resources written: {total} in {seconds:.1f} s ({rate:.0f}/s)")
        for resource_type, count in sorted(written.items(), key=lambda item: (-item[1], item[0])):
            self.stdout.write(f"  {resource_type}: {count}")
        errors = [error for report in reports for error in report.errors]
        self.stdout.write(f"Errors: {len(errors)}")
        for error in errors:
            self.stdout.write(f"  {error}")
