"""Outbound addresses: a webhook may reach the public internet, never the service's own network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
NAT64 = ipaddress.ip_network("64:ff9b::/96")

# The IANA IPv4 and IPv6 special-purpose address registries (RFC 6890 and successors): none of these
# is a public internet host. Listed here because ``is_global`` differs between Python versions.
NOT_PUBLIC: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(n) for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
        "2001::/23", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
    ))


class RefusedAddressError(Exception):
    """The host is, or resolves to, an address the service must not call."""


class UnresolvableError(Exception):
    """The host name does not resolve (now)."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UnresolvableError(host) from e
    return [str(info[4][0]) for info in infos]


def literal_address(host: str) -> IP | None:
    """The address a host *is*, in any spelling a resolver accepts (``2130706433``, ``0x7f.1``)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:  # inet_aton's forms: decimal, octal and hex integers and short dotted forms
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def embedded_ipv4(ip: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IP) -> bool:
    """In no special-purpose range (loopback, private, link-local, documentation, benchmarking,
    shared, multicast, reserved, mapped, translated, 6to4...), nor carrying an IPv4 address that is."""
    inner = embedded_ipv4(ip)
    if inner is not None and not is_public(inner):
        return False
    if any(ip.version == net.version and ip in net for net in NOT_PUBLIC):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback
                                 or ip.is_link_local or ip.is_unspecified or ip.is_private)


@dataclass(frozen=True)
class Target:
    """Where to connect (a checked address) and what to say to it (the URL's own host)."""

    url: str          # the URL with its host replaced by the checked address
    host_header: str  # host[:port] as the URL names it
    server_name: str  # for TLS: the certificate must name the URL's host
    address: str


@dataclass
class AddressPolicy:
    """Which addresses outbound calls may reach: public ones, and the operator's named hosts."""

    allow_hosts: frozenset[str] = frozenset()
    resolve: Resolver = field(default=system_resolver)

    @classmethod
    def from_setting(cls, hosts: str | Iterable[str]) -> AddressPolicy:
        names = hosts.split(",") if isinstance(hosts, str) else hosts
        return cls(frozenset(n.strip().lower().rstrip(".") for n in names if n.strip()))

    def target(self, url: str) -> Target:
        """Resolve the URL's host and check every address; raise if any may not be called."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if not host or parts.scheme not in ("http", "https"):
            raise RefusedAddressError("not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        literal = literal_address(host)
        found: list[IP] = [literal] if literal is not None else [
            ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolve(host, port)]
        if not found:
            raise UnresolvableError(host)
        allowed = host.lower() in self.allow_hosts
        for ip in found:
            if ip.is_unspecified or ip.is_multicast or not (allowed or is_public(ip)):
                raise RefusedAddressError(f"{host} is or resolves to {ip}")
        ip = found[0]
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        if parts.port is not None:
            netloc += f":{parts.port}"
        if "@" in parts.netloc:  # keep the URL's credentials, if it carries any
            netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
        shown = f"[{host}]" if ":" in host else host
        host_header = shown + (f":{parts.port}" if parts.port is not None else "")
        return Target(url=parts._replace(netloc=netloc).geturl(), host_header=host_header,
                      server_name=host, address=str(ip))
