"""Where a notification may go, and the one HTTP POST that delivers it.

A Subscription names a URL the server will call, so without care it would let any client make
the server probe its own network (SSRF, OWASP API7). Outside DEBUG an endpoint must be https and
every address its host resolves to must be public: no loopback, private, link-local, shared,
reserved or multicast address, IPv4-mapped IPv6 included. The check runs when the Subscription is
written and again at each delivery, and the delivery connects to the very address it checked
(the Host header and TLS server name stay the host's), so a DNS answer that changes between the
check and the connection (DNS rebinding) cannot redirect it. Redirects are not followed.
"""

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from fhirstore.errors import InvalidResource

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A checked endpoint: the URL's parts and the address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def internal_allowed() -> bool:
    """Loopback and private endpoints (and plain http) are for development only."""
    return bool(settings.DEBUG)


def _refuse(message: str) -> InvalidResource:
    return InvalidResource(message, code="value", expression=("Subscription.channel.endpoint",))


def _public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def _parts(url: str, allow_internal: bool) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise _refuse(f"The endpoint {url!r} is not a valid URL") from None
    schemes = ("https", "http") if allow_internal else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise _refuse(f"The endpoint must be an absolute {' or '.join(schemes)} URL")
    if parts.username or parts.password:
        raise _refuse("The endpoint must not carry credentials; use channel.header")
    return parts


def _resolve(host: str, port: int) -> list[IpAddress]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise _refuse(f"The endpoint host {host!r} does not resolve") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


def endpoint_check(url: str, *, allow_internal: bool | None = None) -> Target:
    """The endpoint as a `Target`; InvalidResource (422) when it may not be called."""
    allow = internal_allowed() if allow_internal is None else allow_internal
    parts = _parts(url, allow)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(parts.hostname, port)
    if not allow:
        refused = [str(a) for a in addresses if not _public(a)]
        if refused or not addresses:
            raise _refuse(
                f"The endpoint host {parts.hostname!r} resolves to an internal address "
                f"({', '.join(refused) or 'none'}); notifications go to public addresses only"
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, str(addresses[0]))


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to `address`, verifying the certificate for the URL's host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST `body` to the checked target; the HTTP status (OSError on a network failure)."""
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)
        return int(response.status)
    except http.client.HTTPException as error:
        raise OSError(f"bad HTTP response: {error}") from error
    finally:
        connection.close()
