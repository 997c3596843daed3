"""The benchmark workloads: what each one asks a server, a sanity check, and one measured run.

Read and search workloads are lists of GET paths driven by wrk; each server gets paths built
from the ids *it* assigned while loading (`Targets`), so both answer the same questions about
the same data. Before measuring, one request per workload must answer 200 with a FHIR body;
otherwise the workload is reported as not available on that server instead of timing errors.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import requests

from bench import loadgen
from bench.generate import generate
from bench.ingest import ingest
from bench.procs import Server

READ_SAMPLE = 20_000
# The sorted search asks for heart rate (8867-4), which Synthea's sample never records,
# so it measures an empty answer; body weight (29463-7) is the same query with many matches.
SORTED_SEARCH = (
    "{prefix}/Observation?code=http%3A%2F%2Floinc.org%7C{code}&date=ge2015-01-01"
    "&_count=100&_sort=-date"
)
CODES = {"search-code": "8867-4", "search-code-weight": "29463-7"}
WRK_WORKLOADS = ("read", "search-vitals", "search-code", "search-code-weight", "everything")


@dataclass
class Targets:
    """Ids one server assigned during the load: every patient, the heavy ones, a read sample."""

    patients: list[str] = field(default_factory=list)
    heavy: list[str] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Targets:
        return cls(**json.loads(path.read_text()))


@dataclass
class Outcome:
    """One workload on one server: measured figures, or why it could not run."""

    workload: str
    server: str
    runs: list[dict[str, float]] = field(default_factory=list)
    unavailable: str = ""
    check: str = ""


def targets_from_load(
    locations: dict[int, list[str]], *, shared: int, heavy: list[int], seed: int
) -> Targets:
    """Turn per-bundle locations (bundle line -> Type/ids) into a server's Targets."""
    patients: dict[int, str] = {}
    everything: list[str] = []
    for line, ids in locations.items():
        patient = next((i.split("/")[1] for i in ids if i.startswith("Patient/")), None)
        if patient is not None and line >= shared:
            patients[line - shared] = patient
        everything.extend(ids)
    everything.sort()
    rng = random.Random(seed)
    sample = rng.sample(everything, min(READ_SAMPLE, len(everything)))
    ordered = [patients[i] for i in sorted(patients)]
    return Targets(
        patients=ordered, heavy=[patients[i] for i in heavy if i in patients], sample=sample
    )


def paths_for(workload: str, *, targets: Targets, prefix: str) -> list[str]:
    """The GET paths of a wrk workload for one server (`prefix` is its base path, e.g. /fhir)."""
    if workload == "read":
        return [f"{prefix}/{tid}" for tid in targets.sample]
    if workload == "search-vitals":
        return [
            f"{prefix}/Observation?patient={p}&category=vital-signs&_count=50"
            for p in targets.patients
        ]
    if workload in CODES:
        return [SORTED_SEARCH.format(prefix=prefix, code=CODES[workload])]
    if workload == "everything":
        return [f"{prefix}/Patient/{p}/$everything" for p in targets.heavy]
    raise ValueError(f"unknown workload {workload}")


def sanity(server: Server, path: str) -> tuple[bool, str]:
    """GET one path; (True, what came back) when it is a 200 FHIR answer, else (False, why)."""
    origin = server.base_url[: -len(urlsplit(server.base_url).path)]
    try:
        response = requests.get(origin + path, headers=server.headers(), timeout=60)
    except requests.RequestException as error:
        return False, f"request failed: {error}"
    if response.status_code != 200:
        return False, f"HTTP {response.status_code}: {response.text[:200]}"
    body = orjson.loads(response.content)
    if body.get("resourceType") != "Bundle":
        return True, body.get("resourceType", "?")
    return True, f"Bundle, {len(body.get('entry', []))} entries, total {body.get('total', '-')}"


def run_wrk_workload(
    server: Server,
    workload: str,
    *,
    targets: Targets,
    work: Path,
    seconds: int,
    warmup: int,
) -> tuple[dict[str, float] | None, str]:
    """One measured wrk run of `workload`, or (None, reason) when the server can't answer it."""
    prefix = urlsplit(server.base_url).path.rstrip("/")
    paths = paths_for(workload, targets=targets, prefix=prefix)
    if not paths:
        return None, "no ids for this workload in the loaded data"
    ok, check = sanity(server, paths[0])
    if not ok:
        return None, check
    paths_file = work / f"{server.name}-{workload}.paths"
    paths_file.write_text("\n".join(paths) + "\n")
    origin = server.base_url[: -len(prefix)] if prefix else server.base_url
    result = loadgen.measure(
        origin=origin, paths_file=paths_file, token=server.token, seconds=seconds, warmup=warmup
    )
    figures = {
        "rps": result.per_second,
        "p50_ms": result.p50_ms,
        "p90_ms": result.p90_ms,
        "p99_ms": result.p99_ms,
        "max_ms": result.max_ms,
        "errors": float(result.errors),
    }
    return figures, check


def ingest_bundles(*, patients: int, seed: int) -> list[bytes]:
    """Fresh patient bundles (no shared ones, no heavy patients) for one ingest run."""
    return [
        line for index, line in generate(patients=patients, seed=seed, heavy_every=0) if index >= 0
    ]


def run_ingest_workload(server: Server, bundles: list[bytes], *, clients: int) -> dict[str, float]:
    """Post `bundles` with `clients` clients; resources/s and failures."""
    result = ingest(
        base_url=server.base_url, bundles=iter(bundles), headers=server.headers(), clients=clients
    )
    if result.first_errors:
        print(f"    {server.name} ingest errors: {result.first_errors[:2]}")
    return {
        "resources_per_s": result.per_second,
        "resources": float(result.resources),
        "seconds": result.seconds,
        "failed_bundles": float(result.failures),
    }
