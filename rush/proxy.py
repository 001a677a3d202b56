"""Reverse proxies: believing X-Forwarded-For / X-Forwarded-Proto or Forwarded, from trusted peers.

A client can send these headers itself, so they are only used when the connection comes from a
configured trusted proxy (`forwarded_allow_ips`; default: none). Then the server hands the app
(and the access log) the client the proxies saw as `remote_addr`, and the scheme the client
used. It works on the raw header list, before any Request exists.
Facts and strategy:
- The address lists are read right to left (the nearest hop last); hops that are trusted
  proxies are skipped, and the first untrusted one is the client. If every hop is trusted the
  leftmost wins. So a forged hop a client prepends is never taken while a proxy appends.
- One family of headers is believed, the one the proxy is configured to set
  (`forwarded_header`): the X-Forwarded-* pair (the default: what nginx, HAProxy and most
  balancers set) or RFC 7239 `Forwarded`. Never both: nginx and HAProxy append to
  X-Forwarded-For but pass a client's own `Forwarded` through untouched, so believing it too
  would let any client choose its address and scheme through a trusted proxy.
- Nothing here runs unless trusted proxies are configured: the connection asks
  `forwarded_client` only when the worker gave it a ProxyTrust.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

_FORWARDED = b"forwarded"
_XFF = b"x-forwarded-for"
_XFP = b"x-forwarded-proto"
_SCHEMES = ("http", "https")
#: The values of `forwarded_header`: which header family the trusted proxies set.
FORWARDED_HEADERS = ("x-forwarded", "forwarded")


class ProxyTrust:
    """Which peers are trusted proxies: addresses, networks, `unix` (Unix socket peers), `*`."""

    def __init__(self, allowed: Iterable[str], header: str = "x-forwarded") -> None:
        if header not in FORWARDED_HEADERS:
            raise ValueError(f"forwarded header {header!r} is not one of {FORWARDED_HEADERS}")
        self.rfc7239 = header == "forwarded"  # believe `Forwarded`, not X-Forwarded-*
        self.everyone = False
        self.unix = False
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allowed:
            if entry == "*":
                self.everyone = True
            elif entry == "unix":
                self.unix = True
            else:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
        self._cache: dict[str | None, bool] = {}

    def __bool__(self) -> bool:
        return self.everyone or self.unix or bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        """Whether `address` (None: a Unix socket peer) is a trusted proxy."""
        known = self._cache.get(address)
        if known is not None:
            return known
        if address is None:
            trusted = self.unix or self.everyone
        elif self.everyone:
            trusted = True
        else:
            try:
                ip = ipaddress.ip_address(address.partition("%")[0])
            except ValueError:
                trusted = False
            else:
                trusted = any(ip in network for network in self.networks)
        if len(self._cache) < 4096:
            self._cache[address] = trusted
        return trusted


def forwarded_client(
    headers: list[tuple[bytes, bytes]], peer: str | None, trust: ProxyTrust
) -> tuple[str | None, str]:
    """(client address, scheme) of a request from `peer`: what trusted proxies say, if any."""
    if not trust.trusts(peer):
        return peer, "http"
    if trust.rfc7239:
        return _from_forwarded(headers, peer, trust)
    xff: list[bytes] = []
    xfp: list[bytes] = []
    for name, value in headers:
        size = len(name)
        if size == 15 and name.lower() == _XFF:
            xff.append(value)
        elif size == 17 and name.lower() == _XFP:
            xfp.append(value)
    address, scheme = peer, "http"
    if xff:
        addresses = [a.strip() for a in b",".join(xff).decode("latin-1").split(",")]
        chosen = _choose(addresses, trust)
        if chosen is not None and addresses[chosen]:
            address = _strip_node(addresses[chosen])
    if xfp:
        # The nearest proxy's value: it sets the header (a client's own value comes first).
        proto = xfp[-1].decode("latin-1").rpartition(",")[2].strip().lower()
        if proto in _SCHEMES:
            scheme = proto
    return address, scheme


def _from_forwarded(
    headers: list[tuple[bytes, bytes]], peer: str | None, trust: ProxyTrust
) -> tuple[str | None, str]:
    """(client address, scheme) from RFC 7239 `Forwarded` fields, for a trusted peer."""
    forwarded = [value for name, value in headers if len(name) == 9 and name.lower() == _FORWARDED]
    address, scheme = peer, "http"
    if forwarded:
        hops = parse_forwarded(b",".join(forwarded).decode("latin-1"))
        chosen = _choose([hop.get("for", "") for hop in hops], trust)
        if chosen is not None:
            hop = hops[chosen]
            address = _strip_node(hop.get("for", "")) or peer
            proto = hop.get("proto", "").lower()
            if proto in _SCHEMES:
                scheme = proto
    return address, scheme


def _choose(addresses: list[str], trust: ProxyTrust) -> int | None:
    """Index of the client: the rightmost hop that is not a trusted proxy, else the leftmost."""
    if not addresses:
        return None
    for index in range(len(addresses) - 1, -1, -1):
        if not trust.trusts(_strip_node(addresses[index]) or "-"):
            return index
    return 0


def _strip_node(node: str) -> str:
    """`"[2001:db8::1]:4711"` -> `2001:db8::1`, `192.0.2.1:80` -> `192.0.2.1` (RFC 7239 §6)."""
    node = node.strip().strip('"')
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else node[1:]
    if node.count(":") == 1:
        return node.partition(":")[0]
    return node


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 §4: `for=a;proto=https, for="[::1]"` -> [{"for": "a", "proto": "https"}, ...]."""
    hops: list[dict[str, str]] = []
    for element in _split_quoted(value, ","):
        pairs: dict[str, str] = {}
        for pair in _split_quoted(element, ";"):
            name, sep, text = pair.partition("=")
            if sep:
                pairs[name.strip().lower()] = text.strip().strip('"')
        hops.append(pairs)
    return hops


def _split_quoted(text: str, separator: str) -> list[str]:
    """Split on `separator` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]
