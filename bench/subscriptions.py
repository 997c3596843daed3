"""Change-notification latency under load: a Subscription, 50 writes/s, a receiver on 127.0.0.1.

Starts our server as in production (granian on PostgreSQL, tasks on a Celery worker through
Redis; DEBUG on only so that the loopback receiver is an allowed endpoint), subscribes a receiver
to `Observation?code=8867-4` with the resource as payload, then creates matching Observations at
a steady rate from a few client threads. Latency is the receiver's clock at delivery minus the
resource's `meta.lastUpdated` (stamped just before the write's commit, so it slightly
overstates). Reports delivered/written and latency percentiles.

    python -m bench.subscriptions --rate 50 --seconds 30
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import redis
import requests

from bench import ours
from bench.procs import spawn

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
REDIS_URL = "redis://127.0.0.1:6379/9"


class Receiver:
    """Records (resource id, receive time) for every notification POSTed to it."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.time()
                receiver.arrivals[orjson.loads(body)["id"]] = arrived
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def start_stack(port: int, workers: int, concurrency: int) -> tuple[ours.Server, object]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    extra = {"REDIS_URL": REDIS_URL, "DEBUG": "1", "SUBSCRIPTION_RETRY_SECONDS": "1"}
    original = ours.environment
    ours.environment = lambda *, database: {**original(database=database), **extra}
    server = ours.start(
        port=port,
        database="bench_subscriptions",
        workers=workers,
        log_path=WORK / "subscriptions-web.log",
    )
    env = {**ours.environment(database="bench_subscriptions"), "LOG_LEVEL": "WARNING"}
    argv = [str(ours.PYTHON), "-m", "celery", "-A", "backend", "worker", "--concurrency"]
    argv += [str(concurrency), "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
    worker = spawn(argv, env=env, cwd=ROOT, log_path=WORK / "subscriptions-worker.log")
    time.sleep(3)
    return server, worker


def observation(n: int) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": "Patient/bench-sub"},
            "valueQuantity": {"value": 60 + n % 40, "unit": "/min"},
        }
    )


def drive(server: ours.Server, *, rate: float, seconds: float, clients: int) -> dict[str, float]:
    """Write at `rate`/s for `seconds`; return id → lastUpdated (epoch seconds)."""
    written: dict[str, float] = {}
    lock = threading.Lock()
    start = time.monotonic()
    total = int(rate * seconds)

    def client(offset: int) -> None:
        with requests.Session() as session:
            session.headers.update({**server.headers(), "Content-Type": "application/fhir+json"})
            for n in range(offset, total, clients):
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                response = session.post(f"{server.base_url}/Observation", data=observation(n))
                doc = response.json()
                stamp = datetime.fromisoformat(doc["meta"]["lastUpdated"].replace("Z", "+00:00"))
                with lock:
                    written[doc["id"]] = stamp.timestamp()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--port", type=int, default=8077)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    options = parser.parse_args()
    receiver = Receiver()
    server, worker = start_stack(options.port, options.web_workers, options.concurrency)
    try:
        with requests.Session() as session:
            session.headers.update({**server.headers(), "Content-Type": "application/fhir+json"})
            session.put(
                f"{server.base_url}/Patient/bench-sub",
                data=orjson.dumps({"resourceType": "Patient", "id": "bench-sub"}),
            ).raise_for_status()
            subscription = {
                "resourceType": "Subscription",
                "status": "requested",
                "reason": "bench",
                "criteria": "Observation?code=8867-4",
                "channel": {
                    "type": "rest-hook",
                    "endpoint": receiver.url,
                    "payload": "application/fhir+json",
                },
            }
            session.post(
                f"{server.base_url}/Subscription", data=orjson.dumps(subscription)
            ).raise_for_status()
        time.sleep(1.5)  # every web process sees the new Subscription (TYPES_CACHE_SECONDS)
        started = time.monotonic()
        written = drive(server, rate=options.rate, seconds=options.seconds, clients=options.clients)
        options.achieved = len(written) / (time.monotonic() - started)
        deadline = time.monotonic() + 30
        while len(receiver.arrivals) < len(written) and time.monotonic() < deadline:
            time.sleep(0.1)
        report(written, receiver.arrivals, options)
    finally:
        server.stop()
        worker.terminate()  # type: ignore[attr-defined]
        worker.wait(timeout=20)  # type: ignore[attr-defined]


def report(
    written: dict[str, float], arrivals: dict[str, float], options: argparse.Namespace
) -> None:
    latencies = sorted(arrivals[i] - t for i, t in written.items() if i in arrivals)
    if not latencies:
        print("no notification arrived")
        return

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    within = sum(1 for x in latencies if x <= 1.0)
    print(
        f"rate {options.rate}/s asked, {options.achieved:.1f}/s achieved, for "
        f"{options.seconds:.0f} s: {len(written)} writes, "
        f"{len(latencies)} notifications delivered, {within} within 1 s"
    )
    print(
        f"latency ms: p50 {pct(0.5):.0f}, p95 {pct(0.95):.0f}, p99 {pct(0.99):.0f}, "
        f"max {latencies[-1] * 1000:.0f}, mean {statistics.mean(latencies) * 1000:.0f}"
    )


if __name__ == "__main__":
    main()
