"""
test_serial_world.py - serial devices in the real world, end to end: the
real daemon, a real mosquitto, ptys standing in for the ports.

Covered: unplug and replug (retained availability, refused commands for an
absent port, other ports unaffected), the per-device command queue (one in
flight with a reply pattern, reply timeouts, a bounded queue), an RS485 bus
of three addressed controllers, request/response (MQTT 5 response topic and
correlation data; the 3.1.1 .../req/ID -> .../res/ID convention), the rate
limit, and the framings beyond eol (fixed, idle gap, hex, checksums).

The fail-safe (broker lost for failsafe_grace_ms, shutdown, deadman), reloads
that remake a port, software RS485 and requests cut short are
test_serial_failsafe.py: the two were one file, split by concern; their
shared rig (PortPeer, dev_routes, one_port) is harness/serialrig.py.

Readiness is proven, not slept for: the gateway's and each device's status
topic say "online" and the broker has logged the daemon's subscriptions.
Devices that must answer (or record when they were written to) are played
by a Python thread on the pty master (PortPeer) that timestamps every read
and write. Fixed sleeps appear only as stimulus (a gap the idle framer must
see, time for the rate limiter's bucket to refill) or as bounded "nothing
happens" windows where that is the assertion.
"""

import os
import re
import select
import signal
import subprocess
import time

import harness
from harness import (CLOCK_SLACK_MS, Broker, Gateway, PortPeer, Pty, Sub, crc16_modbus, dev_routes,
                     gateway_config, gateway_ready, one_port, pub, pub_lines, retained_now,
                     serial_dev, spawn, tail, wait_retained, wait_until)

TIMEOUT = 60

STATION = "S013"


# --------------------------------------------------------------------------
# Helpers

ready = gateway_ready   # harness/gateway.py


def expect_bytes(pty, want, timeout=5.0):
    """The next bytes on the port are exactly want, and nothing follows them
    in the same write (binary frames have no line end to read up to).
    Returns the arrival time."""
    deadline = time.monotonic() + timeout
    got = b""
    while len(got) < len(want):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("port %s: expected %s within %.1fs, got %s"
                                 % (pty.path, want.hex(" "), timeout, got.hex(" ") or "nothing"))
        got += pty.read_available(min(left, 0.05))
    t = time.monotonic()
    got += pty.read_available(0)
    if got != want:
        raise AssertionError("port %s: expected %s, got %s" % (pty.path, want.hex(" "), got.hex(" ")))
    return t


def binary_dev(name, port, **kw):
    """serial_dev() without its eol: fixed and idle framings take no eol
    unless one is configured, and a binary frame must not get CR LF."""
    d = serial_dev(name, port, **kw)
    del d["eol"]
    return d


def lrc8(data):
    return (-sum(data)) & 0xFF


def nmea(body):
    """$BODY*HH with the NMEA xor checksum of BODY (the part after '$')."""
    x = 0
    for ch in body.encode():
        x ^= ch
    return "$%s*%02X" % (body, x)


def stats_line(gw, name, since):
    """SIGUSR1, then the daemon's counters line for serial device name."""
    gw.signal(signal.SIGUSR1)
    return gw.wait_for_log(r"stats: %s \w+: in (\d+) frames, out (\d+), over-long (\d+), refused (\d+)"
                           % re.escape(name), since=since)


class Sub5:
    """mosquitto_sub -V mqttv5 printing topic, payload (hex) and correlation
    data (%D) of every message. Live when the constructor returns (synced
    through a private topic, like harness.Sub)."""

    def __init__(self, broker, topics, timeout=10.0):
        self.n = id(self) & 0xFFFFFF
        self.sync_topic = "hx-sync5/%d/%d" % (os.getpid(), self.n)
        self.log = harness.tmppath("sub5-%d.log" % self.n)
        self.queue = []
        self._buf = b""
        argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5",
                "-i", "hx-sub5-%d-%d" % (os.getpid(), self.n), "-q", "1", "-F", "%t %x %D"]
        for t in list(topics) + [self.sync_topic]:
            argv += ["-t", t]
        errf = open(self.log, "ab")
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=errf)
        errf.close()
        harness._register(self)
        deadline = time.monotonic() + timeout
        k = 0
        while True:
            k += 1
            pub(broker, self.sync_topic, "sync-%d" % k)
            if self._wait(lambda m: m[0] == self.sync_topic, min(0.5, deadline - time.monotonic())):
                self.queue = [m for m in self.queue if m[0] != self.sync_topic]
                return
            if time.monotonic() >= deadline or self.proc.poll() is not None:
                raise AssertionError("mosquitto_sub -V mqttv5 not ready: %s" % tail(self.log))

    def _read(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, timeout))
        if r:
            data = os.read(self.proc.stdout.fileno(), 65536)
            self._buf += data
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                topic, hexpay, corr = line.decode("utf-8", "replace").split(" ", 2)
                self.queue.append((topic, bytes.fromhex(hexpay).decode("utf-8", "replace"), corr))
            return bool(data)
        return False

    def _wait(self, pred, timeout):
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            for m in self.queue:
                if pred(m):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._read(left)

    def expect(self, topic, timeout=5.0):
        """The first message on topic: (topic, payload, correlation data)."""
        m = self._wait(lambda m: m[0] == topic, timeout)
        if m is None:
            raise AssertionError("expected a message on %s within %.1fs; got %r"
                                 % (topic, timeout, self.queue))
        self.queue.remove(m)
        return m

    def teardown(self):
        harness.kill_group(self.proc)
        try:
            self.proc.stdout.close()
        except Exception:
            pass


def pub5(broker, topic, payload, response_topic=None, correlation=None):
    """mosquitto_pub -V mqttv5 with a response topic and correlation data."""
    argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5", "-q", "1",
            "-t", topic, "-m", payload]
    if response_topic is not None:
        argv += ["-D", "publish", "response-topic", response_topic]
    if correlation is not None:
        argv += ["-D", "publish", "correlation-data", correlation]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "mosquitto_pub -V mqttv5 failed: %s" % r.stdout.decode()


# --------------------------------------------------------------------------
# 1. Unplug and replug

def test_unplug_replug_status_and_absent_commands():
    broker = Broker()
    pa = Pty(link="ttyA")
    pb = Pty(link="ttyB")
    sub = Sub(broker, ["S013/#"])
    err_a = "S013/A/error"
    gw = Gateway(gateway_config(broker, serial=[
        serial_dev("A", pa.path, reopen_ms=200, error_topic="${station}/${name}/error"),
        serial_dev("B", pb.path, reopen_ms=200, error_topic="${station}/${name}/error")],
        routes=dev_routes("A") + dev_routes("B")))
    ready(broker, sub, ["A", "B"], ["S013/A/RECM", "S013/B/RECM"])
    wait_retained(broker, "S013/A/status", "online")

    pub(broker, "S013/A/RECM", "HELLO A")
    assert pa.read_line() == b"HELLO A\r\n"
    pub(broker, "S013/B/RECM", "HELLO B")
    assert pb.read_line() == b"HELLO B\r\n"

    # Unplug A: the master goes away and so does the symlink.
    link = pa.link
    mark = gw.log_mark()
    pa.close()
    assert not os.path.lexists(link)
    sub.expect("S013/A/status", "offline", timeout=5)
    wait_retained(broker, "S013/A/status", "offline")

    # A command for the absent port is refused, visibly.
    pub(broker, "S013/A/RECM", "ABSENT 1")
    m = sub.expect(err_a, timeout=5)
    assert m.payload == "port offline: ABSENT 1", m
    gw.wait_for_log(r"command on S013/A/RECM for A refused: port offline", since=mark)

    # B kept working throughout: both directions, while A is gone.
    pub(broker, "S013/B/RECM", "WHILE A AWAY")
    assert pb.read_line() == b"WHILE A AWAY\r\n"
    pb.write(b"B SAYS 1\r\n")
    sub.expect("S013/B/SEND", "B SAYS 1")
    assert retained_now(broker, "S013/B/status").payload == "online"

    # Replug: a new pty at the same path.
    pa2 = Pty(link="ttyA")
    assert pa2.path == link
    sub.expect("S013/A/status", "online", timeout=5)
    wait_retained(broker, "S013/A/status", "online")

    # The refused command was never queued: the first bytes on the new port
    # are the next command.
    pub(broker, "S013/A/RECM", "BACK 1")
    first = pa2.read_line()
    assert first == b"BACK 1\r\n", "first line on the replugged port: %r (ABSENT 1 queued?)" % first
    pa2.write(b"A SAYS 2\r\n")
    sub.expect("S013/A/SEND", "A SAYS 2")
    pub(broker, "S013/B/RECM", "AFTER")
    assert pb.read_line() == b"AFTER\r\n"
    pb.write(b"B SAYS 2\r\n")
    sub.expect("S013/B/SEND", "B SAYS 2")
    # B never went offline.
    assert not [m for m in sub.seen if m.topic == "S013/B/status" and m.payload != "online"], \
        [m for m in sub.seen if m.topic == "S013/B/status"]

    # The refusal was counted.
    mark = gw.log_mark()
    m = stats_line(gw, "A", mark)
    assert int(m.group(4)) == 1, "refused count for A: %s" % m.group(0)
    m = stats_line(gw, "B", mark)
    assert int(m.group(4)) == 0, "refused count for B: %s" % m.group(0)
    gw.assert_running()


# --------------------------------------------------------------------------
# 2. An RS485 bus: three addressed controllers on one port

def test_rs485_bus_one_command_in_flight():
    broker = Broker()
    pty = Pty(link="ttyBUS")
    sub = Sub(broker, ["S013/#"])
    latencies = [0.020, 0.060, 0.035, 0.050, 0.025, 0.045, 0.030, 0.055, 0.040]
    k = [0]

    def controller(line):
        m = re.match(rb"^([123]):(.*)$", line)
        if not m:
            return None
        lat = latencies[k[0] % len(latencies)]
        k[0] += 1
        return lat, m.group(1) + b":OK " + m.group(2) + b"\r\n"

    peer = PortPeer(pty, controller)
    gw = Gateway(gateway_config(broker, serial=[
        serial_dev("BUS", pty.path, reply="^[123]:", reply_timeout_ms=1000, rs485=True,
                   error_topic="${station}/${name}/error")],
        routes=[{"from": "mqtt:${station}/BUS/cmd", "to": "serial:BUS",
                 "accept": "^[123]:[A-Z0-9 ]+$"},
                {"from": "serial:BUS", "to": "mqtt:${station}/BUS/reply"}]))
    ready(broker, sub, ["BUS"], ["S013/BUS/cmd"])

    cmds = ["%d:READ %d" % (i % 3 + 1, i + 1) for i in range(9)]
    pub_lines(broker, "S013/BUS/cmd", cmds)
    for c in cmds:
        want = c[:2] + "OK " + c[2:]
        sub.expect_next("S013/BUS/reply", want, timeout=5)
    # The peer notes its last answer just after writing it: wait for the note.
    wait_until(lambda: len(peer.snapshot()[1]) >= len(cmds), 5, what="the peer to log its answers")
    lines, writes, overlaps = peer.snapshot()
    assert not peer.errors, peer.errors
    assert [l.decode() for _, l in lines] == cmds, "commands on the bus: %r" % lines
    assert not overlaps, "a command reached the bus while another was in flight: %r" % overlaps
    assert len(writes) == len(cmds)
    for i in range(1, len(cmds)):
        assert lines[i][0] >= writes[i - 1][0], \
            "command %r read %.1f ms before the answer to %r was written" % (
                cmds[i], (writes[i - 1][0] - lines[i][0]) * 1000, cmds[i - 1])
    # Nothing timed out on the way.
    sub.expect_none(0.0, topic="S013/BUS/error")
    gw.assert_running()


# --------------------------------------------------------------------------
# 3. Reply timeout

def test_reply_timeout_published_and_next_command_written():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    timeout_ms = 300
    answer = {"on": False}

    def dev(line):
        return (0.0, b"OK " + line + b"\r\n") if answer["on"] else None

    peer = PortPeer(pty, dev)
    Gateway(gateway_config(broker, serial=[
        serial_dev("M", pty.path, reply="^OK ", reply_timeout_ms=timeout_ms,
                   error_topic="${station}/${name}/error")],
        routes=dev_routes("M")))
    ready(broker, sub, ["M"], ["S013/M/RECM"])

    t_pub = time.monotonic()
    pub_lines(broker, "S013/M/RECM", ["CMD1", "CMD2"])
    lines = peer.wait_lines(1)
    t1 = lines[0][0]
    assert lines[0][1] == b"CMD1"
    m = sub.expect("S013/M/error", timeout=5)
    t_err = time.monotonic()
    assert m.payload == "timeout: CMD1", m
    lines = peer.wait_lines(2)
    t2 = lines[1][0]
    assert [l for _, l in lines] == [b"CMD1", b"CMD2"]
    # The queue holds CMD2 until CMD1's reply is due: not before the timeout,
    # and not much after it. "Not before" counts from t_pub: CMD1 was written
    # after it, and the peer may read CMD1 late on a busy box, which would
    # shrink the gap between the two reads. "Not much after" counts from that
    # read of CMD1 (a late read only loosens it).
    early = (t2 - t_pub) * 1000
    assert early >= timeout_ms - CLOCK_SLACK_MS, \
        "CMD2 written %.0f ms after CMD1 was published (reply_timeout_ms %d)" % (early, timeout_ms)
    gap = (t2 - t1) * 1000
    assert gap <= timeout_ms + 250, "CMD2 written %.0f ms after CMD1" % gap
    # The error travels daemon -> broker -> mosquitto_sub -> this test: 500 ms
    # of slack for that path on a busy box; the point is "not before the timeout".
    assert (t_err - t_pub) * 1000 >= timeout_ms - CLOCK_SLACK_MS, \
        "timeout published %.0f ms after CMD1 was published (reply_timeout_ms %d)" % (
            (t_err - t_pub) * 1000, timeout_ms)
    assert (t_err - t1) * 1000 <= timeout_ms + 500, \
        "timeout published %.0f ms after CMD1 (reply_timeout_ms %d)" % ((t_err - t1) * 1000, timeout_ms)

    # A reply releases the queue at once and is no timeout.
    answer["on"] = True
    pub_lines(broker, "S013/M/RECM", ["CMD3", "CMD4"])
    lines = peer.wait_lines(4)
    assert [l for _, l in lines[2:]] == [b"CMD3", b"CMD4"]
    m = sub.expect_next("S013/M/error", "timeout: CMD2", timeout=5)
    answer["on"] = False
    pub(broker, "S013/M/RECM", "CMD5")
    peer.wait_lines(5)
    # CMD3 and CMD4 were answered: the next timeout is CMD5's.
    sub.expect_next("S013/M/error", "timeout: CMD5", timeout=5)
    _, writes, overlaps = peer.snapshot()
    assert not overlaps, overlaps


# --------------------------------------------------------------------------
# 4. Queue overflow

def test_queue_overflow_refused_in_order_delivery():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    peer = PortPeer(pty)            # never answers
    gw = Gateway(gateway_config(broker, serial=[
        serial_dev("Q", pty.path, reply="^OK", reply_timeout_ms=300, queue_max=2,
                   error_topic="${station}/${name}/error")],
        routes=dev_routes("Q")))
    ready(broker, sub, ["Q"], ["S013/Q/RECM"])
    mark = gw.log_mark()
    # C1 goes in flight at once, C2 and C3 wait, C4 finds the queue full.
    t_pub = time.monotonic()
    pub_lines(broker, "S013/Q/RECM", ["C1", "C2", "C3", "C4"])
    sub.expect_next("S013/Q/error", "queue full: C4", timeout=5)
    gw.wait_for_log(r"command on S013/Q/RECM for Q refused: queue full", since=mark)
    lines = peer.wait_lines(3, timeout=5)
    assert [l for _, l in lines] == [b"C1", b"C2", b"C3"]
    # Each waits for the timeout of the one before: C2 not before 300 ms
    # after C1 was published, C3 not before 600 (counted from t_pub, not
    # from the peer's reads, which a busy box may make late).
    for i in (1, 2):
        dt = (lines[i][0] - t_pub) * 1000
        assert dt >= 300 * i - CLOCK_SLACK_MS, "%r written %.0f ms after C1 was published (%d timeouts " \
            "of 300 ms before it)" % (lines[i][1], dt, i)
    sub.expect_next("S013/Q/error", "timeout: C1", timeout=5)
    sub.expect_next("S013/Q/error", "timeout: C2", timeout=5)
    # C4 was refused, not parked: the next command written after C3 is C5.
    pub(broker, "S013/Q/RECM", "C5")
    sub.expect_next("S013/Q/error", "timeout: C3", timeout=5)
    lines = peer.wait_lines(4, timeout=5)
    assert [l for _, l in lines] == [b"C1", b"C2", b"C3", b"C5"], lines
    sub.expect_next("S013/Q/error", "timeout: C5", timeout=5)
    assert [l for _, l in peer.snapshot()[0]] == [b"C1", b"C2", b"C3", b"C5"]


# --------------------------------------------------------------------------
# 7. Rate limit

def test_rate_limit_burst_then_refused():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    Gateway(gateway_config(broker, serial=[
        serial_dev("RL", pty.path, rate_limit=5, rate_burst=2, error_topic="${station}/${name}/error")],
        routes=dev_routes("RL")))
    ready(broker, sub, ["RL"], ["S013/RL/RECM"])
    cmds = ["R%d" % i for i in range(1, 11)]
    pub_lines(broker, "S013/RL/RECM", cmds)
    assert pty.read_line() == b"R1\r\n"
    t_first = time.monotonic()
    assert pty.read_line() == b"R2\r\n"
    # Written at once (the burst), not paced out at the rate.
    assert time.monotonic() - t_first < 0.15, "R2 came %.0f ms after R1" % ((time.monotonic() - t_first) * 1000)
    for c in cmds[2:]:
        sub.expect_next("S013/RL/error", "rate limit: %s" % c, timeout=5)
    # A second later the bucket is full again (2 tokens): two pass, the third does not.
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t_first)))
    pub_lines(broker, "S013/RL/RECM", ["S1", "S2", "S3"])
    assert pty.read_line() == b"S1\r\n", "R3..R10 must not have been written"
    assert pty.read_line() == b"S2\r\n"
    sub.expect_next("S013/RL/error", "rate limit: S3", timeout=5)
    # Exactly 9 refusals in all, and nothing else on the port.
    sub.expect_none(0.3, topic="S013/RL/error")
    assert pty.read_available(0) == b""


# --------------------------------------------------------------------------
# 8. Request / response

REPLY_DEV = dict(reply="^(OK|ERR) ", reply_timeout_ms=1000)


def echo_device(line):
    if line.startswith(b"IGNORE"):
        return None
    return 0.01, b"OK " + line + b"\r\n"


def test_request_response_mqtt5_response_topic_and_correlation():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    PortPeer(pty, echo_device)
    Gateway(gateway_config(broker, mqtt={"protocol": 5},
                           serial=[serial_dev("MOT01", pty.path, **REPLY_DEV)],
                           routes=dev_routes("MOT01")))
    ready(broker, sub, ["MOT01"], ["S013/MOT01/RECM"])
    s5 = Sub5(broker, ["app/#"])
    pub5(broker, "S013/MOT01/RECM", "STAT 1", response_topic="app/replies/one", correlation="corr-A-17")
    pub5(broker, "S013/MOT01/RECM", "STAT 2", response_topic="app/replies/two", correlation="corr-B-42")
    m = s5.expect("app/replies/one")
    assert m == ("app/replies/one", "OK STAT 1", "corr-A-17"), m
    m = s5.expect("app/replies/two")
    assert m == ("app/replies/two", "OK STAT 2", "corr-B-42"), m
    # A command without a response topic gets no private reply.
    pub5(broker, "S013/MOT01/RECM", "STAT 3")
    sub.expect("S013/MOT01/SEND", "OK STAT 3")
    assert s5._wait(lambda m: True, 0.3) is None, s5.queue


def test_request_response_mqtt311_req_res_topics():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    PortPeer(pty, echo_device)
    Gateway(gateway_config(broker, serial=[serial_dev("MOT01", pty.path, reply="^(OK|ERR) ",
                                                      reply_timeout_ms=300)],
                           routes=[{"from": "mqtt:${station}/MOT01/RECM/req/+", "to": "serial:MOT01"}]
                           + dev_routes("MOT01")))
    ready(broker, sub, ["MOT01"], ["S013/MOT01/RECM/req/+", "S013/MOT01/RECM"])
    pub(broker, "S013/MOT01/RECM/req/42", "STAT 42")
    pub(broker, "S013/MOT01/RECM/req/abc", "STAT ABC")
    sub.expect_next("S013/MOT01/RECM/res/42", "OK STAT 42", timeout=5)
    sub.expect_next("S013/MOT01/RECM/res/abc", "OK STAT ABC", timeout=5)
    # A request that times out gets nothing; the reply to the next request
    # goes to that request's res topic, not to the one that timed out.
    pub(broker, "S013/MOT01/RECM/req/t1", "IGNORE 1")
    pub(broker, "S013/MOT01/RECM/req/t2", "STAT 2")
    sub.expect_next("S013/MOT01/RECM/res/t2", "OK STAT 2", timeout=5)
    # A plain command's reply goes to the ordinary route only.
    pub(broker, "S013/MOT01/RECM", "STAT PLAIN")
    sub.expect("S013/MOT01/SEND", "OK STAT PLAIN")
    got = [m for m in sub.drain() if "/res/" in m.topic]
    assert not got, got


# --------------------------------------------------------------------------
# 9. Framing beyond eol

def test_framing_fixed_hex_lrc8_mhz19():
    broker, pty, sub, gw = one_port("CO2", binary_dev, baud=9600, framing="fixed", frame_len=9,
                                    encoding="hex", checksum="lrc8", checksum_skip=1)
    frame = bytes.fromhex("FF 86 02 60 47 00 00 00 D1")
    assert lrc8(frame[1:8]) == 0xD1
    # Split across two writes: still one frame; checksum byte stripped.
    pty.write(frame[:4])
    pty.wait_drained()
    pty.write(frame[4:])
    sub.expect_next("S013/CO2/SEND", "FF86026047000000")
    # Two frames in one write: two messages; a bad checksum in between is
    # dropped (counted and logged), the next good frame still arrives.
    mark = gw.log_mark()
    f2 = bytes.fromhex("FF 86 03 20 47 00 00 00") + bytes([lrc8(bytes.fromhex("86 03 20 47 00 00 00"))])
    bad = bytes.fromhex("FF 86 01 F4 47 00 00 00 00")
    pty.write(frame + bad + f2)
    sub.expect_next("S013/CO2/SEND", "FF86026047000000")
    sub.expect_next("S013/CO2/SEND", "FF86032047000000")
    gw.wait_for_log(r"serial CO2: frame dropped: bad checksum", since=mark)
    # Downlink: the read command gets its checksum appended, no eol.
    pub(broker, "S013/CO2/RECM", "FF 01 86 00 00 00 00 00")
    expect_bytes(pty, bytes.fromhex("FF 01 86 00 00 00 00 00 79"))
    pub(broker, "S013/CO2/RECM", "ff01990000000000")     # lower case, no spaces
    expect_bytes(pty, bytes.fromhex("FF 01 99 00 00 00 00 00") + bytes([lrc8(bytes.fromhex("01 99"))]))


def test_framing_idle_hex_crc16_modbus():
    broker, pty, sub, gw = one_port("MB", binary_dev, baud=19200, framing="idle", idle_ms=30,
                                    encoding="hex", checksum="crc16-modbus",
                                    error_topic="${station}/${name}/error")
    # Downlink, the example of the issue.
    pub(broker, "S013/MB/RECM", "01 03 00 00 00 0A")
    expect_bytes(pty, bytes.fromhex("01 03 00 00 00 0A C5 CD"))
    # A reply written in two chunks 5 ms apart is one frame.
    body = bytes.fromhex("01 03 04 00 0A 01 F4")
    good = body + crc16_modbus(body)
    pty.write(good[:5])
    time.sleep(0.005)
    pty.write(good[5:])
    sub.expect_next("S013/MB/SEND", "010304000A01F4")
    # A frame with a bad CRC is dropped; the next good frame, after a gap
    # (3 x idle_ms, so the two are separate frames), is the next message.
    mark = gw.log_mark()
    body2 = bytes.fromhex("01 03 02 00 2A")
    bad = body2 + bytes([crc16_modbus(body2)[0] ^ 0xFF, crc16_modbus(body2)[1]])
    pty.write(bad)
    pty.wait_drained()
    gw.wait_for_log(r"serial MB: frame dropped: bad checksum", since=mark)
    time.sleep(0.09)
    body3 = bytes.fromhex("01 03 02 00 2B")
    pty.write(body3 + crc16_modbus(body3))
    sub.expect_next("S013/MB/SEND", "010302002B")


def test_framing_eol_nmea_xor8_hex_ascii():
    broker, pty, sub, gw = one_port("GPS", baud=9600, max_frame=128, checksum="xor8",
                                    checksum_format="hex-ascii", checksum_prefix="*",
                                    checksum_skip=1)
    gga = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
    assert nmea(gga[1:-3]) == gga
    pty.write(gga + "\r\n")
    sub.expect_next("S013/GPS/SEND", gga[:-3])
    # Lower-case checksum digits are accepted; a wrong one is dropped.
    mark = gw.log_mark()
    rmc = nmea("GPRMC,081836,A,3751.65,S,14507.36,E,000.0,360.0,130998,011.3,E")
    bad = nmea("GPGLL,4916.45,N,12311.12,W,225444,A")[:-2] + "00"
    vtg = nmea("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K")
    vtg_lc = vtg[:-2] + vtg[-2:].lower()
    pty.write(bad + "\r\n" + rmc + "\r\n" + vtg_lc + "\r\n")
    sub.expect_next("S013/GPS/SEND", rmc[:-3])
    sub.expect_next("S013/GPS/SEND", vtg[:-3])
    gw.wait_for_log(r"serial GPS: frame dropped: bad checksum", since=mark)
    # Downlink: *HH appended, then the eol.
    pub(broker, "S013/GPS/RECM", "$PMTK220,1000")
    assert pty.read_line() == (nmea("PMTK220,1000") + "\r\n").encode()
    assert nmea("PMTK220,1000") == "$PMTK220,1000*1F"


