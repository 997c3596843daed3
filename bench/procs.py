"""Server processes the benchmark starts: spawn, wait until they answer, list workers, stop.

Each server runs in its own process group so stopping it ends its workers too, and nothing
else on this shared machine is touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests


@dataclass
class Server:
    """A running FHIR server under test: its base URL, bearer token, and process."""

    name: str
    base_url: str
    proc: subprocess.Popen[bytes]
    token: str = ""
    notes: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        """Headers every request to this server carries (the bearer token when there is one)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def process_ids(self) -> list[int]:
        """The server's web processes: the master and its direct children (the workers)."""
        return [self.proc.pid, *children_of(self.proc.pid)]

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL if it lingers."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def spawn(
    argv: list[str], *, env: dict[str, str], cwd: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session (own process group) with stdout/stderr to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_up(server: Server, *, path: str, timeout: float = 60.0) -> None:
    """Poll `base_url + path` until it answers below 500; fail if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode} at start-up")
        try:
            if requests.get(server.base_url + path, headers=server.headers(), timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer {path} within {timeout:.0f}s")


def responsive(server: Server, *, within: float) -> bool:
    """True once `metadata` answers in under a second, trying for up to `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if requests.get(server.base_url + "/metadata", timeout=1).ok:
                return True
        except requests.RequestException:
            time.sleep(0.5)
    return False


def children_of(pid: int) -> list[int]:
    """Direct children of `pid`, read from /proc (the web server's worker processes)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids.extend(int(p) for p in task.read_text().split())
        except OSError:
            continue
    return kids


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0
