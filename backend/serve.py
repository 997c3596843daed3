"""The web process: granian serving `backend.wsgi`, for `make run`, the image, compose, the
end-to-end tests and the benchmarks alike: `python -m backend.serve [--host H] [--port P]`.

granian parses HTTP and keeps connections alive in Rust and runs the WSGI application on a few
Python threads per worker process. Side by side on the 2-core benchmark machine it served 1.4x
the reads by id per second of gunicorn's threaded workers, with the same application
(bench/RESULTS.md, "web server"). Workers are separate processes (about one per core,
`WEB_WORKERS`); each runs `WEB_THREADS` requests at once, so that while one waits on PostgreSQL
or builds a large Bundle another answers: with one thread, reads beside two `$everything` clients
waited behind them at p50 40-44 ms in half the runs (bench/RESULTS.md, "Threads per worker").
A worker that dies is started again, on the same listening socket: each worker has its own,
and new connections are dealt to them in turn (`backend.listeners`).
"""

import argparse
import multiprocessing
import os
import socket
from typing import Any

from granian._granian import SocketHolder
from granian.constants import HTTPModes, Interfaces
from granian.log import logger
from granian.server.mp import MPServer

from backend.env import env_int
from backend.listeners import deal_in_turn, open_listeners

# granian's stub for it omits the arguments: (file descriptor, is a Unix socket, backlog).
_SocketHolder: Any = SocketHolder


class Server(MPServer):
    """granian's process-based server (2.8, pinned) with one listening socket per worker from
    `backend.listeners`.

    granian itself has every worker on Linux open its own socket on the port, and the kernel
    then spreads connections by hash. Here the main process opens them before the workers
    start and hands worker i socket i. Workers inherit them by fork, Linux's default start method
    before Python 3.14; with another, granian's own sockets are used."""

    _listeners: tuple[socket.socket, ...] = ()

    def _init_shared_socket(self) -> None:
        if multiprocessing.get_start_method() != "fork":
            super()._init_shared_socket()
            return
        listeners = open_listeners(self.bind_addr, self.bind_port, self.workers, self.backlog)
        self._listeners = tuple(listeners)
        if len(listeners) > 1:
            try:
                deal_in_turn(listeners)
                logger.info(f"New connections dealt to the {len(listeners)} workers in turn")
            except OSError as error:
                logger.info(f"New connections spread by the kernel's hash (BPF refused: {error})")
        self._ssp = self._shd = self._sso = None

    # granian's abstract method also names a socket_loader that MPServer's does not take.
    def _spawn_worker(self, idx: int, target: Any, callback_loader: Any) -> Any:  # type: ignore[override]
        # granian hands every worker (listener spec, socket holder); with no spec, the worker
        # serves the holder's file descriptor.
        if self._listeners:
            self._shd = _SocketHolder(self._listeners[idx].fileno(), False, self.backlog)
        return super()._spawn_worker(idx, target, callback_loader)

    def _drop_shared_socket(self) -> None:
        super()._drop_shared_socket()
        for listener in self._listeners:
            listener.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m backend.serve", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=env_int("PORT", 8000, minimum=1))
    parser.add_argument("--workers", type=int, default=env_int("WEB_WORKERS", 2, minimum=1))
    parser.add_argument("--threads", type=int, default=env_int("WEB_THREADS", 2, minimum=1))
    args = parser.parse_args(argv)
    Server(
        "backend.wsgi:application",
        address=args.host,
        port=args.port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=args.workers,
        blocking_threads=args.threads,
        respawn_failed_workers=True,
        workers_kill_timeout=10,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
