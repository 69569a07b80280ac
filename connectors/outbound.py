"""The outbound guard: which hosts the hub's HTTP calls may reach.

Merchants configure the URLs the hub calls with their credentials (API and OAuth base
URLs, supplier endpoints, callbacks), so a URL must not lead inside the hub's own
network. A call is refused when its scheme is not http(s), or when its host is, or
resolves to, a loopback, private, link-local (169.254.169.254), multicast, reserved,
unspecified or otherwise non-public address, unless that host or address is on the
allow-list (``HUB_OUTBOUND_ALLOW``, installed by the hub with ``configure``; the
embedded mode allows its own sandboxes on loopback).

One rule, checked three times:
  * ``url_problem(url)``: when a URL is configured (``Connector.validate_config`` checks
    every ``fields.Url`` of a config schema) and before every call: the scheme, and a
    host that is an address literal or ``localhost``;
  * ``GuardedAdapter`` (mounted on every ``HttpAdapter`` session), at connect time: the
    host is resolved once, every address is checked, and the socket connects to those
    checked addresses only, so a name that resolves differently later (DNS rebinding)
    gains nothing;
  * redirects are never followed (``connectors.http``).
Through a proxy (``HTTPS_PROXY``) only the first check applies: the proxy resolves.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Iterable
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

SCHEMES = ("http", "https")

_allow: tuple[str, ...] = ()
_allow_networks: tuple = ()
_allow_hosts: frozenset[str] = frozenset()


class OutboundRefused(Exception):
    """A call the guard refuses; the message names the host and the reason."""


def parse_allow(entries: Iterable[str]) -> tuple[tuple, frozenset[str]]:
    """``(networks, host names)`` of an allow-list; ``ValueError`` names a bad entry."""
    networks, hosts = [], set()
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        name = entry.lower().rstrip(".")
        labels = name.split(".")
        if not all(label and len(label) <= 63 and label.replace("-", "").isalnum()
                   and label.isascii() for label in labels):
            raise ValueError(f"{entry!r} is neither an address, a network (CIDR) nor a "
                             "host name")
        hosts.add(name)
    return tuple(networks), frozenset(hosts)


def configure(entries: Iterable[str]) -> tuple[str, ...]:
    """Install the allow-list for this process; returns the one it replaces."""
    global _allow, _allow_networks, _allow_hosts
    previous = _allow
    entries = tuple(entries)
    _allow_networks, _allow_hosts = parse_allow(entries)
    _allow = entries
    return previous


def allowed() -> tuple[str, ...]:
    return _allow


def address_problem(address) -> str | None:
    """Why an IP address is refused (``"loopback"``, ``"private"``...), or None."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _allow_networks):
        return None
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


def literal_address(host: str):
    """The IP address a host name spells (``127.0.0.1``, ``[::1]``, and the old IPv4
    forms ``127.1``, ``0x7f.0.0.1``, ``2130706433``), or None for a real name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        pass
    if host[:1].isdigit() and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def host_problem(host: str) -> str | None:
    """Why a host is refused without resolving it, or None."""
    name = host.lower().rstrip(".")
    if name in _allow_hosts:
        return None
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host} is a loopback name"
    ip = literal_address(name)
    problem = address_problem(ip) if ip is not None else None
    return f"{host} is a {problem} address" if problem else None


def url_problem(url: str) -> str | None:
    """Why the hub must not call ``url`` (checked without resolving), or None."""
    try:
        parts = urlsplit(url or "")
        host = parts.hostname
    except ValueError:
        return f"{url!r} is not a valid URL"
    if parts.scheme.lower() not in SCHEMES:
        return f"only http and https URLs are allowed, not {parts.scheme or 'a URL without'}:"
    if not host:
        return "the URL has no host"
    problem = host_problem(host)
    return f"{problem}; the hub does not call internal addresses" if problem else None


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, all of them allowed, else ``OutboundRefused``."""
    problem = host_problem(host)
    if problem:
        raise OutboundRefused(f"refused to connect: {problem}")
    answers = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(sockaddr[0] for *_, sockaddr in answers))
    if host.lower().rstrip(".") in _allow_hosts:
        return addresses
    for address in addresses:
        problem = address_problem(address.split("%")[0])
        if problem:
            raise OutboundRefused(f"refused to connect: {host} resolves to {address}, "
                                  f"a {problem} address")
    return addresses


class _Guarded:
    """Connects only to addresses ``checked_addresses`` allowed (urllib3 2 connection)."""

    def _new_conn(self):
        try:
            error = OSError(f"{self.host} resolves to no address")
            for address in checked_addresses(self._dns_host, self.port):
                try:
                    return create_connection((address, self.port), self.timeout,
                                             source_address=self.source_address,
                                             socket_options=self.socket_options)
                except OSError as e:
                    error = e
            raise error
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e
        except TimeoutError as e:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                            f"(connect timeout={self.timeout})") from e
        except OSError as e:
            raise NewConnectionError(self, f"Failed to establish a new connection: {e}") from e


class GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A ``requests`` transport whose direct connections go through the guard."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPConnectionPool,
                                                   "https": GuardedHTTPSConnectionPool}


def guard(session):
    """Mount the guard on a ``requests.Session`` for http and https; returns it."""
    for prefix in ("http://", "https://"):
        session.mount(prefix, GuardedAdapter())
    return session
