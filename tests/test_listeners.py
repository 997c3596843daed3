"""The web workers' listening sockets (backend/listeners.py): real sockets on a real port, and
the kernel's own choice of socket for each connection."""

import json
import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from backend.listeners import deal_in_turn, open_listeners

REPO = Path(__file__).resolve().parents[1]
CAP_SYS_ADMIN, CAP_BPF = 21, 39


def _may_load_bpf() -> bool:
    """Whether this process holds CAP_BPF or CAP_SYS_ADMIN, which loading the program needs."""
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    effective = int(line.split()[1], 16)
    return bool(effective & (1 << CAP_BPF | 1 << CAP_SYS_ADMIN))


def _connections_per_listener(listeners: list[socket.socket], clients: int) -> list[int]:
    """Connect `clients` times to the group's port; how many each listener then accepts."""
    port = listeners[0].getsockname()[1]
    connections = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(clients)]
    counts = [0] * len(listeners)
    try:
        for index, listener in enumerate(listeners):
            listener.setblocking(False)
            while select.select([listener], [], [], 0.2)[0]:
                accepted, _ = listener.accept()
                accepted.close()
                counts[index] += 1
    finally:
        for connection in connections:
            connection.close()
    return counts


@pytest.fixture
def listeners():
    opened = open_listeners("127.0.0.1", 0, 2, 128)
    yield opened
    for listener in opened:
        listener.close()


def test_the_listeners_share_one_port_and_the_workers_may_inherit_them(listeners):
    ports = {listener.getsockname()[1] for listener in listeners}

    assert len(ports) == 1
    assert ports != {0}
    assert all(listener.get_inheritable() for listener in listeners)
    assert sum(_connections_per_listener(listeners, 16)) == 16


def test_connections_are_dealt_in_turn_where_the_kernel_allows_it(listeners):
    if _may_load_bpf():
        deal_in_turn(listeners)

        rounds = [_connections_per_listener(listeners, 16) for _ in range(3)]

        assert rounds == [[8, 8]] * 3  # the kernel's hash: one chance in 130
        assert _connections_per_listener(listeners, 5) == [3, 2]  # the count goes on
    else:
        with pytest.raises(PermissionError):
            deal_in_turn(listeners)
        assert sum(_connections_per_listener(listeners, 16)) == 16


_UNPRIVILEGED = """
import json, select, socket
from backend.listeners import deal_in_turn, open_listeners
listeners = open_listeners("127.0.0.1", 0, 2, 128)
try:
    deal_in_turn(listeners)
    refused = None
except OSError as error:
    refused = type(error).__name__
port = listeners[0].getsockname()[1]
clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
accepted = 0
for listener in listeners:
    while select.select([listener], [], [], 0.2)[0]:
        listener.accept()[0].close()
        accepted += 1
print(json.dumps({"refused": refused, "accepted": accepted}))
"""


def test_without_the_capability_the_kernel_hash_still_serves_every_connection():
    """As a container without CAP_BPF runs it: every capability dropped before the start."""
    command = [sys.executable, "-c", _UNPRIVILEGED]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", *command]

    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )

    assert json.loads(result.stdout) == {"refused": "PermissionError", "accepted": 16}
