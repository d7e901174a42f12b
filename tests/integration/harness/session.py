"""
harness/session.py - SessionSub: a counting MQTT 3.1.1 subscriber on a raw
socket, for the MQTT reliability suites (test_mqtt_reliability,
test_mqtt_connection).

A small client, stdlib only (paho is not linked into tests/sim). It keeps a
fixed client id with clean session off and a QoS 1 subscription,
acknowledges everything, reconnects by itself when the broker goes away,
and records each message with its DUP flag and arrival time, so that
losses, duplicates and the order of first arrivals can be counted exactly.
It can log in (username, password), which the connection suite's password
tests need. Registered as a fixture: the runner stops it after the test.
"""

import socket
import threading
import time

from .fixtures import _register
from .wait import wait_until


class ProtocolError(Exception):
    pass


def _mqtt_str(s):
    if isinstance(s, str):
        s = s.encode("utf-8")
    return len(s).to_bytes(2, "big") + s


def _remaining_length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(first, body):
    return bytes([first]) + _remaining_length(len(body)) + body


def _split_packets(buf):
    """Complete packets at the start of buf: ([(type_byte, body)], rest)."""
    out = []
    i = 0
    while True:
        if len(buf) - i < 2:
            break
        mult, n, j = 1, 0, i + 1
        while True:
            if j >= len(buf):
                return out, buf[i:]
            b = buf[j]
            n += (b & 0x7f) * mult
            mult *= 128
            j += 1
            if not b & 0x80:
                break
            if mult > 128 ** 4:
                raise ProtocolError("bad remaining length")
        if len(buf) - j < n:
            break
        out.append((buf[i], bytes(buf[j:j + n])))
        i = j + n
    return out, buf[i:]


class SessionSub:
    """A QoS 1 subscriber with a fixed client id and (by default) clean
    session off, running in a thread. It reconnects by itself every 20 ms
    while the broker is away and resubscribes on every connect.

        msgs      [(topic, payload bytes, dup, retain, t_monotonic)]
        connects  [(t_monotonic, session_present)] (after SUBACK)
        refusals  [CONNACK return codes != 0]
    """

    def __init__(self, port, topics, client_id, clean=False, username=None, password=None,
                 timeout=10.0):
        self.port = port
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        self.client_id = client_id
        self.clean = clean
        self.username = username
        self.password = password
        self.msgs = []
        self.connects = []
        self.refusals = []
        self.errors = []
        self._stop = threading.Event()
        self._sock = None
        _register(self)             # stopped by the runner's end_test()
        self._thread = threading.Thread(target=self._run, name="sessionsub-" + client_id,
                                        daemon=True)
        self._thread.start()
        if timeout:
            self.wait_connects(1, timeout)

    # -- the thread
    def _run(self):
        while not self._stop.is_set():
            try:
                self._session()
            except (OSError, ProtocolError) as e:
                self.errors.append("%.3f %r" % (time.monotonic(), e))
            finally:
                s, self._sock = self._sock, None
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
            if self._stop.wait(0.02):
                break

    def _connect_packet(self):
        flags = 0 if not self.clean else 0x02
        payload = _mqtt_str(self.client_id)
        if self.username is not None:
            flags |= 0x80
            payload += _mqtt_str(self.username)
            if self.password is not None:
                flags |= 0x40
                payload += _mqtt_str(self.password)
        body = _mqtt_str("MQTT") + bytes([4, flags]) + (0).to_bytes(2, "big") + payload
        return _packet(0x10, body)

    def _session(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=2.0)
        self._sock = s
        s.settimeout(0.2)
        s.sendall(self._connect_packet())
        buf = b""
        connected = False
        while not self._stop.is_set():
            try:
                data = s.recv(262144)
            except socket.timeout:
                continue
            if not data:
                raise ProtocolError("broker closed the connection")
            now = time.monotonic()
            pkts, buf = _split_packets(buf + data)
            acks = []
            for first, body in pkts:
                kind = first >> 4
                if kind == 2:                               # CONNACK
                    if len(body) < 2:
                        raise ProtocolError("short CONNACK")
                    if body[1] != 0:
                        self.refusals.append(body[1])
                        raise ProtocolError("CONNACK return code %d" % body[1])
                    present = bool(body[0] & 1)
                    sub = b"".join(_mqtt_str(t) + b"\x01" for t in self.topics)
                    acks.append(_packet(0x82, (1).to_bytes(2, "big") + sub))
                    connected = present
                elif kind == 9:                             # SUBACK
                    if any(b == 0x80 for b in body[2:]):
                        raise ProtocolError("subscription refused: %r" % body)
                    self.connects.append((now, connected))
                elif kind == 3:                             # PUBLISH
                    qos = (first >> 1) & 3
                    tlen = int.from_bytes(body[:2], "big")
                    topic = body[2:2 + tlen].decode("utf-8", "replace")
                    i = 2 + tlen
                    if qos:
                        pid = body[i:i + 2]
                        i += 2
                        if qos == 1:
                            acks.append(b"\x40\x02" + pid)
                        else:
                            acks.append(b"\x50\x02" + pid)  # PUBREC
                    self.msgs.append((topic, body[i:], bool(first & 0x08), bool(first & 1), now))
                elif kind == 6:                             # PUBREL -> PUBCOMP
                    acks.append(b"\x70\x02" + body[:2])
            if acks:
                s.sendall(b"".join(acks))

    # -- the test side
    def wait_connects(self, n, timeout=10.0):
        """Wait until the subscription is live for the n-th time; returns
        that connect's session_present flag."""
        try:
            wait_until(lambda: len(self.connects) >= n, timeout,
                       what="subscriber %s to be subscribed (connect #%d)" % (self.client_id, n))
        except AssertionError as e:
            raise AssertionError("%s; refusals %r, errors %r" % (e, self.refusals,
                                                                  self.errors[-3:]))
        return self.connects[n - 1][1]

    def payloads(self, topic, since=0.0):
        return [m[1].decode("utf-8", "replace") for m in list(self.msgs)
                if m[0] == topic and m[4] >= since]

    def wait_payload(self, topic, payload, timeout=10.0):
        def seen():
            for m in list(self.msgs):
                if m[0] == topic and m[1] == payload.encode():
                    return m
            return None
        return wait_until(seen, timeout, what="%r on %s at %s" % (payload, topic, self.client_id))

    def stop(self):
        self._stop.set()
        s = self._sock
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(2.0)

    def teardown(self):
        self.stop()
