"""
test_mqtt_reliability.py - "MQTT that loses nothing", end to end: the real
daemon, real mosquitto brokers that are killed and restarted, ptys.

What a user sees, case by case:
  * a broker SIGKILLed in the middle of a 10,000-frame QoS 1 uplink stream
    and restarted: the gateway loses nothing (every frame arrives or was
    acknowledged by the broker), in order (QoS 1 may duplicate);
  * the network cut (RST) in the middle of such a stream, the broker up:
    every frame arrives, in order;
  * the gateway SIGKILLed mid-stream with buffer.dir and restarted: nothing
    read from the port is lost;
  * failover across mqtt.uris; commands published while the gateway is down
    reach the port when it comes back (clean_session = false);
  * TLS (ssl:// and mqtts://, client certificates, verification on by
    default, verify = false); username + password_file (a wrong password is
    retried with backoff, a password file readable by others is refused);
  * MQTT 5 round trip and reason codes in words;
  * buffer.max_messages keeps the newest, counts the dropped; QoS 0 is not
    buffered unless buffer.qos0; retained states come back after a broker
    restart that lost them.

Counting subscriber: SessionSub below is a small MQTT 3.1.1 client on a raw
socket (stdlib only; paho is not linked into tests/sim). It keeps a fixed
client id with clean session off and a QoS 1 subscription, acknowledges
everything, reconnects by itself when the broker goes away, and records each
message with its DUP flag and arrival time, so that losses, duplicates and
the order of first arrivals can be counted exactly.

Broker-side durability: mosquitto saves its persistence file only on a clean
exit here (autosave_interval 0), so the tests that SIGKILL a broker first
restart it cleanly once with the subscriber connected: the subscriber's
session is then on disk and survives the later SIGKILL. "max_inflight_messages
0" makes mosquitto write every message to the subscriber at once instead of
keeping all but 20 in memory. Even so mosquitto loses some messages it has
already acknowledged when it is SIGKILLed (a run of up to a few hundred
around the kill), so the broker-kill test counts what the broker
acknowledged: the gateway reaches it through harness.PubackProxy, which
records every QoS 1 PUBLISH whose PUBACK it passed back to the gateway, and
only a frame neither delivered nor acknowledged is the gateway's loss. The
same proxy cuts the connection (RST) for the network-cut test.

Figures (sent, received, lost by the gateway / by the broker, duplicated,
time to recover) are printed as "# " lines; tests/run.py passes a test's
stdout through.
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import (Broker, Gateway, PubackProxy, Pty, Sub, free_port, gateway_config,
                     mosquitto_passwd, pub, retained_now, secret_file, serial_dev, sync_out,
                     tmppath, wait_retained, wait_until)

TIMEOUT = 60

# Open problems these tests show (tests/run.py lists them as SKIP with the
# reason; MQTTGW_RUN_KNOWN=1 runs them). See issue 4's closing note.
KNOWN_ISSUES = {}

ACCEPT = "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$"
SEQ_RE = re.compile(r"^SEQ (\d+)$")


def figure(fmt, *args):
    print("# " + (fmt % args if args else fmt), flush=True)


# --------------------------------------------------------------------------
# A counting MQTT 3.1.1 subscriber on a raw socket

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
        harness._register(self)     # stopped by the runner's end_test()
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


def seq_stats(payloads, n_sent):
    """Counts over the SEQ frames received (in arrival order)."""
    nums = []
    for p in payloads:
        m = SEQ_RE.match(p)
        if m:
            nums.append(int(m.group(1)))
    seen = set()
    firsts = []
    for n in nums:
        if n not in seen:
            seen.add(n)
            firsts.append(n)
    lost = [i for i in range(1, n_sent + 1) if i not in seen]
    stray = sorted(n for n in seen if not 1 <= n <= n_sent)
    backwards = [(a, b) for a, b in zip(firsts, firsts[1:]) if b < a]
    return {"received": len(nums), "distinct": len(seen), "lost": lost,
            "dups": len(nums) - len(seen), "stray": stray, "backwards": backwards,
            "firsts": firsts}


def ranges(nums):
    """[1,2,3,7,9,10] -> "1-3,7,9-10" (for failure messages)."""
    out = []
    for n in sorted(nums):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ",".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in out[:40]) + \
        (" ..." if len(out) > 40 else "")


def assert_complete_in_order(st, n_sent, what, context=""):
    assert not st["lost"], "%s: %d of %d frames lost: %s%s" % (
        what, len(st["lost"]), n_sent, ranges(st["lost"]), context)
    assert not st["stray"], "%s: frames never written arrived: %s" % (what, st["stray"][:20])
    assert not st["backwards"], \
        "%s: first arrivals out of order at %d places, first: %d after %d" % (
            what, len(st["backwards"]), st["backwards"][0][1], st["backwards"][0][0])


# --------------------------------------------------------------------------
# Rig

def routes(seq_qos=1):
    return [{"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01", "accept": ACCEPT},
            {"from": "serial:MOT01", "match": "^POS([XYZ])([+-][0-9]+)$",
             "to": "mqtt:${station}/MOT01/POS/$1", "payload": "$2", "retain": True, "qos": 0},
            {"from": "serial:MOT01", "match": "^Q0 ", "to": "mqtt:${station}/MOT01/Q0",
             "qos": 0},
            {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND", "qos": seq_qos}]


def rel_config(broker, port_path, station="S013", mqtt=None, buffer=None):
    """A gateway for these tests: persistent session, fast reconnect."""
    m = {"keepalive": 5, "clean_session": False, "reconnect_min_ms": 100,
         "reconnect_max_ms": 1000}
    m.update(mqtt or {})
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", port_path)], routes=routes(),
                         station=station, mqtt=m)
    if buffer is not None:
        cfg["buffer"] = buffer
    return cfg


def frames(a, b):
    """SEQ lines a..b inclusive, as bytes."""
    return b"".join(b"SEQ %06d\r\n" % i for i in range(a, b + 1))


def write_seq(pty, a, b, chunk=100):
    for i in range(a, b + 1, chunk):
        pty.write(frames(i, min(b, i + chunk - 1)))


def write_fitting(pty, a, most):
    """Write SEQ frames from a on, at most `most`, until the port would
    block (nobody reads it: the pty holds about 20 KB). Returns (number of
    the last frame started, bytes of it not yet written)."""
    last = a - 1
    while last - a + 1 < most:
        data = frames(last + 1, last + 1)
        try:
            k = os.write(pty.master, data)
        except BlockingIOError:
            return last, b""
        last += 1
        if k < len(data):
            return last, data[k:]
    return last, b""


def session_sync_in(pty, sub, topic, timeout=15.0):
    """Write SYNC lines until one arrives at sub (port read, broker link up)."""
    deadline = time.monotonic() + timeout
    k = 0
    wait = 0.2
    while True:
        k += 1
        pty.write(b"SYNC %d\r\n" % k)
        end = min(deadline, time.monotonic() + wait)
        while time.monotonic() < end:
            if ("SYNC %d" % k) in sub.payloads(topic):
                return
            time.sleep(0.01)
        if time.monotonic() >= deadline:
            raise AssertionError("no SYNC line written to %s reached %s within %.0fs"
                                 % (pty.path, topic, timeout))
        wait = min(wait * 1.5, 1.0)


def session_sync_in_sub(pty, sub, topic, timeout=15.0):
    """session_sync_in for a harness Sub (mosquitto_sub)."""
    deadline = time.monotonic() + timeout
    k = 0
    while True:
        k += 1
        pty.write(b"SYNC %d\r\n" % k)
        try:
            while True:
                m = sub.expect(topic, timeout=min(1.0, max(0.05, deadline - time.monotonic())))
                if m.payload == "SYNC %d" % k:
                    return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise AssertionError("no SYNC line written to %s reached %s within %.0fs"
                                     % (pty.path, topic, timeout))


def both_ways(broker, pty, sub, k):
    """A command reaches the port (DRVZ+k), a frame (HELLO k) and a position
    (POSZ, k) from the port are published: the link works both ways."""
    pub(broker, "S013/MOT01/RECM", "DRVZ+%d" % k)
    assert pty.read_line() == b"DRVZ+%d\r\n" % k
    pty.write(b"HELLO %d\r\n" % k)
    sub.expect("S013/MOT01/SEND", "HELLO %d" % k)
    pty.write(b"POSZ+%06d\r\n" % k)
    sub.expect("S013/MOT01/POS/Z", "+%06d" % k)


def connected_count(gw):
    return len(re.findall(r"mqtt: connected to", gw.log_text()))


def connect_attempts(gw):
    return len(re.findall(r"mqtt: connecting to", gw.log_text()))


def counting_broker(topic, client_id):
    """A broker that limits neither in-flight nor queued messages, and a
    SessionSub (client_id) on topic to count what arrives."""
    broker = Broker(extra_conf="max_inflight_messages 0\nmax_queued_messages 0")
    return broker, SessionSub(broker.port, [topic], client_id)


def buffer_dir():
    """An empty directory for the daemon's buffer.dir (mode 0700)."""
    bufdir = tmppath("buffer")
    os.mkdir(bufdir, 0o700)
    return bufdir


def saved_session_broker(sub_topics, client_id, extra_conf=""):
    """A broker with persistence whose file already holds client_id's QoS 1
    session (one clean restart with the subscriber connected)."""
    broker = Broker(persistence=True, extra_conf="max_inflight_messages 0\nmax_queued_messages 0\n" + extra_conf)
    sub = SessionSub(broker.port, sub_topics, client_id)
    broker.restart()
    present = sub.wait_connects(2)
    assert present, "mosquitto did not keep %s's session across a clean restart" % client_id
    return broker, sub


# --------------------------------------------------------------------------
# 1. broker SIGKILLed in the middle of a 10,000-frame QoS 1 stream
#
# The gateway talks to the broker through a PubackProxy, which records the
# frames whose PUBACK the broker sent (and the proxy passed on). Under QoS 1
# the gateway's duty ends at PUBACK: a frame the subscriber never got is
# lost by the gateway only if the broker never acknowledged it; one that was
# acknowledged and then died with mosquitto is the broker's loss (reported,
# not asserted).

SEQ_PAYLOAD = b"SEQ %06d"


def split_losses(st, proxy):
    """The frames lost at the subscriber, split by what the proxy saw:
    (acked by the broker, sent by the gateway but never acked, never sent)."""
    acked = proxy.acked_payloads()
    published = proxy.published_payloads()
    by_broker, unacked, unsent = [], [], []
    for i in st["lost"]:
        p = SEQ_PAYLOAD % i
        if p in acked:
            by_broker.append(i)
        elif p in published:
            unacked.append(i)
        else:
            unsent.append(i)
    return by_broker, unacked, unsent


def proxy_counts(proxy):
    with proxy.lock:
        return proxy.publishes, proxy.pubacks


def synced_gateway(broker, pty, sub, topic, env=None, **kw):
    """The gateway on pty (rel_config(broker, ..., **kw)), connected and
    proven to publish what the port reads (a SYNC line reached sub)."""
    gw = Gateway(rel_config(broker, pty.path, **kw), env=env)
    gw.wait_for_log(r"mqtt: connected to", timeout=10)
    session_sync_in(pty, sub, topic)
    return gw


def first_half(proxy, pty, sub, topic):
    """Write SEQ 1-5000 to the port. Returns when the writing began, how
    many frames had arrived at sub by its end, and how many QoS 1 PUBLISHes
    and PUBACKs had gone through the proxy."""
    t0 = time.monotonic()
    write_seq(pty, 1, 5000)
    return (t0, len(sub.payloads(topic, since=t0))) + proxy_counts(proxy)


def finish_stream(pty, sub, topic, n, label):
    """Wait for the last frame SEQ n, then for END written after it (the
    port is read in order, so nothing of the stream is still on its way).
    A timeout is a figure, not the failure: the count that follows says
    what is missing."""
    try:
        wait_until(lambda: "SEQ %06d" % n in sub.payloads(topic), 15,
                   what="the last frame SEQ %06d" % n)
        pty.write(b"END\r\n")                      # ordered after every frame
        sub.wait_payload(topic, "END", timeout=10)
    except AssertionError as e:
        figure("%s: %s", label, e)


def last_arrival(sub, topic, default):
    """When the last message on topic arrived at sub (default: none did)."""
    return max((m[4] for m in list(sub.msgs) if m[0] == topic), default=default)


def reconnect_figure(label, back, sub, topic, proxy, t_up, since):
    """How soon after t_up (the broker or link back) the gateway was
    through again: its first TCP connection and CONNACK after since, its
    first and last message on topic."""
    after = [m[4] for m in list(sub.msgs) if m[0] == topic and m[4] > t_up]
    t_all = last_arrival(sub, topic, t_up)
    t_gw = min((t for t in proxy.connected_at if t > since), default=None)
    t_ca = min((t for t in proxy.connack_at if t > since), default=None)
    figure("%s: gateway reconnected (TCP) %.2fs after %s, CONNACK %.2fs after, first "
           "message %.2fs after, all %.2fs after; %d DUP-flagged", label,
           (t_gw - t_up) if t_gw else -1, back, (t_ca - t_up) if t_ca else -1,
           (min(after) - t_up) if after else -1, t_all - t_up,
           sum(1 for m in list(sub.msgs) if m[0] == topic and m[2]))


def test_broker_sigkill_mid_stream_loses_nothing():
    n = 10000
    topic = "S013/MOT01/SEND"
    broker, sub = saved_session_broker([topic], "rel-count-1")
    proxy = PubackProxy(broker)
    pty = Pty()
    gw = synced_gateway(proxy, pty, sub, topic)

    t0, got_before, pubs_before, acks_before = first_half(proxy, pty, sub, topic)
    broker.kill()                                  # SIGKILL, mid-stream
    t_kill = time.monotonic()
    write_seq(pty, 5001, 7500)                     # while the broker is down
    pty.wait_drained()
    broker.start()                                 # same port, same persistence file
    t_up = time.monotonic()
    write_seq(pty, 7501, n)                        # while the gateway reconnects
    present = sub.wait_connects(3, timeout=15)
    wait_until(lambda: connected_count(gw) >= 2, 15, what="the gateway to reconnect")
    finish_stream(pty, sub, topic, n, "broker SIGKILL mid-stream")
    blog = broker.log_text()
    malformed = len(re.findall(r"Client mqttgw-S013 disconnected due to malformed packet",
                               blog))
    v31 = len(re.findall(r"as mqttgw-S013 \(p1,", blog))
    garbled = [t for t in re.findall(r"Received PUBLISH from mqttgw-S013 \([^']*'(.*?)', \.\.\.",
                                     blog) if not t.startswith("S013/")]
    pl = sub.payloads(topic, since=t0)
    st = seq_stats(pl, n)
    by_broker, unacked, unsent = split_losses(st, proxy)
    by_gateway = sorted(unacked + unsent)
    pubs, acks = proxy_counts(proxy)
    figure("broker SIGKILL mid-stream: sent %d, received %d (%d distinct), lost by the "
           "gateway %d (%d sent but never acked, %d never sent), lost by the broker %d "
           "(acked, never delivered), duplicated %d, out of order %d",
           n, st["received"], st["distinct"], len(by_gateway), len(unacked), len(unsent),
           len(by_broker), st["dups"], len(st["backwards"]))
    if st["lost"]:
        figure("broker SIGKILL mid-stream: lost by the gateway %s; lost by the broker %s",
               ranges(by_gateway) or "-", ranges(by_broker) or "-")
    figure("broker SIGKILL mid-stream: %d frames had arrived at the kill, %d QoS 1 PUBLISHes "
           "and %d PUBACKs through the proxy; broker down %.2fs; subscriber session kept: %s",
           got_before, pubs_before, acks_before, t_up - t_kill, present)
    reconnect_figure("broker SIGKILL mid-stream", "the restart", sub, topic, proxy, t_up, t_up)
    figure("broker SIGKILL mid-stream: through the proxy %d QoS 1 PUBLISHes, %d PUBACKs, "
           "%d connections (%d refused while the broker was down), closed by %s",
           pubs, acks, proxy.connections, proxy.refused, proxy.closes)
    figure("broker SIGKILL mid-stream: gateway connects after the restart %d, dropped by "
           "the broker for a malformed packet %d, fell back to MQTT 3.1 %d, PUBLISHes on "
           "garbled topics %d %r", connected_count(gw) - 1, malformed, v31, len(garbled),
           garbled[:3])
    assert present, "the subscriber's session did not survive the broker SIGKILL " \
                    "(mosquitto persistence): the count is meaningless"
    assert proxy.connections >= 2, "the gateway did not reconnect through the proxy"
    context = "; %d of them sent but never acked, %d never sent to the broker" % (
        len(unacked), len(unsent))
    if malformed:
        context += "; the broker dropped the gateway %d times for a malformed packet" % malformed
    assert_complete_in_order(dict(st, lost=by_gateway), n,
                             "broker SIGKILL mid-stream, lost by the gateway", context)
    gw.assert_running()


# --------------------------------------------------------------------------
# 1b. the network cut (RST) in the middle of a 10,000-frame QoS 1 stream
#
# The broker stays up: the proxy drops the gateway's connection with an RST
# on both sides, refuses connections for a second, then lets them through
# again. Whatever was in flight (in the sockets, in the proxy) is gone and
# was never acknowledged, so the gateway has to send it again: every frame
# reaches the subscriber, in order.

def test_network_cut_mid_stream_loses_nothing():
    n = 10000
    topic = "S013/MOT01/SEND"
    refuse = 1.0
    broker, sub = counting_broker(topic, "rel-count-cut")
    proxy = PubackProxy(broker)
    pty = Pty()
    gw = synced_gateway(proxy, pty, sub, topic)

    t0, got_before, pubs_before, acks_before = first_half(proxy, pty, sub, topic)
    cut = proxy.cut(refuse_for=refuse)             # RST both ways, mid-stream
    t_cut = time.monotonic()
    t_up = proxy.refuse_until                      # connections let through from here
    write_seq(pty, 5001, 7500)                     # while the link is down
    pty.wait_drained()
    write_seq(pty, 7501, n)                        # around and after the link is back
    wait_until(lambda: proxy.connections >= 2, 15,
               what="the gateway to reconnect through the proxy")
    finish_stream(pty, sub, topic, n, "network cut mid-stream")
    st = seq_stats(sub.payloads(topic, since=t0), n)
    by_broker, unacked, unsent = split_losses(st, proxy)
    pubs, acks = proxy_counts(proxy)
    figure("network cut mid-stream: sent %d, received %d (%d distinct), lost %d (%d sent but "
           "never acked, %d never sent, %d acked by the broker), duplicated %d, out of "
           "order %d", n, st["received"], st["distinct"], len(st["lost"]), len(unacked),
           len(unsent), len(by_broker), st["dups"], len(st["backwards"]))
    if st["lost"]:
        figure("network cut mid-stream: lost %s", ranges(st["lost"]))
    figure("network cut mid-stream: %d frames had arrived at the cut, %d QoS 1 PUBLISHes and "
           "%d PUBACKs through the proxy; %d connection cut, refused for %.1fs (%d attempts)",
           got_before, pubs_before, acks_before, cut, refuse, proxy.refused)
    reconnect_figure("network cut mid-stream", "the link was back", sub, topic, proxy, t_up, t_cut)
    figure("network cut mid-stream: through the proxy %d QoS 1 PUBLISHes, %d PUBACKs, "
           "%d connections, closed by %s; gateway connects %d",
           pubs, acks, proxy.connections, proxy.closes, connected_count(gw))
    assert cut == 1, "the cut found %d connections to drop, expected the gateway's" % cut
    assert_complete_in_order(st, n, "network cut mid-stream",
                             "; %d of them sent but never acked, %d never sent to the broker, "
                             "%d acked by the broker" % (len(unacked), len(unsent),
                                                         len(by_broker)))
    gw.assert_running()


# --------------------------------------------------------------------------
# 2. gateway SIGKILLed mid-stream with buffer.dir, restarted

def test_gateway_sigkill_with_buffer_dir_loses_nothing():
    n = 4000
    topic = "S013/MOT01/SEND"
    broker, sub = counting_broker(topic, "rel-count-2")
    pty = Pty()
    bufdir = buffer_dir()
    gw = synced_gateway(broker, pty, sub, topic, buffer={"dir": bufdir})

    t0 = time.monotonic()
    write_seq(pty, 1, 1500)
    # Mid-stream: the first frames are through, most are still to come.
    wait_until(lambda: len(sub.payloads(topic, since=t0)) >= 20, 10,
               what="the first 20 frames to arrive")
    got_before = len(sub.payloads(topic, since=t0))
    gw.kill()                                      # SIGKILL, mid-stream
    assert gw.returncode == -signal.SIGKILL
    pending = pty.pending_input()
    stored = sum(len(fs) for _, _, fs in os.walk(bufdir))
    # While nobody reads the port the pty keeps what is written (about
    # 20 KB here): write what fits.
    last, rest = write_fitting(pty, 1501, 800)
    gw.start()                                     # same config, same buffer.dir
    t_up = time.monotonic()
    pty.write(rest)
    write_seq(pty, last + 1, n)
    finish_stream(pty, sub, topic, n, "gateway SIGKILL mid-stream")
    st = seq_stats(sub.payloads(topic, since=t0), n)
    t_all = last_arrival(sub, topic, t_up)
    figure("gateway SIGKILL mid-stream (buffer.dir): sent %d, received %d (%d distinct), "
           "lost %d, duplicated %d, out of order %d", n, st["received"], st["distinct"],
           len(st["lost"]), st["dups"], len(st["backwards"]))
    figure("gateway SIGKILL mid-stream: killed with 1500 frames written and %d arrived, "
           "%d bytes unread in the port, %d files in buffer.dir; %d frames "
           "written while it was down; all arrived %.2fs after the restart",
           got_before, pending, stored, last - 1500, t_all - t_up)
    if st["lost"]:
        figure("gateway SIGKILL mid-stream: lost %s", ranges(st["lost"]))
    assert_complete_in_order(st, n, "gateway SIGKILL mid-stream")


def test_gateway_killed_as_read_returns_loses_nothing():
    # The window of the test above, made certain: SIGKILL lands just as
    # read() hands the daemon bytes from the port (lib_killread), before
    # the daemon could write them anywhere. Under load that is where a kill
    # often lands (the read wakes the pty's writer, and the reader is
    # preempted on its way out with the bytes in hand): 342 frames, one full
    # read, were lost there once. The restarted daemon must publish them.
    topic = "S013/MOT01/SEND"
    broker, sub = counting_broker(topic, "rel-count-kr")
    pty = Pty()
    bufdir = buffer_dir()
    arm = tmppath("killread.arm")
    env = harness.preload_env(os.path.join(harness.BUILD, "sim", "lib_killread.so"))
    env["MQTTGW_KILLREAD_ARM"] = arm
    gw = synced_gateway(broker, pty, sub, topic, buffer={"dir": bufdir}, env=env)
    t0 = time.monotonic()
    write_seq(pty, 1, 100)
    wait_until(lambda: "SEQ %06d" % 100 in sub.payloads(topic, since=t0), 10,
               what="frames 1-100 before the kill")
    open(arm, "w").close()
    pty.write(frames(101, 200))                    # the read that takes these is the last
    wait_until(lambda: not gw.running(), 10, what="the gateway to be killed in read()")
    assert gw.returncode == -signal.SIGKILL, gw.returncode
    pending = pty.pending_input()
    os.unlink(arm)
    gw.env = None
    gw.start()
    write_seq(pty, 201, 300)
    try:
        wait_until(lambda: "SEQ %06d" % 300 in sub.payloads(topic), 15, what="SEQ 000300")
    except AssertionError as e:
        figure("killed as read() returns: %s", e)
    st = seq_stats(sub.payloads(topic, since=t0), 300)
    figure("killed as read() returns (buffer.dir): %d of 1200 bytes of 101-200 were still in the "
           "port; sent 300, received %d (%d distinct), lost %d, duplicated %d", pending,
           st["received"], st["distinct"], len(st["lost"]), st["dups"])
    if st["lost"]:
        figure("killed as read() returns: lost %s", ranges(st["lost"]))
    assert_complete_in_order(st, 300, "killed as read() returns")


def test_buffer_dir_survives_sigkill_while_broker_down():
    # The store itself, without the read window of the test above: frames
    # buffered while the broker is down and fully handled by the daemon
    # survive a SIGKILL of the gateway and go out when the broker is back.
    n = 300
    topic = "S013/MOT01/SEND"
    broker, sub = saved_session_broker([topic], "rel-count-2b")
    pty = Pty()
    bufdir = buffer_dir()
    gw = synced_gateway(broker, pty, sub, topic, buffer={"dir": bufdir})
    base = up_frames(gw)

    broker.stop()
    gw.wait_for_log(r"mqtt: connection lost", timeout=10)
    t0 = time.monotonic()
    write_seq(pty, 1, n)
    pty.wait_drained()
    frames_read(gw, base + n)
    stored = sum(len(fs) for _, _, fs in os.walk(bufdir))
    gw.kill()
    gw.start()                                     # broker still down
    wait_until(lambda: connect_attempts(gw) >= 3, 10, what="the restarted gateway to try")
    broker.start()
    t_up = time.monotonic()
    finish_stream(pty, sub, topic, n, "buffer.dir across a SIGKILL")
    st = seq_stats(sub.payloads(topic, since=t0), n)
    t_all = last_arrival(sub, topic, t_up)
    figure("buffer.dir across a SIGKILL with the broker down: sent %d, received %d "
           "(%d distinct), lost %d, duplicated %d, out of order %d; %d files in buffer.dir "
           "at the kill; all arrived %.2fs after the broker came back", n, st["received"],
           st["distinct"], len(st["lost"]), st["dups"], len(st["backwards"]), stored,
           t_all - t_up)
    assert_complete_in_order(st, n, "buffer.dir across a SIGKILL")


# --------------------------------------------------------------------------
# 3. failover across uris

def test_failover_to_second_uri():
    b1 = Broker()
    b2 = Broker()
    pty = Pty()
    sub2 = Sub(b2, ["S013/#"])
    gw = Gateway(rel_config(b1, pty.path, mqtt={"uri": None, "uris": [b1.uri, b2.uri]}))
    gw.wait_for_log(r"mqtt: connected to", timeout=10)
    wait_retained(b1, "S013/gateway/status", "online")
    sync_out(b1, pty)
    attempts0 = connect_attempts(gw)
    on_b2_before = b2.foreign_clients().count("mqttgw-S013")

    b1.kill()
    t_kill = time.monotonic()
    sub2.expect("S013/gateway/status", "online", timeout=15)
    t_online = time.monotonic()
    wait_until(lambda: connected_count(gw) >= 2, 5, what="the daemon to log the reconnect")
    attempts = connect_attempts(gw) - attempts0
    # Traffic continues on the second broker, both ways.
    sync_out(b2, pty)
    both_ways(b2, pty, sub2, 2)
    wait_retained(b2, "S013/gateway/status", "online")
    # And it stays there: no more connection attempts once connected.
    window0 = connect_attempts(gw)
    sub2.expect_none(1.5, topic="S013/gateway/status")
    extra = connect_attempts(gw) - window0
    on_b2 = b2.foreign_clients().count("mqttgw-S013") - on_b2_before
    said = re.findall(r"mqtt: connected to (\S+)", gw.log_text())
    figure("failover: online on the second broker %.2fs after the first was killed; "
           "%d connect attempt(s) by the daemon, %d connection(s) at the second broker; "
           "the log says connected to %s", t_online - t_kill, attempts, on_b2, said)
    problems = []
    if on_b2_before:
        problems.append("the gateway was on the second broker before the failover")
    if not 1 <= attempts <= 3:
        problems.append("%d connection attempts to fail over (expected 1..3)" % attempts)
    if on_b2 != 1:
        problems.append("%d connections at the second broker (expected 1)" % on_b2)
    if extra:
        problems.append("%d more connection attempts while connected to the second broker"
                        % extra)
    if said[-1] != b2.uri:
        problems.append("after the failover the log says \"connected to %s\" (the dead "
                        "broker); it is connected to %s" % (said[-1], b2.uri))
    assert not problems, "\n".join(problems)
    gw.assert_running()


# --------------------------------------------------------------------------
# 4. commands published while the gateway is down

def test_commands_while_gateway_down_are_delivered():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/gateway/status"])
    gw = Gateway(rel_config(broker, pty.path))
    sub.expect("S013/gateway/status", "online", timeout=10)
    sync_out(broker, pty)                          # subscribed once, with clean_session false

    def delivered_after_start(cmds, how):
        """Publish cmds while the gateway is down; none reaches the port
        until it starts, then each once, in order. Returns the time from
        the start to the last of them."""
        for c in cmds:
            pub(broker, "S013/MOT01/RECM", c, qos=1)
        assert pty.read_available(0.2) == b"", "something reached the port with the gateway down"
        t0 = time.monotonic()
        gw.start()
        got = [pty.read_line(10) for _ in cmds]
        took = time.monotonic() - t0
        assert got == [c.encode() + b"\r\n" for c in cmds], \
            "commands published while the gateway was %s: %r" % (how, got)
        return took

    # Down by SIGTERM (clean disconnect): the broker keeps the session.
    assert gw.terminate() == 0
    sub.expect("S013/gateway/status", "offline", timeout=5)
    cmds = ["DRVZ+%d" % i for i in range(1, 6)] + ["STOP"]
    t_first = delivered_after_start(cmds, "stopped")

    # Down by SIGKILL (the broker sees the connection drop): the same. The
    # first batch must be acknowledged before the kill, or the broker rightly
    # delivers it again (QoS 1 is at least once): wait for its PUBACKs.
    sub.expect("S013/gateway/status", "online", timeout=10)
    wait_until(lambda: len(re.findall(r"Received PUBACK from mqttgw-S013", broker.log_text())) >= len(cmds),
               10, what="the gateway's PUBACKs for the first batch")
    gw.kill()
    sub.expect("S013/gateway/status", "offline", timeout=10)   # the will
    cmds2 = ["DRVY-%d" % i for i in range(1, 4)] + ["HOME"]
    t_second = delivered_after_start(cmds2, "killed")
    figure("offline commands: %d + %d delivered after restart (%.2fs / %.2fs from start)",
           len(cmds), len(cmds2), t_first, t_second)
    pty.expect_nothing(0.5)                        # exactly once each, nothing more


# --------------------------------------------------------------------------
# 5. TLS

_tls = {}


def _openssl(*args):
    r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    if r.returncode != 0:
        raise harness.HarnessError("openssl %s failed: %s" % (" ".join(args),
                                                              r.stdout.decode()[-500:]))


def make_pki(d):
    """CA, a second unrelated CA, a server cert for 127.0.0.1 and a client
    cert, all EC P-256 (fast), in d."""
    p = {k: os.path.join(d, k) for k in ("ca.crt", "ca.key", "ca2.crt", "ca2.key", "server.crt",
                                         "server.key", "client.crt", "client.key")}
    for ca, cn in (("ca", "mqttgw test CA"), ("ca2", "some other CA")):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", p[ca + ".key"], "-out", p[ca + ".crt"], "-days", "2",
                 "-subj", "/CN=" + cn)
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                "extendedKeyUsage = serverAuth\n")
    cext = os.path.join(d, "client.ext")
    with open(cext, "w") as f:
        f.write("extendedKeyUsage = clientAuth\n")
    for who, cn, e in (("server", "127.0.0.1", ext), ("client", "mqttgw-client", cext)):
        csr = os.path.join(d, who + ".csr")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", p[who + ".key"], "-out", csr, "-subj", "/CN=" + cn)
        _openssl("x509", "-req", "-in", csr, "-CA", p["ca.crt"], "-CAkey", p["ca.key"],
                 "-CAcreateserial", "-out", p[who + ".crt"], "-days", "2", "-extfile", e)
    for k in p:
        os.chmod(p[k], 0o600 if k.endswith(".key") else 0o644)
    return p


def setup_module():
    _tls.clear()
    _tls.update(make_pki(harness.tmpdir()))


def tls_broker():
    """A broker with the harness's plain listener plus two TLS listeners:
    tls_port (server cert only) and mtls_port (client cert required)."""
    tls_port, mtls_port = free_port(), free_port()
    while mtls_port == tls_port:
        mtls_port = free_port()
    conf = ("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
            "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
            "require_certificate true\n"
            % (tls_port, _tls["ca.crt"], _tls["server.crt"], _tls["server.key"],
               mtls_port, _tls["ca.crt"], _tls["server.crt"], _tls["server.key"]))
    b = Broker(extra_conf=conf)
    for p in (tls_port, mtls_port):
        wait_until(lambda: harness._can_connect(p), 5, what="TLS listener %d" % p)
    return b, tls_port, mtls_port


def test_tls_connects_verifies_and_refuses():
    broker, tls_port, mtls_port = tls_broker()
    sub = Sub(broker, ["+/gateway/status"])
    ca, ca2 = _tls["ca.crt"], _tls["ca2.crt"]
    client = {"cert_file": _tls["client.crt"], "key_file": _tls["client.key"]}
    cases = [  # station, uri, tls group, expected to come online
        ("SSL", "ssl://127.0.0.1:%d" % tls_port, {"ca_file": ca}, True),
        ("MQTTS", "mqtts://127.0.0.1:%d" % tls_port, {"ca_file": ca}, True),
        ("MTLS", "ssl://127.0.0.1:%d" % mtls_port, dict(client, ca_file=ca), True),
        ("NOCERT", "ssl://127.0.0.1:%d" % mtls_port, {"ca_file": ca}, False),
        ("OTHERCA", "ssl://127.0.0.1:%d" % tls_port, {"ca_file": ca2}, False),
        ("NOVERIFY", "ssl://127.0.0.1:%d" % tls_port, {"ca_file": ca2, "verify": False}, True),
    ]
    gws, ptys = {}, {}
    for st, uri, tls, _ in cases:
        pty = ptys[st] = Pty()
        gws[st] = Gateway(rel_config(uri, pty.path, station=st, mqtt={"tls": tls}),
                          name="gw-" + st)
    t0 = time.monotonic()
    online = {}
    for st, uri, tls, ok in cases:
        if ok:
            try:
                sub.expect("%s/gateway/status" % st, "online", timeout=max(0.5, 10 - (
                    time.monotonic() - t0)))
                online[st] = True
            except AssertionError:
                online[st] = False
    # Traffic over TLS, both schemes.
    sub2 = Sub(broker, ["SSL/MOT01/SEND", "MQTTS/MOT01/SEND"])
    for st in ("SSL", "MQTTS"):
        if online.get(st):
            session_sync_in_sub(ptys[st], sub2, "%s/MOT01/SEND" % st)
    # The refused ones (OTHERCA: the broker's certificate is signed by a CA
    # the gateway does not trust, verification left at its default; NOCERT:
    # no client certificate where one is required): never online during a
    # bounded window, and the log says why.
    sub.expect_none(max(0.0, 3.0 - (time.monotonic() - t0)), topic="OTHERCA/gateway/status")
    sub.drain()
    for st in ("OTHERCA", "NOCERT"):
        seen = [m for m in sub.seen if m.topic == "%s/gateway/status" % st]
        assert not seen, "%s came online: %r" % (st, seen)
        assert retained_now(broker, "%s/gateway/status" % st) is None
    msgs = {}
    for st, uri, tls, ok in cases:
        if not ok:
            m = gws[st].wait_for_log(r"mqtt: cannot connect to .*", timeout=5)
            msgs[st] = m.group(0)
            gws[st].assert_running()
    figure("TLS: online %s; refused: %s", sorted(k for k, v in online.items() if v),
           "; ".join("%s: %s" % kv for kv in sorted(msgs.items())))
    problems = []
    for st, uri, tls, ok in cases:
        if ok and not online[st]:
            problems.append("%s (%s, tls %s) never came online; log: %s" % (
                st, uri, tls, gws[st].log_tail(4).replace("\n", " | ")))
    if not re.search(r"certificate|verif", msgs["OTHERCA"], re.I):
        problems.append("a broker signed by another CA was refused without saying why: %r"
                        % msgs["OTHERCA"])
    for st in ("OTHERCA", "NOCERT"):
        if "mqttgw-%s" % st in broker.foreign_clients():
            problems.append("%s completed an MQTT CONNECT on the broker" % st)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# 6. username + password_file

def password_broker(user="gwuser", password="s3cret"):
    pwfile = mosquitto_passwd(tmppath("mosquitto.passwd"), {user: password})
    return Broker(extra_conf="allow_anonymous false\npassword_file %s" % pwfile)


def attempt_times(gw, window):
    """Poll the daemon's log for "connecting to" lines for window seconds;
    returns the times (relative to the start) they were first seen."""
    seen = []
    base = connect_attempts(gw)
    t0 = time.monotonic()
    while time.monotonic() - t0 < window:
        k = connect_attempts(gw) - base
        while len(seen) < k:
            seen.append(time.monotonic() - t0)
        time.sleep(0.01)
    return seen


def test_wrong_password_backoff_and_password_file_mode():
    broker = password_broker()
    good = secret_file("good.pw", "s3cret", 0o600)
    bad = secret_file("bad.pw", "wrong", 0o600)
    loose = secret_file("loose.pw", "s3cret", 0o644)
    problems = []

    # Mode 0644: refused at start, exit 2, FILE:LINE and the fix in the message.
    cfg = rel_config(broker, "/dev/null", station="LOOSE",
                     mqtt={"username": "gwuser", "password_file": loose})
    gl = Gateway(cfg, name="gw-loose")
    rc = gl.wait(10)
    text = gl.log_text()
    assert rc == 2, "mqttgw with a 0644 password file: exit %r\n%s" % (rc, text)
    cfgname = re.escape(os.path.basename(gl.config_path))
    m = re.search(r"%s:(\d+): .*" % cfgname, text)
    assert m, "no FILE:LINE in %r" % text
    lines = open(gl.config_path).read().splitlines()
    lineno = int(m.group(1))
    assert 1 <= lineno <= len(lines) and re.search(r"mqtt|password_file", lines[lineno - 1]), \
        "line %d of the config is %r, not the mqtt group or its password_file" % (
            lineno, lines[lineno - 1] if 1 <= lineno <= len(lines) else None)
    assert "chmod 600" in m.group(0) and "loose.pw" in m.group(0), m.group(0)
    assert "mqttgw-LOOSE" not in broker.clients(), "it connected to the broker anyway"
    figure("password_file mode 0644: exit %d, %s", rc, m.group(0).split(": ", 1)[1])

    # Wrong password: a clear error, retried with backoff (500 ms doubling to 2 s).
    pty = Pty()
    gb = Gateway(rel_config(broker, pty.path, station="BAD",
                            mqtt={"username": "gwuser", "password_file": bad,
                                  "reconnect_min_ms": 500, "reconnect_max_ms": 2000}),
                 name="gw-bad")
    m = gb.wait_for_log(r"mqtt: cannot connect to .*", timeout=10)
    refused0 = len(re.findall(r"Sending CONNACK to \S+ \(0, 5\)", broker.log_text()))
    times = attempt_times(gb, 5.0)
    refused = len(re.findall(r"Sending CONNACK to \S+ \(0, 5\)", broker.log_text())) - refused0
    gaps = [b - a for a, b in zip(times, times[1:])]
    figure("wrong password: %d connect attempts by the daemon and %d refused CONNECTs at the "
           "broker in the 5.0 s after the first refusal, gaps %s s; log: %s",
           len(times), refused, ["%.2f" % g for g in gaps], m.group(0))
    if not re.search(r"not authori[sz]ed|bad user ?name or password", m.group(0), re.I):
        problems.append("the refusal does not say why in words: %r" % m.group(0))
    # 500, 1000, 2000, 2000 ms: 3..4 attempts in 5 s; a tight loop makes dozens.
    if not 2 <= len(times) <= 6:
        problems.append("%d connection attempts in 5 s: %s" % (len(times), times))
    if refused > 6:
        problems.append("%d refused CONNECTs at the broker in 5 s" % refused)
    if not all(g >= 0.4 for g in gaps):
        problems.append("attempts closer than reconnect_min_ms: %s" % gaps)
    if not all(b >= a - 0.2 for a, b in zip(gaps, gaps[1:])):
        problems.append("the backoff shrinks: %s" % gaps)
    if "mqttgw-BAD" in broker.clients():
        problems.append("connected with a wrong password")
    gb.assert_running()

    # Mode 0600 and the right password: it connects.
    pty2 = Pty()
    Gateway(rel_config(broker, pty2.path, station="GOOD",
                       mqtt={"username": "gwuser", "password_file": good}), name="gw-good")
    sub = SessionSub(broker.port, ["GOOD/#"], "rel-auth-sub", clean=True, username="gwuser",
                     password="s3cret")
    sub.wait_payload("GOOD/gateway/status", "online", timeout=10)
    session_sync_in(pty2, sub, "GOOD/MOT01/SEND")
    assert "mqttgw-GOOD" in broker.clients()
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# 7. MQTT 5

def test_mqtt5_round_trip_and_reason_codes():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    gw = Gateway(rel_config(broker, pty.path, mqtt={"protocol": 5}))
    sub.expect("S013/gateway/status", "online", timeout=10)
    sync_out(broker, pty)
    both_ways(broker, pty, sub, 5)
    assert re.search(r"New client connected from \S+ as mqttgw-S013 \(p5,", broker.log_text()), \
        "the broker did not see an MQTT 5 connection"
    gw.assert_running()

    # A broker that refuses: the reason code, in words, in the log.
    pb = password_broker()
    bad = secret_file("bad5.pw", "wrong", 0o600)
    pty2 = Pty()
    g5 = Gateway(rel_config(pb, pty2.path, station="V5",
                            mqtt={"protocol": 5, "username": "gwuser", "password_file": bad}),
                 name="gw-v5")
    m = g5.wait_for_log(r"mqtt: cannot connect to .*", timeout=10)
    figure("MQTT 5 refusal logged as: %s", m.group(0))
    assert re.search(r"(bad user ?name or password|not authori[sz]ed)\W.*reason code 13[45]",
                     m.group(0), re.I), "no reason code in words: %r" % m.group(0)
    g5.assert_running()


# --------------------------------------------------------------------------
# 8. buffer bounds, QoS 0 offline

def up_frames(gw, timeout=5.0):
    """The daemon's uplink frame counter (SIGUSR1 stats)."""
    mark = gw.log_mark()
    gw.signal(signal.SIGUSR1)
    return int(gw.wait_for_log(r"stats: up (\d+) frames", timeout=timeout, since=mark).group(1))


def frames_read(gw, n, timeout=10.0):
    """Wait until the daemon has handled n uplink frames (SIGUSR1 stats)."""
    def done():
        gw.signal(signal.SIGUSR1)
        ms = re.findall(r"stats: up (\d+) frames", gw.log_text())
        return ms and int(ms[-1]) >= n
    wait_until(done, timeout, interval=0.1, what="mqttgw to handle %d frames" % n)


def test_buffer_keeps_newest_and_qos0_rules():
    broker, sub = saved_session_broker(["BND/#", "Q0T/#"], "rel-count-8")
    p1, p2 = Pty(), Pty()
    g1 = Gateway(rel_config(broker, p1.path, station="BND",
                            buffer={"max_messages": 100}), name="gw-bounded")
    g2 = Gateway(rel_config(broker, p2.path, station="Q0T",
                            buffer={"qos0": True}), name="gw-qos0")
    for gw, p, st in ((g1, p1, "BND"), (g2, p2, "Q0T")):
        gw.wait_for_log(r"mqtt: connected to", timeout=10)
        session_sync_in(p, sub, "%s/MOT01/SEND" % st)
    base1, base2 = up_frames(g1), up_frames(g2)

    broker.stop()
    for gw in (g1, g2):
        gw.wait_for_log(r"mqtt: connection lost", timeout=10)
    t_down = time.monotonic()
    # Bounded gateway: QoS 0 frames (not kept) and 300 QoS 1 frames.
    p1.write(b"".join(b"Q0 %d\r\n" % i for i in range(1, 11)))
    write_seq(p1, 1, 300)
    # qos0 = true gateway: QoS 0 frames interleaved with QoS 1 ones.
    p2.write(b"".join(b"Q0 %d\r\nSEQ %06d\r\n" % (i, i) for i in range(1, 21)))
    for p in (p1, p2):
        p.wait_drained()
    frames_read(g1, base1 + 310)
    frames_read(g2, base2 + 40)
    broker.start()
    t_up = time.monotonic()
    for gw, p, st in ((g1, p1, "BND"), (g2, p2, "Q0T")):
        wait_until(lambda: connected_count(gw) >= 2, 15, what="%s to reconnect" % st)
        p.write(b"END\r\n")
        sub.wait_payload("%s/MOT01/SEND" % st, "END", timeout=10)
    seq1 = sub.payloads("BND/MOT01/SEND", since=t_down)
    q01 = sub.payloads("BND/MOT01/Q0", since=t_down)
    st1 = seq_stats(seq1, 300)
    kept = st1["firsts"]
    m = re.search(r"mqtt: (\d+) queued messages? were dropped.*", g1.log_text())
    figure("buffer.max_messages = 100: wrote 300 QoS 1 + 10 QoS 0 frames offline; "
           "%d arrived (%s), %d duplicated, QoS 0 arrived %d; log: %s",
           len(kept), ranges(kept), st1["dups"], len(q01), m.group(0) if m else None)
    seq2 = sub.payloads("Q0T/MOT01/SEND", since=t_down)
    q02 = sub.payloads("Q0T/MOT01/Q0", since=t_down)
    figure("buffer.qos0 = true: %d of 20 QoS 0 frames and %d of 20 QoS 1 frames arrived "
           "after %.2fs offline", len(q02), len(seq_stats(seq2, 20)["firsts"]), t_up - t_down)

    assert len(kept) <= 100, "%d buffered frames delivered, max_messages = 100" % len(kept)
    assert kept == list(range(301 - len(kept), 301)), \
        "not the newest ones in order: %s" % ranges(kept)
    assert len(kept) == 100, "only %d of the newest 100 arrived: %s" % (len(kept), ranges(kept))
    assert q01 == [], "QoS 0 frames written offline arrived without buffer.qos0: %r" % q01
    assert m and int(m.group(1)) == 200, \
        "the log does not report 200 dropped messages: %r" % (m.group(0) if m else None)
    assert q02 == ["Q0 %d" % i for i in range(1, 21)], \
        "with buffer.qos0 = true the QoS 0 frames written offline: %r" % q02
    assert seq_stats(seq2, 20)["firsts"] == list(range(1, 21))


# --------------------------------------------------------------------------
# 9. retained states republished after a broker restart that lost them

def test_retained_state_republished_after_broker_restart():
    broker = Broker()                              # no persistence
    pty = Pty()
    gw = Gateway(rel_config(broker, pty.path))
    wait_retained(broker, "S013/gateway/status", "online", timeout=10)
    sync_out(broker, pty)
    pty.write(b"POSZ+000123\r\nPOSX-000007\r\n")
    wait_retained(broker, "S013/MOT01/POS/Z", "+000123")
    wait_retained(broker, "S013/MOT01/POS/X", "-000007")
    pty.write(b"POSZ+000124\r\n")                 # the newest state is the one kept
    wait_retained(broker, "S013/MOT01/POS/Z", "+000124")

    broker.restart()                               # forgets every retained message
    t_up = time.monotonic()
    wait_until(lambda: connected_count(gw) >= 2, 15, what="the gateway to reconnect")
    wait_retained(broker, "S013/gateway/status", "online", timeout=10)
    wait_retained(broker, "S013/MOT01/POS/Z", "+000124", timeout=10)
    wait_retained(broker, "S013/MOT01/POS/X", "-000007", timeout=10)
    figure("retained republish: states back %.2fs after the broker restart",
           time.monotonic() - t_up)
    sync_out(broker, pty)                          # subscriptions restored
    gw.assert_running()


# --------------------------------------------------------------------------
# MQTT 5: the broker's Receive Maximum, and "offline" at shutdown with a queue

def test_mqtt5_receive_maximum_burst_and_offline_at_shutdown():
    # mosquitto tells an MQTT 5 client to keep at most 20 publishes
    # unacknowledged. More handed to paho would wait inside it, woken about
    # once a second (a 1,100-frame burst once took 37 s, the ports held).
    # And a SIGTERM with thousands still queued must still leave the
    # retained status "offline".
    n = 3000
    topic = "S013/MOT01/SEND"
    broker = Broker(extra_conf="max_queued_messages 0")
    sub = SessionSub(broker.port, [topic, "S013/gateway/status"], "rel-mqtt5")
    pty = Pty()
    gw = synced_gateway(broker, pty, sub, topic, mqtt={"protocol": 5})
    t0 = time.monotonic()
    write_seq(pty, 1, n)
    wait_until(lambda: "SEQ %06d" % n in sub.payloads(topic), 20,
               what="the last of %d frames over MQTT 5" % n)
    t_all = time.monotonic() - t0
    st = seq_stats(sub.payloads(topic, since=t0), n)
    figure("MQTT 5 burst: %d frames in %.2fs, received %d (%d distinct), lost %d, "
           "out of order %d", n, t_all, st["received"], st["distinct"], len(st["lost"]),
           len(st["backwards"]))
    assert_complete_in_order(st, n, "MQTT 5 burst")

    # a second burst, and SIGTERM while most of it is still queued
    write_seq(pty, n + 1, 2 * n)
    assert gw.terminate() == 0
    m = retained_now(broker, "S013/gateway/status")
    log = gw.log_text()
    figure("MQTT 5 SIGTERM with a backlog: retained status %r, exit log: %s", m,
           re.findall(r"mqtt: \d+ messages not acknowledged at exit.*", log))
    assert m is not None and m.payload == "offline", "retained status after SIGTERM: %r" % (m,)
    assert "No more messages can be buffered" not in log
    # a stop with the broker up drains the queue first: nothing read is left behind
    assert not re.findall(r"messages not acknowledged at exit", log), \
        "SIGTERM left queued messages behind"


# --------------------------------------------------------------------------
# The link dies without a TCP error: an MQTT 5 DISCONNECT from the broker,
# or acknowledgements that stop coming

def test_mqtt5_broker_disconnect_is_a_lost_link():
    # A broker may end an MQTT 5 connection with a DISCONNECT packet
    # (mosquitto for a packet over max_packet_size; EMQX or HiveMQ for a
    # kick, a session takeover, a shutdown). paho 1.3.12 does not report
    # that as a lost connection: the gateway must, or it thinks itself
    # connected for ever, queues everything and never reconnects.
    # (3000: above the gateway's info document, ~1.3 KB here, which goes out on every connect)
    broker = Broker(extra_conf="max_packet_size 3000")
    pty = Pty()
    sub = Sub(broker, ["S013/MOT01/SEND"])
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", pty.path, max_frame=6000)],
                         routes=routes(),
                         mqtt={"protocol": 5, "keepalive": 5, "clean_session": False,
                               "reconnect_min_ms": 100, "reconnect_max_ms": 1000})
    gw = Gateway(cfg)
    wait_retained(broker, "S013/gateway/status", "online", timeout=10)
    pty.write(b"OWN 0\r\n")
    sub.expect("S013/MOT01/SEND", "OWN 0", timeout=10)
    t0 = time.monotonic()
    pty.write(b"BIG " + b"x" * 5000 + b"\r\n")      # over the broker's max_packet_size
    gw.wait_for_log(r"mqtt: connection lost: broker disconnected us: .*\(reason code 149\); "
                    r"reconnecting", timeout=10)
    pty.write(b"OWN 1\r\n")
    sub.expect("S013/MOT01/SEND", "OWN 1", timeout=20)
    t_back = time.monotonic() - t0
    # the oversized one is what every connection died on: dropped after three, and said so
    gw.wait_for_log(r"the connection died within \d+ ms of sending a publish to S013/MOT01/SEND, "
                    r"3 times in a row; dropped", timeout=5)
    pty.write(b"OWN 2\r\n")
    sub.expect("S013/MOT01/SEND", "OWN 2", timeout=5)
    figure("MQTT 5 DISCONNECT (packet too large): %d connects, traffic back after %.2fs",
           connected_count(gw), t_back)
    assert connected_count(gw) >= 2
    assert not [m for m in sub.seen if m.payload.startswith("BIG ")]
    gw.assert_running()


def test_ack_timeout_replaces_the_link_and_keeps_order():
    # The broker stops answering while TCP stays up (here: SIGSTOP). After
    # mqtt.ack_timeout_ms the link is taken for dead and the queue is sent
    # again in order on a new one. Sending the oldest again on the same
    # connection would put it after a newer state (ON, OFF, ON) and leave
    # the retained state at a value the device no longer has.
    broker = Broker()
    pty = Pty()
    topic = "S013/MOT01/STATE"
    sub = Sub(broker, [topic])
    state = {"from": "serial:MOT01", "match": "^STATE (.*)$", "to": "mqtt:${station}/MOT01/STATE",
             "payload": "$1", "retain": True, "qos": 1}
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", pty.path)], routes=[state] + routes(),
                         mqtt={"keepalive": 30, "clean_session": False, "reconnect_min_ms": 100,
                               "reconnect_max_ms": 1000, "ack_timeout_ms": 1000})
    gw = Gateway(cfg)
    wait_retained(broker, "S013/gateway/status", "online", timeout=10)
    sync_out(broker, pty)
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        pty.write(b"STATE ON\r\nSTATE OFF\r\n")
        gw.wait_for_log(r"mqtt: connection lost: no acknowledgement for a publish to "
                        r"S013/MOT01/STATE in 1000 ms; reconnecting", timeout=10)
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    wait_until(lambda: connected_count(gw) >= 2, 15, what="the gateway to reconnect")
    pty.write(b"STATE DONE\r\n")                    # everything before it is delivered first
    sub.expect(topic, "DONE", timeout=10)
    seen = [m.payload for m in sub.seen if m.topic == topic]
    before = seen[:seen.index("DONE")]
    figure("ack timeout: link replaced after %.2fs, the subscriber saw %s",
           time.monotonic() - t0, ", ".join(seen))
    assert before and before[-1] == "OFF", \
        "the last state before DONE was %r, not OFF: %s (an old state sent again after a newer one)" \
        % (before[-1] if before else None, seen)
    gw.assert_running()
