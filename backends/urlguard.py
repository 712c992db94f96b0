"""Which image URLs we fetch: https only off the API's origin, and only from public addresses.

The address check happens where the connection is opened, on the address actually dialled
(after DNS, for every redirect hop), so a name that resolves to 127.0.0.1 or 169.254.169.254,
or changes its answer between a check and the connect, is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore

from backends.errors import RefusedUrl


@dataclass(frozen=True)
class UrlPolicy:
    """What off-origin image URLs may be.

    ``allowed_addresses`` is for tests only (loopback fakes); it is never read from the
    environment, so a deployment cannot open it by accident.
    """

    require_https: bool = True
    allowed_addresses: frozenset[str] = frozenset()

    def check_url(self, url: str, base_url: str) -> bool:
        """True if ``url`` is on the API's own origin (trusted as configured); raise if refused."""
        target, base = urlsplit(url), urlsplit(base_url)
        if (target.scheme, target.netloc) == (base.scheme, base.netloc) and target.scheme in ("http", "https"):
            return True
        origin = f"{target.scheme}://{target.hostname or ''}"
        if not target.hostname or target.scheme not in ("http", "https"):
            raise RefusedUrl(f"refused to fetch the image from {origin[:80]} (not an http(s) URL)")
        if self.require_https and target.scheme != "https":
            raise RefusedUrl(f"refused to fetch the image from {origin[:80]} (not https)")
        return False

    def check_address(self, host: str, address: str) -> None:
        """Raise unless ``address`` (what ``host`` resolved to) is a public unicast address."""
        if address in self.allowed_addresses:
            return
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            kind = next(
                (
                    name
                    for name, flag in (
                        ("loopback", ip.is_loopback),
                        ("unspecified", ip.is_unspecified),
                        ("link-local", ip.is_link_local),
                        ("private", ip.is_private),
                        ("multicast", ip.is_multicast),
                    )
                    if flag
                ),
                "non-public",
            )
            raise RefusedUrl(f"refused to fetch the image from {host[:80]}: it resolves to a {kind} address ({ip})")


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy allows, dialling the checked address itself."""

    def __init__(self, policy: UrlPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(info[4][0] for info in infos))

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.resolve(host, port)
        except OSError as err:
            raise httpcore.ConnectError(f"cannot resolve {host}: {err}") from err
        for address in addresses:  # every answer must be allowed: no mixing a public and a private one
            self.policy.check_address(host, address)
        # TLS still verifies the certificate for ``host`` (httpcore passes the URL's host as SNI).
        return await self.inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, *args, **kwargs) -> httpcore.AsyncNetworkStream:
        raise RefusedUrl("refused: unix sockets are not image URLs")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
