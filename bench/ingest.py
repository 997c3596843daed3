"""Ingest driver: post transaction Bundles with a few concurrent clients and count resources/s.

Every bundle goes to `POST [base]` as it was generated (Synthea style: POST entries with
`urn:uuid:` references), so the server validates and stores each resource. The ids the server
assigned are read back from the transaction-response locations, which is how the read and search
workloads learn what to ask for. Run alone against a running server:

    python -m bench.ingest --base http://127.0.0.1:8000/fhir --data bench/.work/p1000-s1
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import requests

from bench.generate import read_bundles

FHIR_JSON = "application/fhir+json"


@dataclass
class IngestResult:
    """What one ingest run achieved; `locations[i]` are the `Type/id`s of bundle i."""

    bundles: int = 0
    resources: int = 0
    seconds: float = 0.0
    failures: int = 0
    first_errors: list[str] = field(default_factory=list)
    locations: dict[int, list[str]] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        """Resources stored per second of wall time."""
        return self.resources / self.seconds if self.seconds else 0.0


class _Feed:
    """Hands numbered bundles to client threads one at a time, stopping at a resource budget."""

    def __init__(self, bundles: Iterator[bytes], max_resources: int | None) -> None:
        self._bundles = enumerate(bundles)
        self._lock = threading.Lock()
        self._budget = max_resources

    def next(self) -> tuple[int, bytes] | None:
        with self._lock:
            if self._budget is not None and self._budget <= 0:
                return None
            item = next(self._bundles, None)
            if item is not None and self._budget is not None:
                self._budget -= item[1].count(b'"request":{')
            return item


def resource_location(location: str) -> str:
    """`Type/id` from a response location, absolute or relative, with or without `_history`."""
    parts = location.split("?")[0].rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:])


def post_bundle(session: requests.Session, *, base_url: str, body: bytes) -> tuple[int, list[str]]:
    """Post one transaction; return (status, the Type/id of every entry, in order)."""
    try:
        response = session.post(base_url, data=body, timeout=600)
    except requests.RequestException as error:
        return 599, [f"no answer: {error}"]
    if response.status_code != 200:
        return response.status_code, [response.text[:300]]
    entries = orjson.loads(response.content).get("entry", [])
    return 200, [resource_location(e["response"].get("location", "")) for e in entries]


def ingest(
    *,
    base_url: str,
    bundles: Iterator[bytes],
    headers: dict[str, str],
    clients: int = 4,
    max_resources: int | None = None,
) -> IngestResult:
    """Post `bundles` with `clients` concurrent clients; stop after about `max_resources`."""
    feed, result, lock = _Feed(bundles, max_resources), IngestResult(), threading.Lock()

    def client() -> None:
        with requests.Session() as session:
            session.headers.update({**headers, "Content-Type": FHIR_JSON, "Accept": FHIR_JSON})
            while (item := feed.next()) is not None:
                status, info = post_bundle(session, base_url=base_url, body=item[1])
                with lock:
                    _record(result, index=item[0], status=status, info=info)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def _record(result: IngestResult, *, index: int, status: int, info: list[str]) -> None:
    result.bundles += 1
    if status == 200:
        result.resources += len(info)
        result.locations[index] = info
        return
    result.failures += 1
    if len(result.first_errors) < 5:
        result.first_errors.append(f"bundle {index}: HTTP {status}: {info[0] if info else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Post generated transaction bundles to a server.")
    parser.add_argument(
        "--base", required=True, help="FHIR base URL, e.g. http://127.0.0.1:8000/fhir"
    )
    parser.add_argument("--data", type=Path, required=True, help="a bench/.work/<set> folder")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-resources", type=int, default=None)
    args = parser.parse_args()
    token = os.environ.get("FHIR_BENCH_TOKEN", "")
    result = ingest(
        base_url=args.base,
        bundles=read_bundles(args.data / "bundles.ndjson.gz"),
        headers={"Authorization": f"Bearer {token}"} if token else {},
        clients=args.clients,
        max_resources=args.max_resources,
    )
    print(
        f"{result.resources} resources in {result.bundles} bundles, {result.seconds:.1f}s: "
        f"{result.per_second:.0f} resources/s, {result.failures} failed"
    )
    for error in result.first_errors:
        print("  ", error)


if __name__ == "__main__":
    main()
