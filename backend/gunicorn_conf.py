"""gunicorn settings of the web process, one place for `make run`, the image, compose, the
end-to-end tests and the benchmarks: `gunicorn -c backend/gunicorn_conf.py backend.wsgi`.

Threaded workers with keep-alive: a client's connection serves many requests, and while one
thread waits on PostgreSQL another serves. Side by side on the 2-core benchmark machine, 2 workers
of 4 threads served 1.5-4x the reads per second of 5 single-threaded workers (bench/RESULTS.md).
"""

import os

workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
keepalive = 5
timeout = 120
graceful_timeout = 10
