"""Our server as it runs in production: granian, DEBUG off, PostgreSQL, a real bearer token.

`start()` recreates the `bench` database (unless kept), migrates it, mints a `system/*.*`
token with `manage.py issue_token` (a backend-services grant, as an integrator holds), and
starts the web process as `make run` does (`python -m backend.serve`). Nothing in the project
is changed for the benchmark. Run alone: `python -m bench.ours serve` (prints the token; Ctrl-C
stops it).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg

from bench.procs import Server, spawn, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_WORKERS = os.cpu_count() or 1  # as backend/serve.py: one per core, 2 threads each
DEFAULT_THREADS = 2


def environment(*, database: str) -> dict[str, str]:
    """The production-like environment: PostgreSQL, DEBUG off, a secret key, quiet logs."""
    return {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        # One token from one address drives thousands of requests a second: keep the limit
        # checks running (their cost is part of every request) but out of reach.
        "API_RATE_PER_MINUTE_PER_TOKEN": "100000000",
        "API_RATE_PER_MINUTE_PER_ADDRESS": "100000000",
    }


# The server settings docker-compose.yml gives PostgreSQL (README, "Running with PostgreSQL").
SERVER_SETTINGS = {"wal_compression": "lz4"}


def apply_server_settings() -> None:
    """Set `SERVER_SETTINGS` on the local PostgreSQL (ALTER SYSTEM, then a reload), as the
    production compose file does, so that the benchmark measures the same configuration."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name, value in SERVER_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")


def recreate_database(database: str) -> None:
    """Drop and create `database` on the local PostgreSQL (fresh data for each run)."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def manage(*args: str, env: dict[str, str]) -> str:
    """Run `manage.py` with `env` and return its stdout; fail loudly with its stderr."""
    done = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def migrate(env: dict[str, str]) -> None:
    """Migrate; apps whose migrations aren't generated yet get tables straight from the models."""
    manage("migrate", "--noinput", env=env)
    # Until the lead commits migrations, fhirstore has an empty migrations package; build its
    # tables from the models (same schema, same indexes) so the benchmark can still run.
    unmigrated = {**env, "DJANGO_SETTINGS_MODULE": "bench.schema_settings"}
    manage("migrate", "--run-syncdb", "--noinput", env=unmigrated)


def refresh_statistics(database: str) -> None:
    """VACUUM ANALYZE, as autovacuum would after a bulk load (it is off on this machine).

    Without statistics the planner takes the freshly loaded tables for tiny ones and picks
    sequential scans (the compartment lookup of a read took 200 ms instead of 0.1 ms).
    """
    url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def mint_token(env: dict[str, str]) -> str:
    """A fresh bearer token with system/*.* for the bench client (the lead's issue_token)."""
    out = manage(
        "issue_token", "--client", "bench", "--scope", "system/*.*", "--hours", "24", env=env
    )
    return out.strip().splitlines()[-1]


def start(
    *,
    port: int = 8000,
    database: str = "bench",
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    fresh: bool = True,
    log_path: Path | None = None,
) -> Server:
    """Start the server on `port` against `database` (recreated when `fresh`) and wait for it."""
    env = environment(database=database)
    env["FHIR_BASE_URL"] = f"http://127.0.0.1:{port}/fhir"
    apply_server_settings()
    if fresh:
        recreate_database(database)
    migrate(env)  # a kept database gets this code's migrations too
    token = os.environ.get("FHIR_BENCH_TOKEN") or mint_token(env)
    argv = [
        str(PYTHON),
        "-m",
        "backend.serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]
    proc = spawn(
        argv, env=env, cwd=ROOT, log_path=log_path or ROOT / "bench" / ".work" / "ours.log"
    )
    server = Server(
        name="ours",
        base_url=f"http://127.0.0.1:{port}/fhir",
        proc=proc,
        token=token,
        notes={"workers": str(workers), "threads": str(threads), "database": database},
    )
    wait_until_up(server, path="/metadata")
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Run our server as in production for benchmarks.")
    parser.add_argument("action", choices=["serve"])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--keep-data", action="store_true", help="don't recreate the database")
    parser.add_argument("--database", default="bench")
    args = parser.parse_args()
    # A plain SIGTERM (timeout, kill) must still stop the server below, not orphan it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = start(
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        fresh=not args.keep_data,
        database=args.database,
    )
    print(f"serving {server.base_url}\nexport FHIR_BENCH_TOKEN={server.token}", flush=True)
    try:
        server.proc.wait()
    except KeyboardInterrupt:
        sys.exit(0)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
