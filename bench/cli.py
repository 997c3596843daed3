"""`bench/run`: start our server and the peer, load the same data into both, measure, report.

Workloads run interleaved (ours, peer, ours, peer, ...) so a noisy neighbour on this shared
machine hurts both alike, and each figure is the median of `--runs` repetitions. Each workload
can run alone (`--workloads read`), on data kept from a previous run (`--keep-data`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import ours, peer
from bench.generate import WORK_DIR, Manifest, read_bundles, write
from bench.ingest import ingest
from bench.memory import RssProbe
from bench.procs import Server, responsive
from bench.report import render
from bench.workloads import (
    WRK_WORKLOADS,
    Outcome,
    Targets,
    ingest_bundles,
    run_ingest_workload,
    run_wrk_workload,
    targets_from_load,
)

ALL_WORKLOADS = (
    "read",
    "search-vitals",
    "search-code",
    "search-code-weight",
    "everything",
    "ingest",
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--servers", default="ours,peer", help="comma list: ours, peer")
    parser.add_argument(
        "--workloads",
        default=",".join(ALL_WORKLOADS),
        help=f"comma list of {', '.join(ALL_WORKLOADS)}",
    )
    parser.add_argument("--runs", type=int, default=3, help="repetitions; the median is reported")
    parser.add_argument("--seconds", type=int, default=20, help="wrk duration per run")
    parser.add_argument("--warmup", type=int, default=5, help="discarded wrk warm-up seconds")
    parser.add_argument("--keep-data", action="store_true", help="reuse the loaded databases")
    parser.add_argument("--load-clients", type=int, default=4)
    parser.add_argument("--ingest-patients", type=int, default=50)
    parser.add_argument(
        "--ingest-warmup", type=int, default=10, help="patients posted untimed before ingest runs"
    )
    parser.add_argument(
        "--workers", type=int, default=ours.DEFAULT_WORKERS, help="our server's worker processes"
    )
    parser.add_argument(
        "--threads", type=int, default=ours.DEFAULT_THREADS, help="our server's threads per worker"
    )
    parser.add_argument("--port", type=int, default=8000, help="our server's port")
    parser.add_argument("--peer-workers", type=int, default=2, help="the peer's uvicorn workers")
    parser.add_argument("--report", type=Path, default=None, help="Markdown output file")
    return parser.parse_args(argv)


def dataset(args: argparse.Namespace) -> tuple[Path, Manifest]:
    """The generated data set for these arguments, generated on first use."""
    folder = WORK_DIR / f"p{args.patients}-s{args.seed}"
    if not (folder / "manifest.json").exists():
        print(f"generating {args.patients} patients into {folder} ...", flush=True)
        write(out=folder, patients=args.patients, seed=args.seed)
    return folder, Manifest(**json.loads((folder / "manifest.json").read_text()))


def start(name: str, args: argparse.Namespace, *, folder: Path, fresh: bool) -> Server:
    """Start one server on a store of its own for this data set (database or SQLite file)."""
    if name == "ours":
        return ours.start(
            port=args.port,
            workers=args.workers,
            threads=args.threads,
            fresh=fresh,
            database=f"bench_{folder.name.replace('-', '_')}",
        )
    return peer.start(port=8090, fresh=fresh, workers=args.peer_workers, data_name=folder.name)


def targets_file(folder: Path, name: str) -> Path:
    return folder / f"{'ours' if name == 'ours' else 'sekmet-fhir'}-targets.json"


def load(
    server: Server, folder: Path, manifest: Manifest, args: argparse.Namespace
) -> list[Outcome]:
    """Bulk-load the data set while probing memory; save the ids the server assigned."""
    print(f"loading {manifest.resources:,} resources into {server.name} ...", flush=True)
    with RssProbe(server) as probe:
        result = ingest(
            base_url=server.base_url,
            bundles=read_bundles(folder / "bundles.ndjson.gz"),
            headers=server.headers(),
            clients=args.load_clients,
        )
    print(
        f"  {result.resources:,} resources, {result.per_second:,.0f}/s, "
        f"{result.failures} bundles failed {result.first_errors[:1]}",
        flush=True,
    )
    shared = manifest.bundles - manifest.patients
    targets = targets_from_load(
        result.locations, shared=shared, heavy=manifest.heavy_patients, seed=args.seed
    )
    targets.save(folder / f"{server.name}-targets.json")
    loaded = {
        "resources_per_s": result.per_second,
        "resources": float(result.resources),
        "seconds": result.seconds,
        "failed_bundles": float(result.failures),
    }
    return [
        Outcome("load", server.name, runs=[loaded]),
        Outcome("memory", server.name, runs=[asdict(probe.summary())]),
    ]


def measure(
    servers: list[Server], targets: dict[str, Targets], folder: Path, args: argparse.Namespace
) -> list[Outcome]:
    """Every selected workload, runs interleaved across servers."""
    outcomes: list[Outcome] = []
    for workload in [w for w in args.workloads.split(",") if w]:
        found = {s.name: Outcome(workload, s.name) for s in servers}
        outcomes.extend(found.values())
        if workload == "ingest" and args.ingest_warmup:
            warm_up_ingest(servers, args)
        for run in range(args.runs):
            bundles = (
                ingest_bundles(patients=args.ingest_patients, seed=10_000 + run)
                if workload == "ingest"
                else []
            )
            for index, server in enumerate(servers):
                once(server, found[server.name], targets[server.name], folder, bundles, args)
                print(
                    f"  {workload} run {run + 1} {server.name}: "
                    f"{found[server.name].runs[-1:] or found[server.name].unavailable}",
                    flush=True,
                )
                servers[index] = settle(server, args, folder=folder)
    return outcomes


def warm_up_ingest(servers: list[Server], args: argparse.Namespace) -> None:
    """Post a few fresh patients to each server, not timed: as wrk's warm-up does for reads, so
    that a freshly started server's first run does not carry its one-off warm-up (model
    classes, validation caches) into the figures."""
    bundles = ingest_bundles(patients=args.ingest_warmup, seed=9_000)
    for server in servers:
        run_ingest_workload(server, bundles, clients=args.load_clients)
        print(f"  ingest warm-up on {server.name}: {args.ingest_warmup} patients", flush=True)


def refresh_statistics(server: Server) -> None:
    """Planner statistics for the loaded data, on both servers' stores alike."""
    print(f"refreshing planner statistics of {server.name} ...", flush=True)
    if "database" in server.notes:
        ours.refresh_statistics(server.notes["database"])
    if "sqlite" in server.notes:
        peer.refresh_statistics(server.notes["sqlite"])


def settle(server: Server, args: argparse.Namespace, *, folder: Path) -> Server:
    """The server, once idle again; restarted on its kept data if it is still busy.

    A server that queues slow requests (the peer's searches at this size take seconds) would
    otherwise still be working through them during the next workload.
    """
    if responsive(server, within=30.0):
        return server
    print(f"  {server.name} still busy after the workload: restarting it on its data", flush=True)
    server.stop()
    name = "ours" if server.name == "ours" else "peer"
    return start(name, args, folder=folder, fresh=False)


def once(
    server: Server,
    outcome: Outcome,
    targets: Targets,
    folder: Path,
    bundles: list[bytes],
    args: argparse.Namespace,
) -> None:
    """One run of one workload on one server, recorded into `outcome`."""
    if outcome.unavailable:
        return
    if outcome.workload == "ingest":
        outcome.runs.append(run_ingest_workload(server, bundles, clients=args.load_clients))
        return
    if outcome.workload not in WRK_WORKLOADS:
        raise SystemExit(f"unknown workload {outcome.workload}")
    figures, check = run_wrk_workload(
        server,
        outcome.workload,
        targets=targets,
        work=folder,
        seconds=args.seconds,
        warmup=args.warmup,
    )
    outcome.check = check
    if figures is None:
        outcome.unavailable = check
    else:
        outcome.runs.append(figures)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # A plain SIGTERM must still stop the servers in the `finally` below, not orphan them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    folder, manifest = dataset(args)
    names = [n for n in args.servers.split(",") if n]
    servers, outcomes, notes = [], [], []
    try:
        for name in names:
            # --keep-data reuses a store only if a load into it finished (its targets exist).
            fresh = not (args.keep_data and targets_file(folder, name).exists())
            try:
                servers.append(start(name, args, folder=folder, fresh=fresh))
            except RuntimeError as error:
                notes.append(f"{name} did not start: {str(error)[-300:]}")
                print(notes[-1], flush=True)
                continue
            if fresh:
                outcomes += load(servers[-1], folder, manifest, args)
        for server in servers:
            refresh_statistics(server)
        targets = {s.name: Targets.load(folder / f"{s.name}-targets.json") for s in servers}
        outcomes += measure(servers, targets, folder, args)
    finally:
        for server in servers:
            server.stop()
    finish(outcomes, names, args, manifest, notes)


def finish(
    outcomes: list[Outcome],
    names: list[str],
    args: argparse.Namespace,
    manifest: Manifest,
    notes: list[str],
) -> None:
    """Write the Markdown report and the raw figures; print the report."""
    command = "bench/run " + shlex.join(sys.argv[1:])
    notes = [
        *notes,
        f"ours: granian, {args.workers} workers x {args.threads} threads, DEBUG=0, "
        f"PostgreSQL; peer: sekmet-fhir {peer.PEER_PACKAGE.split('==')[1]}, uvicorn, "
        f"{args.peer_workers} workers, SQLite, strict validation",
        f"medians of {args.runs} runs; wrk {args.seconds}s after {args.warmup}s warm-up, "
        f"2 threads, 16 connections; ingest: {args.ingest_patients} fresh patients per run "
        f"after {args.ingest_warmup} untimed, {args.load_clients} clients",
    ]
    dataset_text = (
        f"{manifest.patients:,} patients, {manifest.resources:,} resources (seed {manifest.seed})"
    )
    text = render(
        outcomes=outcomes,
        servers=["ours" if n == "ours" else "sekmet-fhir" for n in names],
        command=command,
        dataset=dataset_text,
        notes=notes,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    report = args.report or WORK_DIR / f"report-{stamp}.md"
    report.write_text(text)
    (WORK_DIR / f"raw-{stamp}.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    print(text)
    print(f"report written to {report}")


if __name__ == "__main__":
    main()
