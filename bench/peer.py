"""The peer server we measure ourselves against: sekmet-fhir from PyPI, in its own virtualenv.

It is never a project dependency: `install()` creates `bench/.peer/venv` and pip-installs the
pinned version there. `start()` runs it as its own `sekmet serve` would (uvicorn on
`sekmet.main:app_factory`, SQLite, strict structural validation through fhir.resources R4B), with
the settings its authors provide for load runs: no traffic log, no workflow simulator, no auth.
Run alone: `python -m bench.peer install|serve|check`.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.procs import Server, spawn, wait_until_up

PEER_PACKAGE = "sekmet-fhir==0.1.1"
PEER_DIR = Path(__file__).resolve().parent / ".peer"
VENV = PEER_DIR / "venv"
PEER_PYTHON = VENV / "bin" / "python"

SETTINGS_YAML = """\
base_url: http://127.0.0.1:{port}/fhir
host: 127.0.0.1
port: {port}
data_dir: {data_dir}
# The authors' switch for heavy load runs: don't record every request in the traffic table.
log_inbound: false
# The simulator answers Claims, MedicationRequests... with extra writes; it would skew ingest.
simulator:
  enabled: false
validation:
  inbound: strict
server_auth:
  types: [none]
"""


def install() -> Path:
    """Create the peer's virtualenv (once) and return its python."""
    if not PEER_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(PEER_PYTHON), "-c", "import sekmet"], capture_output=True)
    if probe.returncode != 0:
        pip = [str(PEER_PYTHON), "-m", "pip", "install", "--quiet", PEER_PACKAGE]
        subprocess.run(pip, check=True)
    return PEER_PYTHON


def write_settings(*, port: int, fresh: bool, data_name: str) -> Path:
    """Write the peer's settings.yaml; `fresh` wipes its SQLite database first."""
    data_dir = PEER_DIR / f"data-{data_name}"
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = PEER_DIR / f"settings-{port}.yaml"
    path.write_text(SETTINGS_YAML.format(port=port, data_dir=data_dir))
    return path


def start(
    *,
    port: int = 8090,
    fresh: bool = True,
    workers: int = 1,
    data_name: str = "default",
    log_path: Path | None = None,
) -> Server:
    """Start the peer with uvicorn and wait for it.

    `sekmet serve` runs one process; with the same rule as for our server ("what measures
    best"), the benchmark gives it 2 worker processes by default, which more than doubled its
    read throughput here (each worker opens the same SQLite file; writes still serialise).
    """
    install()
    settings = write_settings(port=port, fresh=fresh, data_name=data_name)
    argv = [
        str(PEER_PYTHON),
        "-m",
        "uvicorn",
        "sekmet.main:app_factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # As `sekmet serve`, minus the per-request access log line (ours logs none either).
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(workers),
    ]
    env = {"SEKMET_CONFIG": str(settings)}
    proc = spawn(argv, env=env, cwd=PEER_DIR, log_path=log_path or PEER_DIR / f"peer-{port}.log")
    server = Server(
        name="sekmet-fhir",
        base_url=f"http://127.0.0.1:{port}/fhir",
        proc=proc,
        notes={
            "workers": str(workers),
            "sqlite": str(PEER_DIR / f"data-{data_name}" / "sekmet.db"),
        },
    )
    wait_until_up(server, path="/metadata")
    return server


def refresh_statistics(sqlite_path: str) -> None:
    """SQLite's ANALYZE, the same courtesy our PostgreSQL gets after the bulk load."""
    import sqlite3

    with sqlite3.connect(sqlite_path, timeout=60) as conn:
        conn.execute("ANALYZE")


def check(server: Server) -> list[str]:
    """Prove the peer validates writes and serves reads; return the failures (empty when fine)."""
    import requests

    failures: list[str] = []
    headers = {"Content-Type": "application/fhir+json"}
    bad = requests.post(
        f"{server.base_url}/Patient",
        data=b'{"resourceType":"Patient","bogus":1}',
        headers=headers,
        timeout=10,
    )
    if bad.status_code < 400:
        failures.append(f"invalid Patient accepted with {bad.status_code}")
    good = requests.post(
        f"{server.base_url}/Patient",
        headers=headers,
        timeout=10,
        data=b'{"resourceType":"Patient","birthDate":"1970-01-01"}',
    )
    if good.status_code != 201:
        return [*failures, f"valid Patient refused with {good.status_code}: {good.text[:300]}"]
    back = requests.get(f"{server.base_url}/Patient/{good.json()['id']}", timeout=10)
    if back.status_code != 200 or back.json().get("birthDate") != "1970-01-01":
        failures.append(f"read back failed with {back.status_code}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["install", "serve", "check"])
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    if args.action == "install":
        print(install())
        return
    # A plain SIGTERM (timeout, kill) must still stop the server below, not orphan it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = start(port=args.port, data_name=f"manual-{args.port}")
    try:
        if args.action == "check":
            failures = check(server)
            print("peer OK: validates and serves reads" if not failures else "\n".join(failures))
            sys.exit(1 if failures else 0)
        print(f"peer serving {server.base_url} (Ctrl-C stops it)")
        server.proc.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
