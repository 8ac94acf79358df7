"""The asyncio HTTP/1.1 transport under MexcRestClient (mexc/http.py).

Against the simulator where it can show the behaviour (keep-alive, reconnects, faults), and
against a tiny scripted loopback server where the simulator cannot misbehave the way needed
(chunked and compressed bodies, garbage, a FIN the event loop has not seen yet, TLS).
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import socket
import ssl
import time
import zlib
from decimal import Decimal

import pytest

from mexc import errors
from mexc.http import HttpPool, MaybeSent, NotSent
from mexc.rest import MexcRestClient


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length) if length else b""


def answer(body: bytes = b"{}", status: str = "200 OK", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def close_after(reply: bytes):
    """An answer after which the server closes the connection."""

    async def respond(head, writer):
        writer.write(reply)
        await writer.drain()
        writer.close()
        return None

    return respond


class RawServer:
    """A loopback server; ``answers`` are sent one per request, in order, on any connection
    (a callable answer gets the request head and the server-side writer)."""

    def __init__(self, answers=(), *, tls=None) -> None:
        self.answers = list(answers)
        self.tls = tls
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{'localhost' if self.tls else '127.0.0.1'}:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(0.01)  # let the handlers see the aborts and end

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while True:
                head, _ = await read_request(reader)
                self.requests.append(head)
                reply = self.answers.pop(0)
                if callable(reply):
                    reply = await reply(head, writer)
                if reply is None:  # the script closed the connection
                    return
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass


def buy(client, coid):
    return client.place_order(
        "BTCUSDT", "BUY", "MARKET", quote_order_qty=Decimal(20), client_order_id=coid
    )


# --- keep-alive against the simulator -----------------------------------------------------------


async def test_one_kept_alive_connection_carries_every_request(client):
    await client.warm()
    for i in range(5):
        await client.ping()
        await client.book_ticker("BTCUSDT")
        ack = await buy(client, f"ka{i}")
        assert (await client.query_order("BTCUSDT", order_id=ack.order_id)).status == "FILLED"
    assert client._http.connects == 1 and client._http.idle_connections == 1


async def test_reconnects_when_the_server_closed_the_idle_connection(client, simulator, control):
    await client.warm()
    assert client._http.connects == 1
    for handler in list(simulator._runner.server.connections):
        handler.force_close()  # as a server's keep-alive timeout does
    await asyncio.sleep(0.05)
    ack = await buy(client, "after-close")
    assert ack.order_id and client._http.connects == 2
    orders = (await control.get("/_sim/orders")).json()["orders"]
    assert [o["clientOrderId"] for o in orders if "clientOrderId" in o] in (["after-close"], [])
    assert len(orders) == 1  # sent exactly once


async def test_timeout_after_the_write_is_outcome_unknown_and_drops_the_connection(
    simulator, control
):
    async with MexcRestClient(
        base_url=simulator.rest_url,
        api_key=simulator.api_key,
        secret_key=simulator.secret_key,
        timeout=0.2,
    ) as client:
        await client.warm()
        await control.post(
            "/_sim/faults",
            json={"kind": "timeout", "count": 1, "ms": 400, "path": "/api/v3/order"},
        )
        with pytest.raises(errors.OrderOutcomeUnknown, match="ReadTimeout") as exc:
            await buy(client, "late")
        assert exc.value.client_order_id == "late"
        await asyncio.sleep(0.3)  # the late answer arrives: on a connection we dropped
        order = await client.query_order("BTCUSDT", client_order_id="late")
        assert order.status == "FILLED" and client._http.connects == 2


async def test_refused_connection_is_not_sent():
    pool = HttpPool("http://127.0.0.1:9", timeout=1)
    with pytest.raises(NotSent) as exc:
        await pool.request("POST", "/api/v3/order?x=1")
    assert exc.value.kind == "ConnectError" and "x=1" not in str(exc.value)
    for url in ("ftp://example.com", "http://"):
        with pytest.raises(NotSent, match="UnsupportedProtocol"):
            await HttpPool(url).request("GET", "/")
    async with MexcRestClient(base_url="ftp://x", api_key="k", secret_key="s") as c:
        c._synced_at_ns = time.time_ns()
        with pytest.raises(errors.ExchangeUnavailable) as unavailable:
            await buy(c, "never")
        assert type(unavailable.value) is errors.ExchangeUnavailable


# --- answers of every shape -----------------------------------------------------------------


async def test_content_length_chunked_compressed_and_read_to_close_bodies():
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"a":\r\n3\r\n 1}\r\n0\r\nX-Trailer: t\r\n\r\n'
    )
    gz = gzip.compress(b'{"gz":true}')
    raw_deflate = zlib.compressobj(wbits=-15)
    deflated = raw_deflate.compress(b'{"df":1}') + raw_deflate.flush()
    async with RawServer(
        [
            answer(b'{"plain":1}', "200 OK", "X-Mixed-Case: v"),
            b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"[]"),
            chunked,
            answer(gz, "200 OK", "Content-Encoding: gzip"),
            answer(deflated, "200 OK", "Content-Encoding: deflate"),
            answer(b"", "204 No Content"),
            close_after(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"until":"eof"}'),
            answer(b'{"again":1}'),
        ]
    ) as server:
        pool = HttpPool(server.url)
        plain = await pool.request("GET", "/a")
        assert plain.status_code == 200 and plain.content == b'{"plain":1}'
        assert plain.headers["x-mixed-case"] == "v" and plain.headers.get("X-MIXED-CASE") == "v"
        assert (await pool.request("GET", "/b")).content == b"[]"
        assert (await pool.request("GET", "/c")).content == b'{"a": 1}'
        assert (await pool.request("GET", "/d")).content == b'{"gz":true}'
        assert (await pool.request("GET", "/e")).content == b'{"df":1}'
        assert (await pool.request("DELETE", "/f")).status_code == 204
        assert pool.connects == 1
        assert (await pool.request("GET", "/g")).content == b'{"until":"eof"}'
        assert pool.idle_connections == 0  # the server said close: not kept
        assert (await pool.request("POST", "/h", body=b"k=v")).content == b'{"again":1}'
        assert pool.connects == 2
        await pool.aclose()
    get, post = server.requests[0], server.requests[-1]
    assert get.startswith(b"GET /a HTTP/1.1\r\n") and b"content-length" not in get.lower()
    assert post.startswith(b"POST /h HTTP/1.1\r\n") and b"Content-Length: 3\r\n" in post
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in get


@pytest.mark.parametrize(
    "reply",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 2xx OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Encoding: gzip\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        None,  # the server reads the request and hangs up without a word
        b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"cut":',  # then hangs up
    ],
)
async def test_an_unreadable_or_missing_answer_after_the_write_may_have_placed_the_order(reply):
    async def respond(head, writer):
        if reply is not None:
            writer.write(reply)
            await writer.drain()
        writer.close()
        return None

    async with RawServer([respond, respond]) as server:
        client = MexcRestClient(base_url=server.url, api_key="k", secret_key="s")
        client._synced_at_ns = time.time_ns()  # no time sync: straight to the order
        with pytest.raises(errors.OrderOutcomeUnknown) as exc:
            await buy(client, "garbled")
        assert "RemoteProtocolError" in str(exc.value)
        assert exc.value.client_order_id == "garbled"
        with pytest.raises(errors.ExchangeUnavailable) as exc:
            await client.ping()
        assert type(exc.value) is errors.ExchangeUnavailable
        await client.aclose()
    assert len(server.requests) == 2  # each written once, never resent


# --- what was written, what was not ---------------------------------------------------------


async def test_a_fin_the_event_loop_has_not_seen_yet_is_caught_before_writing():
    async with RawServer([answer(), answer()]) as server:
        pool = HttpPool(server.url)
        await pool.request("GET", "/one")
        # The server half-closes; the kernel has the FIN but the loop has not run since.
        server.writers[0].transport.get_extra_info("socket").shutdown(socket.SHUT_WR)
        time.sleep(0.02)  # blocking on purpose: no event-loop turn before the request
        assert (await pool.request("GET", "/two")).status_code == 200
        assert pool.connects == 2
        await pool.aclose()
    assert [r.split(b" ")[1] for r in server.requests] == [b"/one", b"/two"]


async def test_a_send_the_kernel_refused_is_retried_once_on_a_fresh_connection():
    async with RawServer([answer(), answer(b'{"n":2}')]) as server:
        pool = HttpPool(server.url)
        await pool.request("GET", "/one")
        (stale,) = pool._idle
        stale.writer.write = lambda data: stale.transport.abort()  # send() raised: 0 bytes
        assert (await pool.request("POST", "/order")).content == b'{"n":2}'
        assert pool.connects == 2
        await pool.aclose()
    assert len(server.requests) == 2  # the order reached the server once


async def test_expired_idle_connections_are_not_reused():
    async with RawServer([answer(), answer()]) as server:
        pool = HttpPool(server.url, keepalive_expiry_s=0.05)
        await pool.request("GET", "/one")
        await asyncio.sleep(0.1)
        await pool.request("GET", "/two")
        assert pool.connects == 2
        await pool.aclose()


async def test_a_cancelled_request_never_leaves_its_connection_for_reuse():
    async def slow(head, writer):
        await asyncio.sleep(0.2)
        return answer(b'{"late":1}')

    async with RawServer([slow, answer(b'{"fresh":1}')]) as server:
        pool = HttpPool(server.url)
        task = asyncio.create_task(pool.request("GET", "/slow"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.25)
        assert (await pool.request("GET", "/next")).content == b'{"fresh":1}'
        assert pool.connects == 2
        await pool.aclose()


async def test_the_pool_bounds_connections_and_times_out_waiting_for_one():
    async with RawServer([answer(b"%d" % i) for i in range(5)]) as server:
        pool = HttpPool(server.url, max_connections=1, timeout=0.1)
        bodies = await asyncio.gather(*(pool.request("GET", f"/{i}") for i in range(5)))
        assert sorted(b.content for b in bodies) == [b"0", b"1", b"2", b"3", b"4"]
        assert pool.connects == 1
        await pool._slots.acquire()  # the one connection is busy
        with pytest.raises(NotSent, match="PoolTimeout"):
            await pool.request("GET", "/x")
        pool._slots.release()
        await pool.aclose()
        with pytest.raises(NotSent, match="ClientClosed"):
            await pool.request("GET", "/x")


async def test_a_slow_answer_is_a_read_timeout_after_the_write():
    async def never(head, writer):
        await asyncio.sleep(1)
        return None

    async with RawServer([never]) as server:
        pool = HttpPool(server.url, timeout=0.1)
        with pytest.raises(MaybeSent) as exc:
            await pool.request("POST", "/api/v3/order?signature=abc")
        assert exc.value.kind == "ReadTimeout" and "signature" not in str(exc.value)
        assert pool.idle_connections == 0


def test_an_api_key_that_could_inject_headers_is_refused():
    assert (
        MexcRestClient(base_url="http://x", api_key="k\r\nX: y", secret_key="s")._key_header == b""
    )


async def test_an_api_key_with_a_newline_is_refused_before_sending():
    async with MexcRestClient(base_url="http://127.0.0.1:9", api_key="k\r\nX", secret_key="s") as c:
        with pytest.raises(errors.InvalidApiKey):
            await c.account()


# --- TLS --------------------------------------------------------------------------------------


def _self_signed(tmp_path):
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_https_keeps_one_tls_connection_and_refuses_an_untrusted_certificate(tmp_path):
    server_ctx, client_ctx = _self_signed(tmp_path)
    async with RawServer([answer(b'{"n":1}'), answer(b'{"n":2}')], tls=server_ctx) as server:
        pool = HttpPool(server.url, ssl_context=client_ctx)
        assert (await pool.request("GET", "/one")).content == b'{"n":1}'
        assert (await pool.request("GET", "/two")).content == b'{"n":2}'
        assert pool.connects == 1
        await pool.aclose()
        untrusting = HttpPool(server.url)  # certifi's CAs: a self-signed cert fails
        with pytest.raises(NotSent) as exc:
            await untrusting.request("POST", "/api/v3/order")
        assert exc.value.kind == "ConnectError"
    assert len(server.requests) == 2
