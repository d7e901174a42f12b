"""
test_interop_pub.py - the publish window against what a broker accepts, and
hang-ups that are not about one message (issue 18, point 2).

The real daemon, a real mosquitto, a pty for the device. Two things a broker
other than "mosquitto with defaults, a link that stays up" showed:

  * QoS 2 on MQTT 3.1.1 with a backlog. mosquitto takes at most
    max_inflight_messages (20) unfinished incoming QoS 2 publishes from a
    client (MQTT 5 says so in CONNACK's Receive Maximum; 3.1.1 has no way
    to say it). The gateway used to hand a backlog of up to 1,000 at once:
    the broker dropped the connection each time, and the "refused publish"
    rule (the link died within 2 s of a publish three times in a row)
    discarded the messages: 100 of 100 lost here.
  * A broker that closes every connection shortly after it opened, before
    answering anything (RabbitMQ with the session's queue on a dead cluster
    node did so). That is not about any message, and must cost none.

The gateway is cut off from the broker by harness.PubackProxy (refusing
connections) rather than by stopping mosquitto: the subscriber stays
subscribed throughout, so what it misses is the gateway's loss. The
hang-ups come from HangupProxy below, in front of the same mosquitto.

Each test prints "# interop-pub: NAME sent=N received=M unique=U lost=L
repeats=R" for the issue's closing note. Both protocols: make check runs the
file again with MQTTGW_PROTOCOL=5.
"""

import base64
import glob
import hashlib
import json
import os
import re
import select
import socket
import threading
import time

import harness
from harness import (Broker, Gateway, PubackProxy, Pty, Sub, gateway_config, secret_file,
                     serial_dev, wait_until)
from harness.proxy import _rst_close, mqtt_split
from harness.stats import wait_stats

STATUS = "S013/gateway/status"
SEND = "S013/MOT01/SEND"


def figure(fmt, *args):
    print("# " + (fmt % args if args else fmt), flush=True)


def routes(**send_kw):
    r = {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND"}
    r.update(send_kw)
    return [{"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01"}, r]


def collect(sub, n, prefix="SEQ ", timeout=30.0, first=1):
    """Numbers of the PREFIX lines on SEND in arrival order, until first..n
    all came or the deadline passed."""
    got, seen = [], set()
    want = set(range(first, n + 1))
    deadline = time.monotonic() + timeout
    while not want <= seen and time.monotonic() < deadline:
        m = sub.next(0.2)
        if m is not None and m.topic == SEND and m.payload.startswith(prefix):
            x = int(m.payload[len(prefix):])
            got.append(x)
            seen.add(x)
    return got


def check_stream(name, got, n):
    """Every line 1..n arrived, the first copies in order; prints the figures."""
    firsts, seen = [], set()
    for x in got:
        if x not in seen:
            seen.add(x)
            firsts.append(x)
    want = list(range(1, n + 1))
    missing = sorted(set(want) - seen)
    figure("interop-pub: %s protocol=%d sent=%d received=%d unique=%d lost=%d repeats=%d",
           name, harness.PROTOCOL, n, len(got), len(firsts), len(missing), len(got) - len(firsts))
    assert not missing, "%s: %d of %d lines lost, e.g. %r" % (name, len(missing), n, missing[:20])
    assert firsts == want, "%s: lines out of order: %r" % (
        name, [(a, b) for a, b in zip(firsts, want) if a != b][:10])


def write_lines(pty, n, prefix=b"SEQ"):
    for i in range(1, n + 1):
        pty.write(b"%s %05d\r\n" % (prefix, i))
    pty.wait_drained()


def start(uri_of, broker, rts, **mqtt):
    """The daemon on uri_of (a broker or a proxy), a subscriber on broker;
    returns (pty, sub, gw) once "online" was seen."""
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    m = {"reconnect_min_ms": 100, "reconnect_max_ms": 500}
    m.update(mqtt)
    gw = Gateway(gateway_config(uri_of, serial=[serial_dev("MOT01", pty.path)], routes=rts, mqtt=m))
    sub.expect(STATUS, "online", timeout=15)
    return pty, sub, gw


def test_qos2_backlog_after_an_outage():
    # 100 lines read while the broker is unreachable, on a qos 2 route; the
    # link comes back and the backlog goes out. mosquitto allows 20 QoS 2
    # publishes awaiting PUBREL per client.
    broker = Broker()
    px = PubackProxy(broker)
    pty, sub, gw = start(px, broker, routes(qos=2), clean_session=False)
    mark = gw.log_mark()
    px.cut(refuse_for=3600)
    gw.wait_for_log(r"connection lost", since=mark)
    write_lines(pty, 100)
    mark = gw.log_mark()
    px.refuse_until = 0.0
    gw.wait_for_log(r"mqtt: connected to", since=mark, timeout=15)
    got = collect(sub, 100, timeout=30)
    check_stream("qos2_backlog", got, 100)
    log = gw.log_text()
    assert not re.search(r"times in a row; dropped", log), "a message was discarded as refused"
    figure("interop-pub: qos2_backlog connections=%d closed_by=%r", px.connections, px.closes[-5:])
    gw.assert_running()


# --------------------------------------------------------------------------
# A broker that hangs up right after each connection opened

class HangupProxy:
    """A TCP proxy in front of a broker: plain forwarding, but
      refuse(True)   closes every open connection with an RST and every new
                     one at once (the broker unreachable);
      hang_up(k)     serves the next k connections like a broker whose
                     session cannot be set up: the CONNECT goes through and
                     the CONNACK comes back, then nothing the client sends
                     is passed on (no PUBACK, SUBACK, UNSUBACK comes back),
                     and the connection is closed (FIN) `after` seconds
                     after the CONNACK."""

    teardown_rank = 1

    def __init__(self, broker, after=0.3):
        self.broker_port = broker.port
        self.after = after
        self.lock = threading.Lock()
        self.connections = 0
        self.hangups_left = 0
        self.hung_up = 0
        self.swallowed = 0      # client packets not passed on
        self.refusing = False
        self.live = []
        self._stop = threading.Event()
        self._l = socket.socket()
        self._l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._l.bind(("127.0.0.1", 0))
        self._l.listen(8)
        self.port = self._l.getsockname()[1]
        harness._register(self)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def uri(self):
        return "tcp://127.0.0.1:%d" % self.port

    def refuse(self, on):
        with self.lock:
            self.refusing = on
            live, self.live = (list(self.live), []) if on else ([], self.live)
        for s in live:
            _rst_close(s)

    def hang_up(self, k):
        with self.lock:
            self.hangups_left = k

    def _accept(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._l], [], [], 0.2)
            if not r:
                continue
            try:
                c, _ = self._l.accept()
            except OSError:
                continue
            with self.lock:
                refusing = self.refusing
            if refusing:
                _rst_close(c)
                continue
            try:
                b = socket.create_connection(("127.0.0.1", self.broker_port), timeout=2)
            except OSError:
                _rst_close(c)
                continue
            with self.lock:
                self.connections += 1
                hang = self.hangups_left > 0
                self.hangups_left -= hang
                self.live += [c, b]
            threading.Thread(target=self._serve, args=(c, b, hang), daemon=True).start()

    def _serve(self, c, b, hang):
        up, down, deadline, connected = b"", b"", None, False
        try:
            while not self._stop.is_set():
                t = 0.2 if deadline is None else max(0.0, deadline - time.monotonic())
                r, _, _ = select.select([c, b], [], [], t)
                if deadline is not None and time.monotonic() >= deadline:
                    with self.lock:
                        self.hung_up += 1
                    return
                for src, dst in ((c, b), (b, c)):
                    if src not in r:
                        continue
                    data = src.recv(65536)
                    if not data:
                        return
                    if not hang:
                        dst.sendall(data)
                        continue
                    if src is c:
                        pkts, up = mqtt_split(up + data)
                        for first, body in pkts:
                            if not connected and first >> 4 == 1:
                                b.sendall(_packet(first, body))
                                connected = True
                            else:
                                with self.lock:
                                    self.swallowed += 1
                    else:
                        pkts, down = mqtt_split(down + data)
                        for first, body in pkts:
                            if first >> 4 == 2:     # CONNACK: passed on, the clock starts
                                c.sendall(_packet(first, body))
                                deadline = time.monotonic() + self.after
        except (OSError, ValueError):
            pass
        finally:
            for s in (c, b):
                try:
                    s.close()
                except OSError:
                    pass
            with self.lock:
                self.live = [s for s in self.live if s not in (c, b)]

    def teardown(self):
        self._stop.set()
        self.refuse(True)
        try:
            self._l.close()
        except OSError:
            pass


def _packet(first, body):
    n, rl = len(body), bytearray()
    while True:
        d, n = n & 0x7F, n >> 7
        rl.append(d | (0x80 if n else 0))
        if not n:
            break
    return bytes([first]) + bytes(rl) + bytes(body)


def test_hangups_after_connect_cost_no_message():
    # The broker closes each of 6 connections 0.3 s after its CONNACK
    # without answering anything (as RabbitMQ did with the session's queue
    # on a dead node); the 20 lines read before must all arrive once a
    # connection holds, in order, and nothing is reported refused.
    broker = Broker()
    hp = HangupProxy(broker)
    pty, sub, gw = start(hp, broker, routes(qos=1), clean_session=False)
    mark = gw.log_mark()
    hp.refuse(True)
    gw.wait_for_log(r"connection lost", since=mark)
    write_lines(pty, 20)
    hp.hang_up(6)
    hp.refuse(False)
    wait_until(lambda: hp.hung_up >= 6, 30, what="six connections hung up")
    got = collect(sub, 20, timeout=20)
    figure("interop-pub: hangups connections=%d hung_up=%d swallowed=%d",
           hp.connections, hp.hung_up, hp.swallowed)
    check_stream("hangups_after_connect", got, 20)
    assert not re.search(r"times in a row; dropped", gw.log_text()), \
        "a hang-up that was not about a message cost one"
    gw.assert_running()


# --------------------------------------------------------------------------
# A subscription the broker refuses

def dynsec_broker(client, password, acls):
    """A mosquitto whose dynamic security plugin knows one client (user
    client, password) with a role of acls (dynsec acl entries); everything
    else is allowed, anonymous clients included (the test's own)."""
    salt = os.urandom(12)
    pw = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101, 64)
    conf = {"defaultACLAccess": {"publishClientSend": True, "publishClientReceive": True,
                                 "subscribe": True, "unsubscribe": True},
            "clients": [{"username": client, "password": base64.b64encode(pw).decode(),
                         "salt": base64.b64encode(salt).decode(), "iterations": 101,
                         "roles": [{"rolename": "r"}]}],
            "groups": [], "roles": [{"rolename": "r", "acls": acls}]}
    path = harness.tmppath("dynsec.json")
    with open(path, "w") as f:
        json.dump(conf, f)
    # the plugin of the broker under test: tests/interop/fetch-mosquitto.sh unpacks one beside it
    found = glob.glob(os.path.join(os.path.dirname(os.path.realpath(harness.MOSQUITTO)), "root", "usr", "lib",
                                   "*", "mosquitto_dynamic_security.so"))
    plugin = found[0] if found else glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")[0]
    return Broker(extra_conf="plugin %s\nplugin_opt_config_file %s" % (os.path.realpath(plugin), path))


def test_refused_subscription_is_reported():
    # The broker lets the gateway (user "gw") publish but not subscribe to
    # its command topic: the SUBACK says 0x80 (MQTT 3.1.1) or 0x87 (MQTT 5).
    # Commands will never arrive while everything else looks healthy, so
    # the gateway says so: an error-level log line naming the filter and
    # what to do, the device's error topic, the stats. (mosquitto's
    # acl_file does not refuse a SUBSCRIBE: it grants it and withholds
    # the messages; its dynamic security plugin refuses, as RabbitMQ does.)
    broker = dynsec_broker("gw", "gw-pw-1", [{"acltype": "subscribeLiteral", "topic": "S013/MOT01/RECM",
                                              "priority": 0, "allow": False}])
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    gw = Gateway(gateway_config(
        broker, serial=[serial_dev("MOT01", pty.path, error_topic="${station}/${name}/error")],
        routes=routes(qos=1),
        mqtt={"username": "gw", "password_file": secret_file("gw.pw", "gw-pw-1"), "stats_topic": "S013/gateway/stats", "stats_interval": 1}))
    sub.expect(STATUS, "online", timeout=15)
    line = gw.wait_for_log(r"error: mqtt: the broker refused the subscription to S013/MOT01/RECM "
                           r"\((failure|Not authorized), reason code 0x(80|87)\): commands on it will "
                           r"not arrive\. Let the gateway's MQTT user .*ACL", timeout=10).group(0)
    m = sub.expect("S013/MOT01/error", timeout=10)
    assert "refused the subscription" in m.payload and m.payload.endswith(": S013/MOT01/RECM"), m.payload
    st = wait_stats(sub, "S013/gateway/stats", lambda s: s.get("sub_refused", 0) >= 1, 10,
                    "sub_refused >= 1")
    # the rest of the gateway works: the uplink flows, the link stays up
    pty.write(b"SEQ 00001\r\n")
    assert collect(sub, 1, timeout=10) == [1]
    assert len(re.findall(r"mqtt: connected to", gw.log_text())) == 1
    figure("interop-pub: refused subscription protocol=%d: %s; error topic %r; sub_refused=%d",
           harness.PROTOCOL, line[:90], m.payload, st["sub_refused"])
    gw.assert_running()


def test_qos2_link_cut_mid_flow():
    # The link is cut (RST) while QoS 2 publishes are between PUBREC and
    # PUBCOMP: the broker keeps them in the gateway's persistent session,
    # awaiting a PUBREL that the gateway's new client cannot send (paho
    # keeps packet ids per client). Every line must still arrive. Before
    # the gateway started the next session clean, a cut that left the
    # broker's quota full (20) made every later connection die at its first
    # publish: the uplink stopped for good (1 run in 4 here: 300 lost).
    broker = Broker()
    px = PubackProxy(broker)
    pty, sub, gw = start(px, broker, routes(qos=2), clean_session=False)
    write_lines(pty, 1000)      # the old client's packet ids go far from where a new one starts
    collect(sub, 1000, timeout=40)
    n, cuts, written = 1400, [], [1000]

    def feed():                 # 1 line / 2 ms: publishes are in flight when the cut comes
        t = time.monotonic()
        for i in range(1001, n + 1):
            pty.write(b"SEQ %05d\r\n" % i)
            written[0] = i
            t += 0.002
            time.sleep(max(0.0, t - time.monotonic()))
    th = threading.Thread(target=feed, daemon=True)
    th.start()
    for at in (1100, 1250):
        wait_until(lambda: written[0] >= at and px.live() > 0, 20, what="line %d written, a link up" % at)
        cuts.append(px.cut())
    th.join(20)
    got = list(range(1, 1001)) + [x for x in collect(sub, n, timeout=40, first=1001) if x > 1000]
    figure("interop-pub: qos2_link_cut connections=%d cuts=%r", px.connections, cuts)
    check_stream("qos2_link_cut", got, n)
    gw.assert_running()
