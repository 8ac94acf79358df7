"""A minimal asyncio HTTP/1.1 keep-alive client: the transport under ``MexcRestClient``.

Why not httpx: on the order path httpx/httpcore cost ~2 ms of CPU per request (bench
``order_overhead``); this costs a few tens of microseconds above a raw socket. It does only
what the MEXC client needs: one host, a small pool of persistent connections
(``asyncio.open_connection``, TLS for https), pre-encoded request heads, ``Content-Length``
request bodies, and answers with a ``Content-Length``, chunked or read-to-close body
(gzip/deflate decoded).

The one thing that matters most is *what may have been sent*, because it decides whether an
order can be resent:

- ``NotSent``: nothing of this request left the process. The pool was full past the timeout,
  the connection (TCP or TLS handshake) failed or timed out, or the very first ``send()`` on
  a connection failed (the kernel took no byte). Safe to resend.
- ``MaybeSent``: the request was handed to the kernel, then something went wrong (timeout,
  reset, EOF, an answer that is not HTTP). The server may have acted on it.

A kept-alive connection is checked before each reuse (closed or half-closed by the server,
unexpected bytes, readable while idle, older than ``keepalive_expiry_s``); a bad one is closed
and a fresh one opened, before anything is written. Whatever fails after the write, the
connection is dropped, never reused. ``kind`` on the errors is httpx's name for the same
failure (``ConnectError``, ``ReadTimeout``...). Nothing here logs or raises a request target,
header or body (signed queries carry the signature).
"""

from __future__ import annotations

import asyncio
import logging
import select
import ssl
import zlib
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["Headers", "HttpPool", "HttpResponse", "MaybeSent", "NotSent", "TransportError"]

log = logging.getLogger(__name__)

_READ_LIMIT = 1 << 20  # largest head / chunk-size line we accept (bodies are read by length)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_HEAD_END = b"\r\n\r\n"
_CRLF = b"\r\n"
USER_AGENT = "sniperbot-mexc/1"


class TransportError(Exception):
    """A request failed below HTTP. ``kind``: httpx's name for the failure. The message holds
    the kind and at most a short reason, never the request."""

    def __init__(self, kind: str, reason: str = "") -> None:
        self.kind = kind
        super().__init__(f"{kind}: {reason}" if reason else kind)


class NotSent(TransportError):
    """Nothing of the request left this process: resending is safe."""


class MaybeSent(TransportError):
    """The request was written (or partly); the server may have received and acted on it."""


class _BadAnswer(Exception):
    """The bytes that came back are not an HTTP/1.x answer we can read."""


class Headers(dict[str, str]):
    """Response headers; names stored lowercased, looked up case-insensitively."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)


class HttpResponse:
    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Headers, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status_code} {len(self.content)} bytes>"


class _Conn:
    __slots__ = ("idle_since", "poller", "reader", "transport", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.transport = writer.transport
        self.idle_since = 0.0
        # poll, not select: no FD_SETSIZE (1024) ceiling in a process with many descriptors.
        self.poller: select.poll | None = None
        sock = writer.get_extra_info("socket")
        if sock is not None and hasattr(select, "poll"):
            self.poller = select.poll()
            self.poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)

    def reusable(self) -> bool:
        """Still open, nothing unread, and the socket has nothing pending (a FIN or RST the
        event loop has not processed yet shows up as readable)."""
        if self.transport.is_closing() or self.reader.at_eof() or self.reader.exception():
            return False
        if getattr(self.reader, "_buffer", None):  # bytes nobody asked for
            return False
        if self.poller is None:
            return True
        try:
            return not self.poller.poll(0)  # any event (data, hang-up, error): not reusable
        except OSError:
            return False

    def abort(self) -> None:
        self.transport.abort()

    def close(self) -> None:
        self.transport.close()


def default_ssl_context() -> ssl.SSLContext:
    """Verifying client context; certifi's CA bundle when installed (as httpx uses)."""
    try:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


class HttpPool:
    """Persistent HTTP/1.1 connections to the one host of ``base_url``.

    ``await pool.request("POST", "/api/v3/order?...", headers=b"X-...: ...\\r\\n")`` ->
    ``HttpResponse``; raises ``NotSent`` / ``MaybeSent``. ``timeout`` bounds the write plus
    the whole answer (and a wait for a free connection); ``connect_timeout`` the TCP connect
    plus TLS handshake. Use it from one event loop.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 2.0,
        connect_timeout: float | None = None,
        max_connections: int = 20,
        keepalive_expiry_s: float = 60.0,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme.lower()
        self._config_error: str | None = None
        if self.scheme not in ("http", "https") or not parts.hostname:
            self._config_error = "UnsupportedProtocol"
        self.tls = self.scheme == "https"
        self.host = parts.hostname or ""
        try:
            port = parts.port
        except ValueError:
            port, self._config_error = None, "UnsupportedProtocol"
        self.port = port or (443 if self.tls else 80)
        self._prefix = parts.path.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        if port is not None and port != (443 if self.tls else 80):
            host = f"{host}:{port}"
        lines = {
            "Host": host,
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            **(headers or {}),
        }
        self._head_tail = (
            " HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines.items())
        ).encode("latin-1")
        self.timeout = timeout
        self.connect_timeout = connect_timeout or timeout
        self.keepalive_expiry_s = keepalive_expiry_s
        self._ssl = ssl_context
        self._slots = asyncio.Semaphore(max(1, max_connections))
        self._idle: list[_Conn] = []  # LIFO: the most recently used (warmest) first
        self._closed = False
        self.connects = 0  # connections opened so far (tests, diagnostics)

    def __repr__(self) -> str:
        return f"HttpPool({self.scheme}://{self.host}:{self.port}, idle={len(self._idle)})"

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def aclose(self) -> None:
        """Close the idle connections; ones in use close when their request ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        if idle:
            await asyncio.sleep(0)  # let the transports finish closing their sockets

    async def request(
        self, method: str, target: str, *, headers: bytes = b"", body: bytes = b""
    ) -> HttpResponse:
        """One request. ``target``: path and query, already encoded (ASCII); ``headers``:
        extra pre-encoded header lines, each ending in CRLF."""
        if self._config_error:
            raise NotSent(self._config_error)
        if self._closed:
            raise NotSent("ClientClosed", "the client has been closed")
        try:
            start = f"{method} {self._prefix}{target}".encode("ascii")
        except UnicodeEncodeError:
            raise NotSent("InvalidURL", "the target is not ASCII") from None
        if body or method in _BODY_METHODS:
            length = b"Content-Length: %d\r\n" % len(body)
            data = b"".join((start, self._head_tail, headers, length, _CRLF, body))
        else:
            data = b"".join((start, self._head_tail, headers, _CRLF))
        slots = self._slots
        if slots.locked():
            try:
                async with asyncio.timeout(self.timeout):
                    await slots.acquire()
            except TimeoutError:
                raise NotSent("PoolTimeout", "no free connection in time") from None
        else:
            await slots.acquire()
        try:
            return await self._exchange(method, data)
        finally:
            slots.release()

    async def _exchange(self, method: str, data: bytes) -> HttpResponse:
        conn = self._reuse() or await self._connect()
        conn.writer.write(data)
        if conn.transport.is_closing():
            # It was open just before, and nothing awaited since: the immediate send() raised,
            # so the kernel took no byte of this request. One fresh connection, one more try.
            conn.abort()
            conn = await self._connect()
            conn.writer.write(data)
            if conn.transport.is_closing():
                conn.abort()
                raise NotSent("WriteError", "the connection failed before any byte was sent")
        phase = "Write"
        try:
            async with asyncio.timeout(self.timeout):
                if conn.transport.get_write_buffer_size():
                    await conn.writer.drain()
                phase = "Read"
                response, keep_alive = await _read_response(conn.reader, method)
        except TimeoutError:  # asyncio.timeout, or ETIMEDOUT from the socket
            conn.abort()
            raise MaybeSent(f"{phase}Timeout") from None
        except asyncio.IncompleteReadError as exc:
            conn.abort()
            reason = "server disconnected " + (
                "mid-answer" if exc.partial else "without sending a response"
            )
            raise MaybeSent("RemoteProtocolError", reason) from None
        except (_BadAnswer, asyncio.LimitOverrunError, ValueError) as exc:
            conn.abort()
            raise MaybeSent("RemoteProtocolError", str(exc)[:100]) from None
        except OSError as exc:  # reset, broken pipe, ...
            conn.abort()
            raise MaybeSent(f"{phase}Error", type(exc).__name__) from None
        except BaseException:  # cancelled: an answer may still come; never reuse it
            conn.abort()
            raise
        if keep_alive and not self._closed:
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.append(conn)
        else:
            conn.close()
        return response

    def _reuse(self) -> _Conn | None:
        """The warmest idle connection that is still good; the bad ones are closed."""
        if not self._idle:
            return None
        now = asyncio.get_running_loop().time()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < self.keepalive_expiry_s and conn.reusable():
                return conn
            conn.abort()
        return None

    async def _connect(self) -> _Conn:
        if self.tls and self._ssl is None:
            self._ssl = default_ssl_context()
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl if self.tls else None,
                    server_hostname=self.host if self.tls else None,
                    limit=_READ_LIMIT,
                )
        except TimeoutError:
            raise NotSent("ConnectTimeout") from None
        except (OSError, ssl.SSLError) as exc:
            raise NotSent("ConnectError", type(exc).__name__) from None
        self.connects += 1
        log.debug(
            "mexc.http.connect",
            extra={"host": self.host, "port": self.port, "tls": self.tls, "n": self.connects},
        )
        return _Conn(reader, writer)


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[HttpResponse, bool]:
    """Status line, headers and body of one answer; and whether the connection stays usable."""
    while True:
        head = await reader.readuntil(_HEAD_END)
        lines = head[:-4].split(_CRLF)
        version, _, rest = lines[0].partition(b" ")
        if version not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise _BadAnswer("not an HTTP/1.x status line")
        code = rest[:3]
        if len(code) != 3 or not code.isdigit():
            raise _BadAnswer("bad status code")
        status = int(code)
        if not 100 <= status < 200 or status == 101:
            break  # 1xx interim answers are skipped
    headers = Headers()
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name[-1:].isspace():
            raise _BadAnswer("bad header line")
        key = name.decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        headers[key] = f"{dict.get(headers, key)}, {text}" if key in headers else text
    connection = (dict.get(headers, "connection") or "").lower()
    keep_alive = "close" not in connection if version == b"HTTP/1.1" else "keep-alive" in connection
    transfer = dict.get(headers, "transfer-encoding")
    length = dict.get(headers, "content-length")
    if method == "HEAD" or status in (204, 304):
        body = b""
    elif transfer is not None:
        if transfer.lower().rsplit(",", 1)[-1].strip() != "chunked":
            raise _BadAnswer("unsupported transfer-encoding")
        body = await _read_chunked(reader)
    elif length is not None:
        if not length.isdigit():
            raise _BadAnswer("bad content-length")
        size = int(length)
        body = await reader.readexactly(size) if size else b""
    else:  # the body runs until the server closes
        body = await reader.read()
        keep_alive = False
    encoding = dict.get(headers, "content-encoding")
    if encoding and body:
        body = _decode(body, encoding.lower().strip())
    return HttpResponse(status, headers, body), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        line = await reader.readuntil(_CRLF)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _BadAnswer("bad chunk size") from None
        if size < 0:
            raise _BadAnswer("bad chunk size")
        if size == 0:
            break
        chunk = await reader.readexactly(size + 2)
        if chunk[-2:] != _CRLF:
            raise _BadAnswer("chunk without CRLF")
        parts.append(chunk[:-2])
    while await reader.readuntil(_CRLF) != _CRLF:  # trailers, ignored
        pass
    return b"".join(parts)


def _decode(body: bytes, encoding: str) -> bytes:
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some send
    except zlib.error:
        raise _BadAnswer(f"undecodable {encoding} body") from None
    if encoding == "identity":
        return body
    raise _BadAnswer(f"unsupported content-encoding {encoding[:20]}")
