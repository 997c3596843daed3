"""CPU cost of ingest per resource, in process: what one server worker spends on a transaction.

Runs generated Synthea transaction Bundles through the same code a `POST [base]` runs
(`process_bundle` and the Provenance record, in one database transaction) against a migrated
database, and reports process CPU time per resource (median of the bundles after warm-up), so
machine noise from other processes does not count. With `--profile` it prints the cProfile
top functions instead. `--ndjson` times the NDJSON path's steps (check, then write) the same way.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_cpu \\
        .venv/bin/python bench/ingest_cpu.py --bundles 40 [--profile]
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("SECRET_KEY", "bench-ingest-cpu-secret-key")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from bench.generate import generate  # noqa: E402
from fhirstore import jsontext, provenance  # noqa: E402
from fhirstore.bundles import process_bundle  # noqa: E402
from fhirstore.context import SYSTEM  # noqa: E402
from fhirstore.repository import Repository  # noqa: E402


def post_one(repo: Repository, body: bytes) -> int:
    """What the FHIR view does with a posted transaction; returns the resources written."""
    bundle = jsontext.loads(body)
    with transaction.atomic(), provenance.collecting() as written:
        process_bundle(repo=repo, bundle=bundle)
        provenance.provenance_record(written=written, actor=SYSTEM.actor, template=None)
    return len(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    call_command("migrate", verbosity=0)
    bodies = [b for _, b in generate(patients=options.bundles, seed=options.seed, heavy_every=0)]
    repo = Repository(scope=SYSTEM)
    for body in bodies[: options.warmup]:
        post_one(repo, body)
    profiler = cProfile.Profile(time.process_time) if options.profile else None
    per_resource, total_cpu, total = [], 0.0, 0
    for body in bodies[options.warmup :]:
        started = time.process_time()
        if profiler:
            profiler.enable()
        count = post_one(repo, body)
        if profiler:
            profiler.disable()
        spent = time.process_time() - started
        per_resource.append(spent / count * 1000)
        total_cpu, total = total_cpu + spent, total + count
    median = statistics.median(per_resource)
    print(
        f"{len(per_resource)} bundles, {total} resources: median {median:.3f} ms CPU per"
        f" resource, mean {total_cpu / total * 1000:.3f} ms"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
