"""The web workers' listening sockets: one per worker on the same port (SO_REUSEPORT), made by
the main process, with new connections dealt to the workers in turn.

Left to itself, Linux picks one of the sockets for each new connection by a hash of its
addresses, so sixteen connections from one client (a load balancer's pool, a load generator)
fall 5/11 or 12/4 as often as 8/8. Kept-alive connections stay where they fell, and the worker
holding more of them sets the tail of every request's latency (bench/RESULTS.md, "Ninth
session"). A BPF program of a dozen instructions, attached to the group, counts connections and
returns the index of the next socket. Loading it needs CAP_BPF (root, or a container granted the
capability); where the kernel refuses, the sockets keep the kernel's hash.

The main process keeps every socket open, so their order in the group (the index the program
returns) never changes. A worker that dies is started again on the same socket, and connections
waiting there are answered by the new worker instead of being reset.
"""

import ctypes
import os
import platform
import socket
import struct

# bpf(2) has no wrapper in the C library: its system call number, by architecture.
_BPF_SYSCALLS = {"x86_64": 321, "aarch64": 280}
_BPF_MAP_CREATE = 0
_BPF_PROG_LOAD = 5
_BPF_MAP_TYPE_ARRAY = 2
_BPF_PROG_TYPE_SOCKET_FILTER = 1
_BPF_ATTRIBUTES_SIZE = 128  # larger than any union bpf_attr member used here; the rest is zero
_SO_ATTACH_REUSEPORT_EBPF = 52


def open_listeners(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """`count` listening sockets on host:port in one SO_REUSEPORT group, inheritable by the
    worker processes. The kernel spreads connections between them by hash until
    `deal_in_turn` is called."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listeners = []
    try:
        for _ in range(count):
            listener = socket.socket(family, kind, proto)
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind(address)
            address = listener.getsockname()  # port 0: the others join the port it was given
            listener.listen(backlog)
            listener.set_inheritable(True)
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def deal_in_turn(listeners: list[socket.socket]) -> None:
    """Have the kernel deal new connections to `listeners` (one SO_REUSEPORT group, in the order
    they were opened) in turn. OSError where it refuses (EPERM without CAP_BPF): the group then
    keeps its hash."""
    program = _load_round_robin(len(listeners))
    try:
        listeners[0].setsockopt(socket.SOL_SOCKET, _SO_ATTACH_REUSEPORT_EBPF, program)
    finally:
        os.close(program)  # the group holds its own reference


def _load_round_robin(count: int) -> int:
    """A socket filter program returning 0, 1, ..., count - 1, 0, ... for successive
    connections, from a counter in a one-element array map. Its file descriptor."""
    counter = _bpf(_BPF_MAP_CREATE, struct.pack("<IIII", _BPF_MAP_TYPE_ARRAY, 4, 8, 1))
    try:
        code = _round_robin_code(counter, count)
        instructions = ctypes.create_string_buffer(code, len(code))
        license_ = ctypes.create_string_buffer(b"GPL")
        return _bpf(
            _BPF_PROG_LOAD,
            struct.pack(
                "<IIQQ",
                _BPF_PROG_TYPE_SOCKET_FILTER,
                len(code) // 8,
                ctypes.addressof(instructions),
                ctypes.addressof(license_),
            ),
        )
    finally:
        os.close(counter)  # the program holds its own reference


def _round_robin_code(counter: int, count: int) -> bytes:
    """eBPF: look up the counter, add one to it atomically, return its old value mod count."""
    return b"".join(
        (
            _instruction(0x62, dst=10, offset=-4),  # *(u32 *)(r10 - 4) = 0: the key
            _instruction(0xBF, dst=2, src=10),  # r2 = r10
            _instruction(0x07, dst=2, immediate=-4),  # r2 -= 4: &key
            _instruction(0x18, dst=1, src=1, immediate=counter),  # r1 = the map ...
            _instruction(0),  # ... (a 16-byte instruction)
            _instruction(0x85, immediate=1),  # r0 = bpf_map_lookup_elem(r1, r2)
            _instruction(0x15, dst=0, offset=5),  # if r0 == NULL: goto fallback
            _instruction(0xB7, dst=1, immediate=1),  # r1 = 1
            _instruction(0xDB, dst=0, src=1, immediate=0x01),  # r1 = fetch_add(*(u64 *)r0, r1)
            _instruction(0xBF, dst=0, src=1),  # r0 = r1
            _instruction(0x97, dst=0, immediate=count),  # r0 %= count
            _instruction(0x95),  # return r0
            _instruction(0xB7, dst=0, immediate=0),  # fallback: r0 = 0
            _instruction(0x95),  # return r0
        )
    )


def _instruction(
    code: int, dst: int = 0, src: int = 0, offset: int = 0, immediate: int = 0
) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, offset, immediate)


def _bpf(command: int, attributes: bytes) -> int:
    """bpf(2); the new file descriptor, or OSError (EPERM without CAP_BPF)."""
    number = _BPF_SYSCALLS.get(platform.machine())
    if number is None:
        raise OSError(f"no bpf system call known for {platform.machine()}")
    buffer = ctypes.create_string_buffer(attributes, _BPF_ATTRIBUTES_SIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(
        ctypes.c_long(number), ctypes.c_long(command), buffer, ctypes.c_long(_BPF_ATTRIBUTES_SIZE)
    )
    if fd < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return int(fd)
