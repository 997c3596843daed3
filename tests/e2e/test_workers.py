"""The real server's worker processes and their listening sockets (backend/serve.py,
backend/listeners.py): which worker holds each kept-alive connection, read from /proc."""

import http.client
import os
import signal
import time
from pathlib import Path

from tests.e2e.live import Server
from tests.test_listeners import _may_load_bpf


def _workers(server: Server) -> list[int]:
    assert server.process is not None
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return sorted(int(pid) for pid in children.read_text().split())


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _tcp_sockets(local_port: int) -> list[tuple[int, int, int]]:
    """(remote port, state, inode) of every IPv4 TCP socket bound to `local_port`."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if int(local.split(":")[1], 16) == local_port:
            found.append((int(remote.split(":")[1], 16), int(state, 16), int(inode)))
    return found


def _holders(server: Server, connections: list[http.client.HTTPConnection]) -> dict[int, int]:
    """How many of `connections` each worker holds."""
    client_ports = {connection.sock.getsockname()[1] for connection in connections}
    inodes = {inode for remote, _, inode in _tcp_sockets(server.port) if remote in client_ports}
    return {pid: len(inodes & _socket_inodes(pid)) for pid in _workers(server)}


def _listening(server: Server, pid: int) -> set[int]:
    listen_state = 0x0A
    inodes = {inode for _, state, inode in _tcp_sockets(server.port) if state == listen_state}
    return inodes & _socket_inodes(pid)


def _open(server: Server, count: int) -> list[http.client.HTTPConnection]:
    """`count` kept-alive connections, each having had one answer."""
    connections = []
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/fhir/metadata")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        connections.append(connection)
    return connections


def test_kept_alive_connections_are_dealt_evenly_to_the_workers(server_pool):
    server = server_pool.start(workers=2)
    connections = _open(server, 16)
    try:
        held = _holders(server, connections)
    finally:
        for connection in connections:
            connection.close()

    assert sum(held.values()) == 16
    if _may_load_bpf():
        assert sorted(held.values()) == [8, 8]
        assert "dealt to the 2 workers in turn" in server.log_tail(200)
    else:
        assert "spread by the kernel's hash" in server.log_tail(200)


def test_a_worker_started_again_serves_the_same_sockets_and_connections_made_meanwhile(
    server_pool,
):
    server = server_pool.start(workers=2)
    first, second = _workers(server)
    sockets = _listening(server, first)  # each worker inherits every socket of the group

    os.kill(first, signal.SIGKILL)
    # Connections made while it is gone wait on its socket for the next worker.
    connections = _open(server, 6)
    for connection in connections:
        connection.close()

    deadline = time.monotonic() + 30
    while (workers := _workers(server)) == [second] or first in workers:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.05)
    (replacement,) = set(workers) - {second}
    assert _listening(server, replacement) == sockets
