"""One HTTP/1.1 GET for a health probe: h11 reads the response; a bare non-blocking socket (plain
HTTP to an IP address: every probe of a local service) or an asyncio transport (TLS, a host name)
moves the bytes.

One job: send one GET on a new connection and hand back what a probe judges: the status, the
declared charset, the body (only when asked, and bounded) and the address that answered. Judging
it is health.py's job, as is timing out (the caller bounds the whole call with asyncio.timeout).

What it deliberately does not do, each one a way a probe could lie or linger:
- no connection reuse (`Connection: close`, a fresh socket each time): a restarted service must
  never be asked on a connection to its previous incarnation;
- no redirects: a 3xx is an answer (it passes under the default 200–399), and following it could
  leave the service being probed;
- no proxies, no .netrc, nothing from the environment: an `HTTP_PROXY` in the user's shell must not
  route a probe of 127.0.0.1 through a corporate proxy;
- no certificate verification over https: a probe sends nothing secret, and dev servers use
  self-signed or mkcert certificates.

Why not httpx (which devstack used before): one probe cost 1.3–1.7 ms of CPU in httpx, httpcore
and anyio, and importing them ~8 MB of the supervisor's RSS; this costs ~0.3–0.5 ms (~0.1 ms of it
the kernel's loopback TCP, the rest asyncio's socket futures and h11) and no extra import but h11
(httpx's own HTTP/1.1 parser). A literal address is dialled on a bare socket (no resolver, no thread), so a
refused GET costs what a refused connect costs.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import socket
import ssl
import string
import zlib
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import h11

from devstack.probes.addresses import is_ip_literal
from devstack.probes.target import DEFAULT_PORTS

__all__ = ["BadResponse", "Reply", "Url", "get", "parse_url"]

USER_AGENT = "devstack-probe"
# The largest response head accepted (h11's own default is 16 KiB; httpcore allows 100 KiB, and
# a dev server with big cookies or a long CSP header should not fail a probe).
MAX_HEAD_BYTES = 100 << 10
# How long a name that resolves to several addresses waits on one before also trying the next
# (RFC 8305's "happy eyeballs"; what anyio did under httpx).
_HAPPY_EYEBALLS_DELAY = 0.25
# Percent-encode only what cannot appear in a request line (spaces, controls, non-ASCII); keep
# every printable ASCII character, and so any escapes the user already wrote.
_KEEP_IN_TARGET = string.punctuation
_RECV_BYTES = 64 << 10


class BadResponse(Exception):
    """The peer spoke, but not a valid HTTP/1.1 response; the message is lower case, one line."""


@dataclass(frozen=True)
class Url:
    """An http(s) URL read for a GET (see parse_url)."""

    scheme: str  # "http" or "https"
    host: str  # lower case, without brackets; a name in its ASCII (IDNA) form
    port: int  # the scheme's default when the URL has none
    target: str  # the request target: path and query, percent-encoded where needed
    authority: str  # the Host header: the host, and the port unless it is the scheme's default
    authorization: str | None = None  # "Basic …" when the URL carries user:password@

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@functools.lru_cache(maxsize=64)  # a probe asks for the same URL every few seconds, for hours
def parse_url(text: str) -> Url:
    """Read an http:// or https:// URL; ValueError says what is wrong with it."""
    parts = urlsplit(text)  # ValueError for e.g. an unclosed "[" around an IPv6 address
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("expected http://host[:port]/path")
    given_port = parts.port  # ValueError when not a number or out of range
    if given_port == 0:
        raise ValueError("port 0 is not a port one can connect to")
    host = parts.hostname  # already lower case, brackets removed
    if ":" not in host:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"the host name {parts.hostname!r} is not valid ({exc})") from None
    port = given_port or DEFAULT_PORTS[scheme]
    shown_host = f"[{host}]" if ":" in host else host
    authority = shown_host if port == DEFAULT_PORTS[scheme] else f"{shown_host}:{port}"
    target = quote(parts.path or "/", safe=_KEEP_IN_TARGET)
    if parts.query:
        target += "?" + quote(parts.query, safe=_KEEP_IN_TARGET)
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return Url(scheme, host, port, target, authority, authorization)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str | None  # the Content-Type header, as sent
    body: bytes  # empty unless asked for; at most max_body bytes, gzip/deflate undone
    peer: tuple[str, int] | None  # the address that answered, when the socket can tell

    @property
    def charset(self) -> str | None:
        """The charset the Content-Type declares (lower case), or None."""
        if self.content_type is None:
            return None
        from email.message import Message  # only expect_text needs it: not loaded otherwise

        message = Message()
        message["content-type"] = self.content_type
        return message.get_content_charset(failobj=None)


@functools.lru_cache(maxsize=64)
def _request(target: str, authority: str, authorization: str | None) -> h11.Request:
    # h11 validates every header when a Request is made; a probe repeats the same one every few
    # seconds for hours, so it is made once per URL (Requests are immutable).
    headers = [
        ("Host", authority),
        ("User-Agent", USER_AGENT),
        ("Accept", "*/*"),
        # A probe reads at most a small body; nothing gains from compressing it. (A server that
        # compresses all the same is decoded: see _decode.)
        ("Accept-Encoding", "identity"),
        ("Connection", "close"),
    ]
    if authorization is not None:
        headers.append(("Authorization", authorization))
    return h11.Request(method="GET", target=target, headers=headers)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # No verification: no CA bundle to load either (certifi's alone is ~1 MB of memory).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def _decode(body: bytes, coding: str | None, limit: int) -> bytes:
    """Undo a gzip or deflate content coding (bounded to `limit` bytes); others are left as sent."""
    if coding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":
        # "deflate" means zlib-wrapped; some servers send it raw. 32 + MAX_WBITS detects the
        # zlib header; a raw stream fails on its first byte and is tried again as raw.
        wbits = 32 + zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS
    else:
        return body
    try:
        return zlib.decompressobj(wbits).decompress(body, limit)
    except zlib.error as exc:
        raise BadResponse(f"the body does not decode as {coding} ({exc})") from None


class _Exchange:
    """One GET's bytes out, and h11 reading the response back: the part of a probe that does not
    care how the bytes move (a bare socket, or a TLS transport)."""

    def __init__(self, request: h11.Request, read_body: bool, max_body: int):
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.outgoing = self._h11.send(request) + self._h11.send(h11.EndOfMessage())
        self._read_body = read_body
        self._max_body = max_body
        self._response: h11.Response | None = None
        self._body = bytearray()

    def feed(self, data: bytes, peer: object) -> Reply | None:
        """Bytes received (b"" for the end of the stream); the Reply once it is complete.
        `peer`: the socket's peer name, put in the Reply. Raises BadResponse."""
        if not data and self._response is None:
            # What httpcore says too: the connection ended before a whole status line and headers.
            raise BadResponse("server disconnected without sending a response")
        try:
            self._h11.receive_data(data)
            while True:
                event = self._h11.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return None
                # An InformationalResponse (100 Continue, 103 Early Hints) is interim: the answer
                # follows. (h11 itself refuses a 101, as no upgrade was asked for.)
                if isinstance(event, h11.Response):
                    self._response = event
                    if not self._read_body:
                        return self._reply(peer)
                elif isinstance(event, h11.Data):
                    self._body += event.data
                    if len(self._body) >= self._max_body:
                        return self._reply(peer)  # a `/` that streams forever must not be buffered forever
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return self._reply(peer)
        except h11.RemoteProtocolError as exc:
            raise BadResponse(" ".join(str(exc).split()).rstrip(".").lower() or "protocol error") from None

    def _reply(self, peer: object) -> Reply:
        assert self._response is not None
        content_type = coding = None
        for name, value in self._response.headers:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-encoding":
                coding = value.decode("latin-1").strip().lower()
        body = _decode(bytes(self._body[: self._max_body]), coding, self._max_body)
        address = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None
        return Reply(self._response.status_code, content_type, body, address)


class _GetProtocol(asyncio.Protocol):
    """The exchange over a transport (TLS, or a name asyncio dials): resolves `done` with the
    Reply, or with why there is none."""

    def __init__(self, exchange: _Exchange, done: asyncio.Future[Reply]):
        self._exchange = exchange
        self._done = done
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._exchange.outgoing)

    def data_received(self, data: bytes) -> None:
        self._feed(data)

    def eof_received(self) -> bool | None:
        self._feed(b"")
        return None  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._done.done():
            return
        if exc is not None:
            self._done.set_exception(exc)
        else:
            self._feed(b"")

    def _feed(self, data: bytes) -> None:
        if self._done.done():
            return
        try:
            peer = self._transport.get_extra_info("peername") if self._transport is not None else None
            reply = self._exchange.feed(data, peer)
        except Exception as exc:  # BadResponse, or a bug: surface it rather than leave the caller waiting
            self._done.set_exception(exc)
            return
        if reply is not None:
            self._done.set_result(reply)


async def _dial(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    """A connected non-blocking socket to an IP address: no resolver, no executor thread. A probe
    of a starting service is refused every few ms; this way a refusal costs what a tcp probe's does."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _get_on_socket(loop: asyncio.AbstractEventLoop, host: str, port: int, exchange: _Exchange) -> Reply:
    """The exchange on the bare socket, no transport and no protocol: every probe of a plain-HTTP
    service, every few seconds for hours, and of a starting one every few ms, at a fifth less CPU
    than through a transport (`.venv/bin/python bench/probe_cost.py`)."""
    sock = await _dial(loop, host, port)
    try:
        await loop.sock_sendall(sock, exchange.outgoing)
        peer = sock.getpeername()
        while True:
            data = await loop.sock_recv(sock, _RECV_BYTES)
            reply = exchange.feed(data, peer)
            if reply is not None:
                return reply
            if not data:  # h11 ends a stream with a reply or an error: this only guards the loop
                raise BadResponse("server disconnected before the response was complete")
    finally:
        sock.close()


async def get(
    url: Url,
    *,
    dial: str | None = None,
    read_body: bool = True,
    max_body: int = 1 << 20,
) -> Reply:
    """GET `url` once, on a new connection to `dial` (default: the URL's host).

    `dial` is an IP address to connect to instead of resolving the URL's host; the Host header and
    the TLS server name (SNI, never sent for an IP address) are the URL's all the same. With
    `read_body=False` the answer is complete at the end of the headers, and the body is not read.
    Raises OSError (refused, reset, unreachable, TLS errors), BadResponse, or whatever cancels it
    (such as the caller's timeout)."""
    loop = asyncio.get_running_loop()
    host = dial or url.host
    exchange = _Exchange(_request(url.target, url.authority, url.authorization), read_body, max_body)
    literal = is_ip_literal(host)
    if literal and not url.tls:
        return await _get_on_socket(loop, host, url.port, exchange)
    tls = _tls_context() if url.tls else None
    sni = url.host if url.tls else None
    done: asyncio.Future[Reply] = loop.create_future()
    transport: asyncio.BaseTransport
    if literal:
        sock = await _dial(loop, host, url.port)  # then TLS over it
        try:
            transport, _ = await loop.create_connection(lambda: _GetProtocol(exchange, done), sock=sock,
                                                        ssl=tls, server_hostname=sni)
        except BaseException:
            sock.close()
            raise
    else:
        transport, _ = await loop.create_connection(
            lambda: _GetProtocol(exchange, done), host, url.port, ssl=tls, server_hostname=sni,
            happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY,
        )
    clean = False
    try:
        reply = await done
        clean = True
        return reply
    finally:
        # An answer in full: close politely (TLS sends its close_notify). Anything else (an
        # error, a timeout, the other address family won): drop the connection at once.
        if clean:
            transport.close()
        else:
            transport.abort()
