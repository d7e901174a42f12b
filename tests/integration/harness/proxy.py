"""
harness/proxy.py - PubackProxy, a TCP proxy that reads the MQTT going
through it, to see what the broker acknowledged and to cut the link.

Tests of "nothing is lost" need the broker's side of the story: which QoS 1
PUBLISHes were PUBACKed, how many connections were made, and a network cut
(RST both ways) at a chosen moment, which killing the broker cannot give.
The daemon connects to the proxy instead of the broker (gateway_config
takes either). mqtt_split() is the packet framing, also used by tests that
speak MQTT on a raw socket. One thread accepts, one thread a connection.
"""

import select
import socket
import struct
import threading
import time

from .fixtures import _register
from .net import _port_of

def mqtt_split(buf):
    """Complete MQTT packets at the start of buf (bytes): ([(first_byte,
    body bytes)], rest). rest is the partial packet left (b"" if none)."""
    out = []
    i, n = 0, len(buf)
    while n - i >= 2:
        mult, length, j = 1, 0, i + 1
        while True:
            if j >= n:
                return out, buf[i:]
            b = buf[j]
            j += 1
            length += (b & 0x7f) * mult
            if not b & 0x80:
                break
            mult *= 128
            if mult > 128 ** 3:
                raise ValueError("bad MQTT remaining length at byte %d" % i)
        if n - j < length:
            break
        out.append((buf[i], buf[j:j + length]))
        i = j + length
    return out, buf[i:]


def _varint(buf, i):
    """(value, index after it) of an MQTT variable byte integer at buf[i]."""
    mult, v = 1, 0
    while True:
        b = buf[i]
        i += 1
        v += (b & 0x7f) * mult
        if not b & 0x80:
            return v, i
        mult *= 128


def _rst_close(s):
    """Close a socket abruptly: SO_LINGER 0, so the peer gets an RST."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class _ProxyConn:
    """One client connection and its broker connection, served by one
    thread (select over both sockets and a wake-up socketpair)."""

    def __init__(self, proxy, n, client, broker):
        self.proxy = proxy
        self.n = n
        self.client = client
        self.broker = broker
        self.wake_r, self.wake_w = socket.socketpair()
        self.abort = False      # cut(): close both with an RST
        self.pending = {}       # packet id -> payload of QoS 1 PUBLISHes not yet acked
        self.level = 4          # protocol level from CONNECT (5: properties)
        self.closed_by = None
        self.kick = None        # kick(): an MQTT 5 DISCONNECT reason code to send the client
        self.thread = threading.Thread(target=self._run, name="proxy-conn-%d" % n,
                                       daemon=True)

    def wake(self):
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass

    def _up(self, pkts):
        """Client -> broker packets: note CONNECT's level, QoS 1 PUBLISHes."""
        p = self.proxy
        for first, body in pkts:
            kind = first >> 4
            if kind == 1 and len(body) >= 2:                        # CONNECT
                k = 2 + int.from_bytes(body[:2], "big")
                if len(body) > k:
                    self.level = body[k]
            elif kind == 3 and (first >> 1) & 3 == 1:               # PUBLISH QoS 1
                tlen = int.from_bytes(body[:2], "big")
                i = 2 + tlen
                pid = body[i:i + 2]
                i += 2
                if self.level >= 5:
                    plen, i = _varint(body, i)
                    i += plen
                payload = bytes(body[i:])
                self.pending[pid] = payload
                with p.lock:
                    p.publishes += 1
                    p.published.add(payload)

    def _down(self, pkts):
        """Broker -> client packets: the payloads PUBACKed (positively)."""
        acked = []
        for first, body in pkts:
            if first >> 4 == 2 and len(body) >= 2 and body[1] == 0:  # CONNACK, accepted
                with self.proxy.lock:
                    self.proxy.connack_at.append(time.monotonic())
            elif first >> 4 == 4 and len(body) >= 2:                # PUBACK
                payload = self.pending.pop(body[:2], None)
                reason = body[2] if len(body) > 2 else 0
                if payload is None:
                    with self.proxy.lock:
                        self.proxy.unmatched_pubacks += 1
                elif reason >= 0x80:
                    with self.proxy.lock:
                        self.proxy.rejected.append((payload, reason))
                else:
                    acked.append(payload)
        return acked

    def _run(self):
        p = self.proxy
        bufs = {self.client: b"", self.broker: b""}
        peer = {self.client: self.broker, self.broker: self.client}
        try:
            for s in (self.client, self.broker):
                s.settimeout(p.send_timeout)    # bounds sendall; recv only when readable
            while not (self.abort or p._stop.is_set()):
                r, _, _ = select.select([self.client, self.broker, self.wake_r], [], [])
                if self.wake_r in r:
                    self.wake_r.recv(64)
                    if self.kick is not None:     # as a broker does: DISCONNECT, reason, no properties
                        self.client.sendall(bytes([0xE0, 2, self.kick, 0]))
                        self.kick = None
                    continue
                for src in (self.client, self.broker):
                    if src not in r:
                        continue
                    try:
                        data = src.recv(65536)
                    except OSError as e:
                        data = b""
                        self.closed_by = "%s (%s)" % (
                            "client" if src is self.client else "broker", e)
                    if not data:
                        if self.closed_by is None:
                            self.closed_by = "client" if src is self.client else "broker"
                        return
                    pkts, bufs[src] = mqtt_split(bufs[src] + data)
                    if src is self.client:
                        self._up(pkts)          # recorded before the broker can ack it
                        peer[src].sendall(data)
                    else:
                        acked = self._down(pkts)
                        peer[src].sendall(data)
                        if acked:               # the PUBACKs are on their way to the client
                            with p.lock:
                                p.acked.update(acked)
                                p.pubacks += len(acked)
        except (OSError, ValueError, IndexError) as e:    # IndexError: a malformed packet
            if self.closed_by is None:
                self.closed_by = "error: %r" % (e,)
        finally:
            if self.abort:
                self.closed_by = self.closed_by or "cut"
                _rst_close(self.client)
                _rst_close(self.broker)
            else:
                for s in (self.client, self.broker):
                    try:
                        s.close()
                    except OSError:
                        pass
            for s in (self.wake_r, self.wake_w):
                s.close()
            with p.lock:
                p.closes.append(self.closed_by)
                if self in p._conns:
                    p._conns.remove(self)


class PubackProxy:
    """A TCP proxy on a free 127.0.0.1 port in front of a broker that also
    reads the MQTT (3.1.1; 5 understood) flowing through it. Each accepted
    client connection gets its own connection to the broker; if the broker
    is down (or while cut() refuses), the client socket is closed at once
    with an RST. Bytes are forwarded unchanged both ways. When either side
    closes, both are closed (after everything read from that side has been
    forwarded).

    What it counts (all under .lock):
        acked        payloads of QoS 1 PUBLISHes (client -> broker) whose
                     PUBACK the broker sent and the proxy passed on to the
                     client (packet ids are per connection)
        published    payloads of every QoS 1 PUBLISH the client sent
        publishes, pubacks   how many of each (duplicates included)
        connections  client connections forwarded to the broker
        connected_at time.monotonic() of each of them
        connack_at   time.monotonic() of each accepting CONNACK passed on
        refused      client connections closed at once
        closes       per closed connection, who closed it ("client",
                     "broker", "cut", or an error)

    kick(reason) sends the clients an MQTT 5 DISCONNECT with that reason
    code, as a broker does (0x8E: another client took the session).

    cut(refuse_for) drops the current connections with an RST (SO_LINGER 0)
    on both sides, as a network cut would, and refuses new ones for
    refuse_for seconds. Threads are daemon threads; close() (or the test's
    teardown) stops everything.
    """

    teardown_rank = 1       # before the gateways (fixtures._teardown_all)

    def __init__(self, broker_port, send_timeout=10.0):
        self.broker_port = _port_of(broker_port)
        self.send_timeout = send_timeout
        self.lock = threading.Lock()
        self.acked = set()
        self.published = set()
        self.publishes = 0
        self.pubacks = 0
        self.unmatched_pubacks = 0
        self.rejected = []
        self.connections = 0
        self.connected_at = []
        self.connack_at = []
        self.refused = 0
        self.closes = []
        self.refuse_until = 0.0
        self._conns = []
        self._stop = threading.Event()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        _register(self)
        self._thread = threading.Thread(target=self._accept_loop,
                                        name="proxy-%d" % self.port, daemon=True)
        self._thread.start()

    @property
    def uri(self):
        return "tcp://127.0.0.1:%d" % self.port

    def _accept_loop(self):
        n = 0
        while not self._stop.is_set():
            r, _, _ = select.select([self._lsock, self._wake_r], [], [])
            if self._wake_r in r or self._stop.is_set():
                break
            try:
                client, _ = self._lsock.accept()
            except OSError:
                continue
            if time.monotonic() < self.refuse_until:
                _rst_close(client)
                with self.lock:
                    self.refused += 1
                continue
            try:
                broker = socket.create_connection(("127.0.0.1", self.broker_port), timeout=2.0)
            except OSError:
                _rst_close(client)
                with self.lock:
                    self.refused += 1
                continue
            if time.monotonic() < self.refuse_until:   # cut() ran meanwhile
                _rst_close(client)
                _rst_close(broker)
                with self.lock:
                    self.refused += 1
                continue
            for s in (client, broker):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            n += 1
            conn = _ProxyConn(self, n, client, broker)
            with self.lock:
                if self._stop.is_set():
                    _rst_close(client)
                    _rst_close(broker)
                    break
                self.connections += 1
                self.connected_at.append(time.monotonic())
                self._conns.append(conn)
            conn.thread.start()

    def live(self):
        """Connections open right now."""
        with self.lock:
            return len(self._conns)

    def acked_payloads(self):
        with self.lock:
            return set(self.acked)

    def published_payloads(self):
        with self.lock:
            return set(self.published)

    def _drop(self, abort, timeout=5.0):
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            c.abort = c.abort or abort
            c.wake()
        for c in conns:
            c.thread.join(timeout)
        return len(conns)

    def kick(self, reason):
        """Send each live client an MQTT 5 DISCONNECT with reason (0x8E:
        session taken over) and keep forwarding: the client closes."""
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            c.kick = reason
            c.wake()

    def cut(self, refuse_for=0.0):
        """Drop every open connection with an RST on both sides (a network
        cut) and refuse new ones for refuse_for seconds. Returns how many
        connections were cut; self.refuse_until is when refusing ends."""
        self.refuse_until = time.monotonic() + refuse_for
        return self._drop(abort=True)

    def close(self):
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5.0)
        self._drop(abort=False)
        for s in (self._lsock, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass

    def teardown(self):
        self.close()
