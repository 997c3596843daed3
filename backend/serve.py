"""The web process: granian serving `backend.wsgi`, for `make run`, the image, compose, the
end-to-end tests and the benchmarks alike: `python -m backend.serve [--host H] [--port P]`.

granian parses HTTP and keeps connections alive in Rust and runs the WSGI application on a few
Python threads per worker process. Side by side on the 2-core benchmark machine it served 1.4x
the reads by id per second of gunicorn's threaded workers, with the same application
(bench/RESULTS.md, "web server"). Workers are separate processes (about one per core,
`WEB_WORKERS`); each runs `WEB_THREADS` requests at once, so that while one waits on PostgreSQL
or builds a large Bundle another answers: with one thread, reads beside two `$everything` clients
waited behind them at p50 40-44 ms in half the runs (bench/RESULTS.md, "Threads per worker").
A worker that dies is started again.
"""

import argparse
import os

from granian import Granian
from granian.constants import HTTPModes, Interfaces

from backend.env import env_int


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m backend.serve", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=env_int("PORT", 8000, minimum=1))
    parser.add_argument("--workers", type=int, default=env_int("WEB_WORKERS", 2, minimum=1))
    parser.add_argument("--threads", type=int, default=env_int("WEB_THREADS", 2, minimum=1))
    args = parser.parse_args(argv)
    Granian(
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
