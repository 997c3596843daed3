"""Django's PostgreSQL backend with a connection health check that costs no round trip.

Connections are kept between requests (`DATABASE_CONN_MAX_AGE`), so they outlive a PostgreSQL
restart or failover: unchecked, each web thread's next request would fail on its dead connection
with a 500. Django's check (`CONN_HEALTH_CHECKS`, on in the settings) asks `is_usable()` before
the first query of every request, and Django's own answer is a `SELECT 1`: a round trip that a
read by id cannot afford. A connection that PostgreSQL has closed has something to read on its
socket (the termination notice, then the end of the stream); an idle healthy one has nothing.
One `select` that does not wait tells them apart; anything unexpected to read (a notification)
falls back to Django's `SELECT 1`.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable or super().is_usable()
