"""Generate benchmark data by cloning the seed Synthea patients with fresh ids and shifted dates.

Each clone of a seed transaction bundle gets a new uuid4 for every uuid in it (fullUrls,
`urn:uuid:` references and identifiers all move together, so references stay consistent) and all
its dates moved back by the same random number of days. One clone in `heavy_every` is a "heavy"
patient: its clinical entries are repeated so the patient has about 1,000 resources, for
`$everything`. Same seed, same output. The result is one gzipped file with one transaction Bundle
per line (the hospital and practitioner bundles first) and a manifest:

    python -m bench.generate --patients 1000 --seed 1 --out bench/.work/p1000
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import orjson

SEED_DIR = Path(__file__).resolve().parent / "seed"
WORK_DIR = Path(__file__).resolve().parent / ".work"
SHARED_PREFIXES = ("hospitalInformation", "practitionerInformation")
UUID_RE = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A whole JSON string that is a date, dateTime or instant; partial dates are left alone.
DATE_RE = re.compile(rb'"(\d{4}-\d{2}-\d{2})((?:T[0-9:.]+)?(?:Z|[+-]\d{2}:\d{2})?)"')
MAX_SHIFT_DAYS = 3650
HEAVY_COPIES = 3


@dataclass
class Manifest:
    """What a generated data set holds; written next to it as manifest.json."""

    seed: int
    patients: int
    resources: int = 0
    bundles: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    heavy_patients: list[int] = field(default_factory=list)


def seed_bundles() -> tuple[list[bytes], list[bytes]]:
    """The seed data as raw JSON: (shared hospital/practitioner bundles, patient bundles)."""
    shared: list[bytes] = []
    patients: list[bytes] = []
    for path in sorted(SEED_DIR.glob("*.json.gz")):
        raw = gzip.decompress(path.read_bytes())
        (shared if path.name.startswith(SHARED_PREFIXES) else patients).append(raw)
    return shared, patients


def compact(raw: bytes) -> bytes:
    """One-line JSON for a bundle (the output holds one bundle per line)."""
    return orjson.dumps(orjson.loads(raw))


def clone(raw: bytes, rng: random.Random, *, keep: frozenset[bytes] = frozenset()) -> bytes:
    """Return `raw` with every uuid (except those in `keep`) renewed and dates shifted back."""
    fresh: dict[bytes, bytes] = {}

    def renew(match: re.Match[bytes]) -> bytes:
        old = match.group(0)
        if old in keep:
            return old
        if old not in fresh:
            fresh[old] = str(uuid.UUID(int=rng.getrandbits(128), version=4)).encode()
        return fresh[old]

    days = rng.randrange(0, MAX_SHIFT_DAYS)
    return shift_dates(UUID_RE.sub(renew, raw), days=days)


def shift_dates(raw: bytes, *, days: int) -> bytes:
    """Move every full date in `raw` back by `days`, keeping times and offsets as they were."""
    delta = timedelta(days=days)

    def move(match: re.Match[bytes]) -> bytes:
        moved = date.fromisoformat(match.group(1).decode()) - delta
        return b'"' + moved.isoformat().encode() + match.group(2) + b'"'

    return DATE_RE.sub(move, raw)


def patient_uuid(bundle: dict) -> bytes:
    """The Patient entry's uuid in a Synthea bundle (its fullUrl is `urn:uuid:<id>`)."""
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            return entry["fullUrl"].removeprefix("urn:uuid:").encode()
    raise ValueError("seed bundle has no Patient entry")


def heavy_clone(raw: bytes, rng: random.Random) -> bytes:
    """A clone whose clinical entries are repeated HEAVY_COPIES times for the same patient."""
    first = orjson.loads(clone(raw, rng))
    keep = frozenset({patient_uuid(first)})
    base = orjson.dumps(first)
    for _ in range(HEAVY_COPIES - 1):
        extra = orjson.loads(clone(base, rng, keep=keep))
        first["entry"] += [e for e in extra["entry"] if e["resource"]["resourceType"] != "Patient"]
    return orjson.dumps(first)


def generate(*, patients: int, seed: int, heavy_every: int = 100) -> Iterator[tuple[int, bytes]]:
    """Yield (patient index or -1 for shared bundles, one-line bundle JSON), deterministically."""
    rng = random.Random(seed)
    shared, sources = seed_bundles()
    largest = max(sources, key=len)
    for raw in shared:
        yield -1, compact(raw)
    for index in range(patients):
        if heavy_every > 0 and index % heavy_every == heavy_every - 1:
            yield index, heavy_clone(largest, rng)
        else:
            yield index, compact(clone(sources[index % len(sources)], rng))


def write(*, out: Path, patients: int, seed: int, heavy_every: int = 100) -> Manifest:
    """Write `bundles.ndjson.gz` and `manifest.json` under `out` and return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(seed=seed, patients=patients)
    with gzip.open(out / "bundles.ndjson.gz", "wb", compresslevel=1) as sink:
        for index, line in generate(patients=patients, seed=seed, heavy_every=heavy_every):
            count_entries(manifest, index, line)
            sink.write(line + b"\n")
    (out / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1))
    return manifest


def count_entries(manifest: Manifest, index: int, line: bytes) -> None:
    """Add one bundle's resources to the manifest's totals."""
    entries = orjson.loads(line)["entry"]
    manifest.bundles += 1
    manifest.resources += len(entries)
    for entry in entries:
        kind = entry["resource"]["resourceType"]
        manifest.by_type[kind] = manifest.by_type.get(kind, 0) + 1
    if len(entries) >= 900:
        manifest.heavy_patients.append(index)


def read_bundles(path: Path) -> Iterator[bytes]:
    """The bundles of a generated file, one raw JSON line each."""
    with gzip.open(path, "rb") as source:
        for line in source:
            if line.strip():
                yield line.rstrip(b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="Clone seed Synthea patients into benchmark data.")
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--heavy-every", type=int, default=100, help="0 for no heavy patients")
    parser.add_argument("--out", type=Path, default=None, help="default bench/.work/p<patients>")
    args = parser.parse_args()
    out = args.out or WORK_DIR / f"p{args.patients}-s{args.seed}"
    manifest = write(out=out, patients=args.patients, seed=args.seed, heavy_every=args.heavy_every)
    print(
        f"{out}: {manifest.bundles} bundles, {manifest.resources} resources, "
        f"{len(manifest.heavy_patients)} heavy patients"
    )


if __name__ == "__main__":
    main()
