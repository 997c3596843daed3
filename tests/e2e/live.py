"""The real server for end-to-end tests: granian (backend/serve.py) on a database of its own,
run as in production.

A test session migrates one template database and issues a system token into it with the
operator commands (`manage.py migrate`, `manage.py issue_token`); every server then gets a fresh
copy (an SQLite backup, or `CREATE DATABASE ... TEMPLATE` on PostgreSQL), so it starts on an
empty store in about a second. The test process never touches these databases through Django:
it talks HTTP to the server and plain SQL (sqlite3, psycopg) to the database.
"""

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests
from psycopg import sql

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = "e2e-secret-key-not-for-production"
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Database:
    """One database a server runs on, reachable with plain SQL for checks."""

    url: str

    @property
    def vendor(self) -> str:
        return "postgresql" if self.url.startswith(("postgres://", "postgresql://")) else "sqlite"

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A DB-API connection of the test process (never shared with the server)."""
        if self.vendor == "sqlite":
            connection: Any = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)
        else:
            connection = psycopg.connect(self.url, autocommit=True)
        try:
            yield connection
        finally:
            connection.close()

    def counts(self, tables: list[str]) -> dict[str, int]:
        """Row count of each table, read in one connection."""
        with self.connect() as connection:
            cursor = connection.cursor()
            result = {}
            for table in tables:
                cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # names come from model metadata
                result[table] = cursor.fetchone()[0]
            return result


def _server_env(database_url: str, base_url: str) -> dict[str, str]:
    # The test process runs with backend.settings_test (DEBUG=1); the server must not inherit it.
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        DJANGO_SETTINGS_MODULE="backend.settings",
        DEBUG="0",
        SECRET_KEY=SECRET_KEY,
        DATABASE_URL=database_url,
        FHIR_BASE_URL=base_url,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(*args: str, database_url: str) -> str:
    """Run a management command as an operator would; return what it printed."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=_server_env(database_url, "http://127.0.0.1/fhir"),
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


class Databases:
    """Fresh databases cloned from one migrated template; all dropped by `close()`."""

    def __init__(self, *, directory: Path, postgres_url: str | None) -> None:
        self.directory = directory
        self.postgres_url = postgres_url
        self.prefix = f"e2e_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []
        self.template = self._new_url("template")
        try:
            self.token = self._prepare_template()
        except BaseException:
            self.close()
            raise

    def _prepare_template(self) -> str:
        """Migrate the template and issue the e2e token into it; return the token."""
        self._create_empty(self.template)
        manage("migrate", "--noinput", database_url=self.template)
        return manage(
            "issue_token",
            "--client",
            "e2e",
            "--scope",
            "system/*.*",
            "--hours",
            "4",
            database_url=self.template,
        )

    def _new_url(self, suffix: str) -> str:
        if self.postgres_url is None:
            return f"sqlite:///{self.directory / f'{self.prefix}_{suffix}.sqlite3'}"
        name = f"{self.prefix}_{suffix}"
        self.created.append(name)
        return urlunsplit(urlsplit(self.postgres_url)._replace(path=f"/{name}"))

    def _admin(self, statement: LiteralString, *names: str) -> None:
        """Run `statement` on the maintenance database, with `names` quoted into its {} slots."""
        assert self.postgres_url is not None
        admin = urlunsplit(urlsplit(self.postgres_url)._replace(path="/postgres"))
        query = sql.SQL(statement).format(*(sql.Identifier(name) for name in names))
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(query)

    def _create_empty(self, url: str) -> None:
        if self.postgres_url is not None:
            self._admin("CREATE DATABASE {}", urlsplit(url).path[1:])

    def fresh(self) -> Database:
        """A new database holding the migrated schema and the e2e token, and nothing else."""
        url = self._new_url(uuid.uuid4().hex[:8])
        if self.postgres_url is None:
            with Database(self.template).connect() as source, Database(url).connect() as target:
                source.backup(target)
        else:
            self._clone_postgres(urlsplit(url).path[1:])
        return Database(url)

    def _clone_postgres(self, name: str) -> None:
        template = urlsplit(self.template).path[1:]
        for attempt in range(50):
            try:
                self._admin("CREATE DATABASE {} TEMPLATE {}", name, template)
                return
            except psycopg.errors.ObjectInUse:
                # migrate's backend may still be closing; the template must have no sessions.
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def close(self) -> None:
        for name in reversed(self.created):
            self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A granian main process and its workers, in a process group that dies together."""

    database: Database
    token: str
    workers: int
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> None:
        """Start the server and return once /fhir/metadata answers 200."""
        command = [
            sys.executable,
            "-m",
            "backend.serve",  # as in production: granian, worker processes, keep-alive
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=_server_env(self.database.url, self.base_url),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base_url}/metadata", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the server was not ready in {READY_TIMEOUT_S} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL master and workers at once: no graceful shutdown, no atexit, no rollback."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop at the end of a session: a test server has nothing to drain, so no grace period."""
        if self.process is not None:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")


class ServerPool:
    """Starts servers for a test session and stops them all at the end."""

    def __init__(self, *, databases: Databases, log_dir: Path) -> None:
        self.databases = databases
        self.log_dir = log_dir
        self.servers: list[Server] = []

    def start(self, *, workers: int = 2, database: Database | None = None) -> Server:
        """A running server on `database`, or on a fresh one."""
        server = Server(
            database=database or self.databases.fresh(),
            token=self.databases.token,
            workers=workers,
            log_path=self.log_dir / f"server-{len(self.servers)}.log",
        )
        self.servers.append(server)
        server.start()
        return server

    def log_marks(self) -> list[int]:
        return [server.log_size() for server in self.servers]

    def errors_since(self, marks: list[int]) -> str:
        """Unhandled errors (tracebacks) the servers logged after `marks` were taken."""
        found = []
        for index, server in enumerate(self.servers):
            text = server.log_since(marks[index] if index < len(marks) else 0)
            if "Traceback" in text or "Internal Server Error" in text:
                found.append(f"--- {server.log_path.name}\n{text[-4000:]}")
        return "\n".join(found)

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
