"""Bulk ingest benchmark: NDJSON through the shared fast path (`load_fhir`, as `$import` runs it).

Builds an NDJSON file from the generated Synthea clones (each resource keeps the uuid of its
fullUrl as its id and `urn:uuid:` references become `Type/id`, which is what a Bulk Data export
from another server looks like), migrates a fresh database, and times `manage.py load_fhir FILE`
in a subprocess: full validation, batched inserts, index rows. Reports resources/s and the
loader's peak RSS.

    python -m bench.import_ndjson --patients 50 --database postgres://postgres@127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg

from bench.generate import WORK_DIR, generate

REPO = Path(__file__).resolve().parent.parent
URN = re.compile(rb"urn:uuid:([0-9a-f\-]{36})")


def bundle_lines(bundle: bytes) -> list[bytes]:
    """The resources of one transaction Bundle as NDJSON lines with ids and literal references."""
    entries = orjson.loads(bundle)["entry"]
    kinds = {
        e["fullUrl"].removeprefix("urn:uuid:").encode(): e["resource"]["resourceType"].encode()
        for e in entries
        if str(e.get("fullUrl", "")).startswith("urn:uuid:")
    }

    def literal(match: re.Match[bytes]) -> bytes:
        kind = kinds.get(match.group(1))
        return kind + b"/" + match.group(1) if kind else match.group(0)

    lines = []
    for entry in entries:
        doc = entry["resource"]
        key = str(entry.get("fullUrl", "")).removeprefix("urn:uuid:")
        if len(key) == 36:
            doc["id"] = key
        lines.append(URN.sub(literal, orjson.dumps(doc)))
    return lines


def write_ndjson(path: Path, *, patients: int, seed: int) -> int:
    """Write the NDJSON file; return how many resources it holds."""
    count = 0
    with path.open("wb") as sink:
        for _, bundle in generate(patients=patients, seed=seed, heavy_every=0):
            for line in bundle_lines(bundle):
                sink.write(line + b"\n")
                count += 1
    return count


def fresh_database(url: str) -> None:
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = parts.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def manage(*args: str, database: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database, "DEBUG": "1", "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/bench_import", help="recreated"
    )
    parser.add_argument("--atomic", action="store_true")
    parser.add_argument("--processes", type=int, default=0, help="load_fhir --processes")
    options = parser.parse_args()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / f"import-p{options.patients}-s{options.seed}.ndjson"
    resources = write_ndjson(path, patients=options.patients, seed=options.seed)
    print(f"{path.name}: {resources} resources, {path.stat().st_size / 1e6:.1f} MB")
    if options.database.startswith("postgres"):
        fresh_database(options.database)
    migrated = manage("migrate", "--noinput", database=options.database)
    if migrated.returncode:
        sys.exit(migrated.stderr)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    extra = ["--processes", str(options.processes)] + (["--atomic"] if options.atomic else [])
    loaded = manage("load_fhir", str(path), "--no-progress", *extra, database=options.database)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(loaded.stdout.splitlines()[1] if loaded.stdout else loaded.stderr[-2000:])
    print(
        f"load_fhir wall time {seconds:.1f} s (process start included): "
        f"{resources / seconds:.0f} resources/s; loader CPU {cpu:.1f} s "
        f"({resources / cpu:.0f} resources per CPU second, validation processes included); "
        f"peak RSS of a loader process {after.ru_maxrss / 1024:.0f} MB; load average "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
