"""
test_bridge.py - end-to-end tests of the core bridge: the real daemon, a
real mosquitto, ptys (or the motor simulator) as serial ports.

Readiness is proven, never slept for: the status topic says "online", then
sync_out() publishes distinct commands until one reaches the port (the
daemon has subscribed and opened the port) and sync_in() writes distinct
lines until one is published (the port is read and the broker link is up).
"Never reaches the port" is proven by ordering where possible: a following
good command must be the very next line on the port.
"""

import os
import random
import re
import signal
import socket
import time

from harness import (SPSHIM, Broker, Gateway, MotorSim, Pty, Sub, gateway_config, is_raw,
                     preload_env, pub, pub_lines, retained_now, serial_dev, sync_in, sync_out,
                     wait_retained, wait_until)

TIMEOUT = 60

STATUS = "S013/gateway/status"
ACCEPT = "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$"


def motor_routes(dev="MOT01", raw_route=False):
    """The DESIGN's example routes for one motor controller; raw_route adds
    S013/<dev>/RAW -> serial without an accept pattern."""
    r = [{"from": "mqtt:${station}/%s/RECM" % dev, "to": "serial:%s" % dev, "accept": ACCEPT}]
    if raw_route:
        r.append({"from": "mqtt:${station}/%s/RAW" % dev, "to": "serial:%s" % dev})
    r += [{"from": "serial:%s" % dev, "match": "^POS([XYZ])([+-][0-9]+)$",
           "to": "mqtt:${station}/%s/POS/$1" % dev, "payload": "$2", "retain": True, "qos": 0},
          {"from": "serial:%s" % dev, "to": "mqtt:${station}/%s/SEND" % dev}]
    return r


def assert_not_spinning(gw, t0, cpu0):
    """The daemon used well under one core since t0 (no busy loop while a
    port was gone)."""
    wall = time.monotonic() - t0
    cpu = gw.cpu_seconds() - cpu0
    assert wall < 0.5 or cpu < 0.5 * wall, \
        "mqttgw used %.2fs of CPU in %.2fs while the port was away (busy loop?)" % (cpu, wall)


class Rig:
    """Broker + pty + subscriber on S013/# + the daemon with the example
    routes for MOT01. ready() waits for online and syncs both directions."""

    def __init__(self, link=None, raw_route=False, pty_raw=True, dev_kw=None, start=True,
                 env=None):
        self.broker = Broker()
        self.pty = Pty(link=link, raw=pty_raw)
        self.sub = Sub(self.broker, ["S013/#"])
        self.cfg = gateway_config(self.broker,
                                  serial=[serial_dev("MOT01", self.pty.path, **(dev_kw or {}))],
                                  routes=motor_routes(raw_route=raw_route))
        self.gw = Gateway(self.cfg, start=start, env=env)

    def ready(self):
        self.sub.expect(STATUS, "online", timeout=10)
        sync_out(self.broker, self.pty)
        sync_in(self.pty, self.sub)
        return self

    def round_trip(self, cmd, axis, pos):
        """cmd published reaches the port; the device's answer POS<axis><pos>
        is published on S013/MOT01/POS/<axis>."""
        pub(self.broker, "S013/MOT01/RECM", cmd)
        assert self.pty.read_line() == cmd.encode() + b"\r\n"
        self.pty.write(b"POS%s%s\r\n" % (axis.encode(), pos.encode()))
        self.sub.expect("S013/MOT01/POS/" + axis, pos)


# --------------------------------------------------------------------------

def test_command_reaches_port_exactly():
    rig = Rig().ready()
    pub(rig.broker, "S013/MOT01/RECM", "DRVZ+1000")
    assert rig.pty.read_line() == b"DRVZ+1000\r\n"
    # Nothing else was written: the next bytes are exactly the next command.
    pub(rig.broker, "S013/MOT01/RECM", "STOP")
    assert rig.pty.read_until(b"STOP\r\n") == b"STOP\r\n"
    rig.gw.assert_running()


def test_position_frame_published_retained():
    rig = Rig().ready()
    rig.pty.write(b"POSZ+001000\r\n")
    m = rig.sub.expect("S013/MOT01/POS/Z", "+001000")
    assert m.raw == b"+001000", m
    # A fresh subscriber gets it as a retained message.
    r = retained_now(rig.broker, "S013/MOT01/POS/Z")
    assert r is not None and r.retained and r.payload == "+001000", \
        "retained on S013/MOT01/POS/Z: %r" % (r,)
    # First matching route only: the POS line did not also go to the catch-all.
    rig.pty.write(b"HELLO 1\r\n")
    rig.sub.expect_next("S013/MOT01/SEND", "HELLO 1")


def test_unmatched_line_goes_to_catch_all():
    rig = Rig().ready()
    rig.pty.write(b"HELLO 42\r\n")
    m = rig.sub.expect_next("S013/MOT01/SEND", "HELLO 42")
    assert m.raw == b"HELLO 42"
    # The catch-all route does not retain.
    assert retained_now(rig.broker, "S013/MOT01/SEND") is None


def test_refused_commands_never_reach_port():
    rig = Rig(raw_route=True).ready()
    recm, raw = "S013/MOT01/RECM", "S013/MOT01/RAW"
    bad = [(recm, "RM -RF"),
           (recm, "DRVZ+1000\nSTOP"),           # embedded LF
           (recm, "DRVZ+1000\r"),
           (recm, "drvz+1000"),
           (recm, "DRVZ+1000 "),
           (recm, "DRVZ+" + "1" * 80),          # fails accept and max_frame
           (recm, ""),
           (raw, "A" * 65),                     # max_frame = 64, no accept on RAW
           (raw, "STOP\nHOME"),                 # LF
           (raw, "STOP\rHOME"),                 # CR
           (raw, "STOP\n"),
           (raw, b"AB\x00CD"),                  # NUL
           (raw, "X" * 5000),
           (raw, "Y" * 300000)]
    for topic, payload in bad:
        pub(rig.broker, topic, payload)
    # max_frame bytes exactly is not too long; then a good command.
    pub(rig.broker, raw, "B" * 64)
    pub(rig.broker, recm, "DRVZ+1000")
    first = rig.pty.read_line()
    assert first == b"B" * 64 + b"\r\n", \
        "a refused command reached the port (or the 64-byte one did not): %r" % first
    assert rig.pty.read_line() == b"DRVZ+1000\r\n"
    rig.gw.assert_running()
    # And the daemon keeps working both ways.
    rig.pty.write(b"POSX-000002\r\n")
    rig.sub.expect("S013/MOT01/POS/X", "-000002")


def test_status_online_then_will_on_sigkill():
    rig = Rig()
    rig.sub.expect(STATUS, "online", timeout=10)
    r = retained_now(rig.broker, STATUS)
    assert r is not None and r.retained and r.payload == "online", "status retained: %r" % (r,)
    rig.gw.kill()
    assert rig.gw.returncode == -signal.SIGKILL
    rig.sub.expect(STATUS, "offline", timeout=10)
    wait_retained(rig.broker, STATUS, "offline")


def test_sigterm_publishes_offline_and_exits_0():
    rig = Rig().ready()
    rc = rig.gw.terminate(timeout=10)
    assert rc == 0, "exit code after SIGTERM: %r" % rc
    assert rig.gw.exit_time < 2.0, "took %.2fs to exit after SIGTERM" % rig.gw.exit_time
    rig.sub.expect(STATUS, "offline", timeout=5)
    wait_retained(rig.broker, STATUS, "offline")
    # The daemon published "offline" itself (not only the broker's will).
    pubs = re.findall(r"Received PUBLISH from mqttgw-S013 \([^)]*'%s'" % re.escape(STATUS),
                      rig.broker.log_text())
    assert len(pubs) >= 2, "expected the daemon to publish online and offline: %r" % pubs


def test_sigint_stops_like_sigterm():
    rig = Rig().ready()
    t0 = time.monotonic()
    rig.gw.signal(signal.SIGINT)
    rc = rig.gw.wait(10)
    took = time.monotonic() - t0
    assert rc == 0, "exit code after SIGINT: %r" % rc
    assert took < 2.0, "took %.2fs to exit after SIGINT" % took
    rig.sub.expect(STATUS, "offline", timeout=5)
    wait_retained(rig.broker, STATUS, "offline")


def test_sigterm_with_broker_down_exits_0_quickly():
    rig = Rig().ready()
    rig.broker.kill()
    rc = rig.gw.terminate(timeout=10)
    assert rc == 0, "exit code after SIGTERM: %r" % rc
    assert rig.gw.exit_time < 2.0, "took %.2fs to exit after SIGTERM" % rig.gw.exit_time


def test_port_given_as_symlink():
    rig = Rig(link="ttyMOT01")
    assert os.path.islink(rig.pty.path)
    rig.ready()
    rig.round_trip("HOME", "Y", "+000007")


def test_motor_simulator_round_trip():
    broker = Broker()
    sim = MotorSim(link="ttyMOTSIM")
    sub = Sub(broker, ["S013/#"])
    Gateway(gateway_config(broker, serial=[serial_dev("MOT01", sim.path)],
                           routes=motor_routes()))
    sub.expect(STATUS, "online", timeout=10)
    # Sync: HOME until the simulator's answer comes back (idempotent command).
    deadline = time.monotonic() + 15
    while True:
        pub(broker, "S013/MOT01/RECM", "HOME")
        try:
            sub.expect("S013/MOT01/POS/X", timeout=0.5)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError("no answer from the motor simulator through the daemon")
    pub(broker, "S013/MOT01/RECM", "DRVZ+1000")
    sub.expect("S013/MOT01/POS/Z", "+001000", timeout=10)
    r = retained_now(broker, "S013/MOT01/POS/Z")
    assert r is not None and r.payload == "+001000", r
    pub(broker, "S013/MOT01/RECM", "STOP")
    sub.expect("S013/MOT01/SEND", "OK STOP", timeout=10)
    assert sim.running()


def test_missing_serial_port_at_start_is_not_fatal():
    broker = Broker()
    sub = Sub(broker, ["S013/#"])
    link = os.path.join(os.getcwd(), "ttyLATE")
    gw = Gateway(gateway_config(broker, serial=[serial_dev("MOT01", link)],
                                routes=motor_routes()))
    sub.expect(STATUS, "online", timeout=10)
    gw.assert_running()
    gw.wait_for_log(r"ttyLATE|MOT01")
    # The port appears: the daemon opens it and the bridge works. It waits
    # for it without spinning.
    t0, cpu0 = time.monotonic(), gw.cpu_seconds()
    pty = Pty(link="ttyLATE")
    sync_out(broker, pty, timeout=30)
    assert_not_spinning(gw, t0, cpu0)
    sync_in(pty, sub)
    pub(broker, "S013/MOT01/RECM", "DRVZ+1000")
    assert pty.read_line() == b"DRVZ+1000\r\n"
    pty.write(b"POSZ+001000\r\n")
    sub.expect("S013/MOT01/POS/Z", "+001000")


def test_broker_down_at_start_is_retried():
    # Hold the port with a plain listener: it proves the daemon tries to
    # connect while no broker is there, and that it tries again.
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    port = lst.getsockname()[1]
    pty = Pty()
    gw = Gateway(gateway_config("tcp://127.0.0.1:%d" % port,
                                serial=[serial_dev("MOT01", pty.path)], routes=motor_routes()))
    try:
        for attempt in (1, 2):
            lst.settimeout(30)
            try:
                conn, _ = lst.accept()
            except socket.timeout:
                raise AssertionError("connection attempt %d to the (absent) broker never came"
                                     % attempt)
            conn.close()
            gw.assert_running()
    finally:
        lst.close()
    broker = Broker(port=port)
    wait_retained(broker, STATUS, "online", timeout=30)
    gw.assert_running()
    sub = Sub(broker, ["S013/#"])
    sync_out(broker, pty)
    sync_in(pty, sub)


def test_overlong_inbound_frame_dropped_alone():
    rig = Rig().ready()     # max_frame = 64
    rig.pty.write(b"HELLO 0\r\n" + b"A" * 200 + b"\r\n" + b"B" * 64 + b"\r\n" +
                  b"C" * 65 + b"\r\n" + b"HELLO 1\r\n")
    rig.sub.expect_next("S013/MOT01/SEND", "HELLO 0")
    rig.sub.expect_next("S013/MOT01/SEND", "B" * 64)
    rig.sub.expect_next("S013/MOT01/SEND", "HELLO 1")
    # The same when the over-long frame arrives in pieces the daemon reads
    # one at a time.
    for chunk in (b"D" * 40, b"D" * 40, b"D" * 40, b"D\r\nHELLO 2\r\n"):
        rig.pty.write(chunk)
        rig.pty.wait_drained()
    rig.sub.expect_next("S013/MOT01/SEND", "HELLO 2")
    rig.gw.assert_running()


def test_binary_garbage_does_not_crash():
    rig = Rig().ready()
    rnd = random.Random(20240613)
    garbage = bytes(rnd.getrandbits(8) for _ in range(16384))
    special = bytes([0x00, 0x03, 0x04, 0x11, 0x13, 0x1a, 0x1c, 0x7f, 0xff, 0x0d, 0x0a]) * 64
    rig.pty.write(garbage + special + b"\x00" * 300 + b"\xff" * 300)
    rig.pty.write(b"\r\nHELLO 3\r\n")
    rig.sub.expect("S013/MOT01/SEND", "HELLO 3", timeout=10)
    rig.gw.assert_running()
    # XON/XOFF or other control bytes did not stop the output side either.
    pub(rig.broker, "S013/MOT01/RECM", "DRVZ+1000")
    assert rig.pty.read_until(b"DRVZ+1000\r\n").endswith(b"DRVZ+1000\r\n")
    rig.pty.write(b"POSZ+000003\r\n")
    rig.sub.expect("S013/MOT01/POS/Z", "+000003")


def wait_raw_and_synced(rig):
    """Wait for the daemon to put rig's (cooked) pty in raw mode, drop what
    the cooked port echoed, and sync both directions."""
    wait_until(lambda: not is_raw(rig.pty.termios()), 10,
               what="the daemon to put %s in raw mode" % rig.pty.path)
    rig.pty.read_available()
    sync_out(rig.broker, rig.pty)
    sync_in(rig.pty, rig.sub)


def assert_frame_bytes_unchanged(rig):
    """Every byte but NUL, CR and LF arrives unchanged from the port on MQTT."""
    line = bytes(b for b in range(1, 256) if b not in (0x0a, 0x0d))
    rig.pty.write(b"X" + line + b"\r\n")
    m = rig.sub.expect("S013/MOT01/SEND", timeout=5)
    assert m.raw == b"X" + line, "frame changed on the way: %r" % m.raw


def test_port_put_in_raw_mode_by_daemon():
    # The pty starts in the kernel's cooked mode (echo, ICRNL, IXON, ONLCR,
    # ICANON, ISIG); the daemon must make it raw itself.
    rig = Rig(pty_raw=False, raw_route=True, dev_kw={"max_frame": 512}, start=False)
    assert is_raw(rig.pty.termios()), "the test pty should start cooked"
    rig.gw.start()
    rig.sub.expect(STATUS, "online", timeout=10)
    wait_raw_and_synced(rig)
    assert_frame_bytes_unchanged(rig)
    # And on the way out: the eol is not turned into CR CR LF (ONLCR), no
    # byte is changed. (Control bytes in commands may be refused: the
    # contract only says which ones must be.)
    cmd = bytes(range(0x20, 0x7f))
    pub(rig.broker, "S013/MOT01/RAW", cmd)
    assert rig.pty.read_line() == cmd + b"\r\n"
    assert not is_raw(rig.pty.termios()), is_raw(rig.pty.termios())


def test_libserialport_path_with_spshim():
    # With the test shim preloaded, libserialport takes the pty: the daemon's
    # libserialport path (not the termios fallback) must give the same raw,
    # byte-exact port.
    rig = Rig(link="ttyMOT01", pty_raw=False, raw_route=True, dev_kw={"max_frame": 512},
              start=False, env=preload_env(SPSHIM))
    rig.gw.start()
    rig.sub.expect(STATUS, "online", timeout=10)
    rig.gw.wait_for_log(r"with libserialport")
    wait_raw_and_synced(rig)
    assert_frame_bytes_unchanged(rig)
    rig.round_trip("DRVZ+1000", "Z", "+001000")


def test_two_devices_work_independently():
    broker = Broker()
    p1 = Pty(link="ttyMOT01")
    p2 = Pty(link="ttyMOT02")
    sub = Sub(broker, ["S013/#"])
    Gateway(gateway_config(
        broker,
        serial=[serial_dev("MOT01", p1.path),
                serial_dev("MOT02", p2.path, eol="\n", max_frame=32, baud=9600)],
        routes=motor_routes("MOT01") + motor_routes("MOT02")))
    sub.expect(STATUS, "online", timeout=10)
    sync_out(broker, p1, "S013/MOT01/RECM")
    sync_out(broker, p2, "S013/MOT02/RECM", eol=b"\n")
    sync_in(p1, sub, "S013/MOT01/SEND")
    sync_in(p2, sub, "S013/MOT02/SEND", eol=b"\n")
    # A partial line on one port does not hold up the other.
    p1.write(b"HEL")
    p1.wait_drained()
    p2.write(b"WORLD 2\n")
    sub.expect_next("S013/MOT02/SEND", "WORLD 2")
    p1.write(b"LO\r\n")
    sub.expect_next("S013/MOT01/SEND", "HELLO")
    # Commands go to their own device only, with that device's eol.
    pub(broker, "S013/MOT02/RECM", "STOP")
    pub(broker, "S013/MOT01/RECM", "HOME")
    pub(broker, "S013/MOT02/RECM", "DRVY+7")
    assert p1.read_line() == b"HOME\r\n"
    assert p2.read_line() == b"STOP\n"
    assert p2.read_line() == b"DRVY+7\n"
    p2.write(b"POSY-000005\n")
    sub.expect("S013/MOT02/POS/Y", "-000005")
    p1.write(b"POSY+000001\r\n")
    sub.expect("S013/MOT01/POS/Y", "+000001")
    # MOT02's max_frame (32) is its own: 40 bytes pass on MOT01, not on MOT02.
    p2.write(b"L" * 40 + b"\nAFTER\n")
    p1.write(b"L" * 40 + b"\r\n")
    sub.expect_next("S013/MOT02/SEND", "AFTER")
    sub.expect("S013/MOT01/SEND", "L" * 40)


def test_mqtt5_two_command_topics():
    """Issue 22: protocol 5 with two command filters crashed on every
    connect (paho read subscribe options from NULL). Both topics carry
    commands, and a command matched by two of the gateway's filters (the
    broker sends one copy per subscription) is written once per route."""
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    routes = [{"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01"},
              {"from": "mqtt:${station}/MOT01/RECM/req/+", "to": "serial:MOT01"},
              {"from": "mqtt:${station}/MOT01/RECM/#", "to": "serial:MOT01", "accept": "^ALL"},
              {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND"}]
    gw = Gateway(gateway_config(broker, serial=[serial_dev("MOT01", pty.path)], routes=routes,
                                mqtt={"protocol": 5}))
    sub.expect(STATUS, "online", timeout=10)
    sync_out(broker, pty)
    pub(broker, "S013/MOT01/RECM/req/a", "DRVZ+2")
    assert pty.read_line() == b"DRVZ+2\r\n"
    # matched by RECM/req/+ and RECM/#: each route once, nothing doubled
    pub(broker, "S013/MOT01/RECM/req/b", "ALL1")
    pub(broker, "S013/MOT01/RECM", "STOP")
    got = [pty.read_line() for _ in range(3)]
    assert got == [b"ALL1\r\n", b"ALL1\r\n", b"STOP\r\n"], got
    pub(broker, "S013/MOT01/RECM", "LAST")
    assert pty.read_line() == b"LAST\r\n"
    pty.expect_nothing(0.5)
    gw.assert_running()
    assert len(re.findall(r"mqtt: connected to", gw.log_text())) == 1, gw.log_tail()


def test_route_qos_levels():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])        # QoS 2 subscription: shows the published QoS
    routes = []
    for q in (0, 1, 2):
        routes.append({"from": "mqtt:${station}/CMD/%d" % q, "to": "serial:MOT01", "qos": q})
    for q in (0, 1, 2):
        routes.append({"from": "serial:MOT01", "match": "^Q%d (.*)$" % q,
                       "to": "mqtt:${station}/Q/%d" % q, "payload": "$1", "qos": q})
    routes += motor_routes()
    Gateway(gateway_config(broker, serial=[serial_dev("MOT01", pty.path)], routes=routes))
    sub.expect(STATUS, "online", timeout=10)
    sync_out(broker, pty)
    sync_in(pty, sub)
    for q in (0, 1, 2):
        pub(broker, "S013/CMD/%d" % q, "C%d" % q, qos=2)
        assert pty.read_line() == b"C%d\r\n" % q
    for q in (0, 1, 2):
        pty.write(b"Q%d payload %d\r\n" % (q, q))
        m = sub.expect("S013/Q/%d" % q, "payload %d" % q)
        assert m.qos == q, "route qos = %d, message delivered with qos %d" % (q, m.qos)


def test_wildcard_routes_and_templates():
    broker = Broker()
    p1 = Pty()
    p2 = Pty()
    sub = Sub(broker, ["S013/#"])
    routes = motor_routes("MOT01") + motor_routes("MOT02")
    routes = [{"from": "serial:MOT01", "match": "^ECHO (.*)$",
               "to": "mqtt:${station}/${name}/ECHO", "payload": "[$1|$0]"}] + routes
    routes += [{"from": "mqtt:${station}/ALL/+/cmd", "to": "serial:MOT01"},
               {"from": "mqtt:${station}/ALL/#", "to": "serial:MOT02"}]
    Gateway(gateway_config(broker, serial=[serial_dev("MOT01", p1.path),
                                           serial_dev("MOT02", p2.path)], routes=routes))
    sub.expect(STATUS, "online", timeout=10)
    sync_out(broker, p1, "S013/MOT01/RECM")
    sync_out(broker, p2, "S013/MOT02/RECM")
    sync_in(p1, sub, "S013/MOT01/SEND")
    # One message, every matching route.
    pub(broker, "S013/ALL/x/cmd", "PING")
    assert p1.read_line() == b"PING\r\n"
    assert p2.read_line() == b"PING\r\n"
    # '+' is one level: this one is for MOT02 ('#') only.
    pub(broker, "S013/ALL/x/y/cmd", "DEEP")
    pub(broker, "S013/MOT01/RECM", "STOP")
    assert p2.read_line() == b"DEEP\r\n"
    assert p1.read_line() == b"STOP\r\n"
    # ${name} and captures in templates.
    p1.write(b"ECHO hi there\r\n")
    sub.expect("S013/MOT01/ECHO", "[hi there|ECHO hi there]")


def test_sighup_reload():
    rig = Rig().ready()
    # Add a route, reload: the new route works.
    cfg = dict(rig.cfg)
    cfg["routes"] = motor_routes(raw_route=True)
    rig.gw.rewrite_config(cfg)
    rig.gw.signal(signal.SIGHUP)
    sync_out(rig.broker, rig.pty, "S013/MOT01/RAW")
    pub(rig.broker, "S013/MOT01/RAW", "ANYTHING")
    assert rig.pty.read_line() == b"ANYTHING\r\n"
    # An invalid config is refused; the old one keeps running.
    mark = rig.gw.log_mark()
    rig.gw.rewrite_config("station = \"S013\";\nmqtt = {\n  uri = = 1;\n};\n")
    rig.gw.signal(signal.SIGHUP)
    rig.gw.wait_for_log(r"%s:3:" % re.escape(os.path.basename(rig.gw.config_path)), since=mark)
    rig.gw.assert_running()
    pub(rig.broker, "S013/MOT01/RAW", "STILL")
    pub(rig.broker, "S013/MOT01/RECM", "DRVZ+1000")
    assert rig.pty.read_line() == b"STILL\r\n"
    assert rig.pty.read_line() == b"DRVZ+1000\r\n"
    rig.pty.write(b"POSZ+000009\r\n")
    rig.sub.expect("S013/MOT01/POS/Z", "+000009")
    assert retained_now(rig.broker, STATUS).payload == "online"
    # After a reload the broker link still recovers (reconnect uses the
    # current config).
    rig.sub.stop()
    rig.broker.restart()
    wait_retained(rig.broker, STATUS, "online", timeout=30)
    rig.gw.assert_running()
    sub = Sub(rig.broker, ["S013/#"])
    sync_out(rig.broker, rig.pty, "S013/MOT01/RAW")
    sync_in(rig.pty, sub)


def test_reload_drops_and_adds_command_topics():
    """A reload that removes one command filter and adds another: the old
    topic no longer reaches the port (unsubscribed), the new one does, and
    the filter both configs share keeps working (on MQTT 5 its
    subscription identifier stays, so copies in flight still route)."""
    rig = Rig(raw_route=True).ready()
    sync_out(rig.broker, rig.pty, "S013/MOT01/RAW")
    cfg = dict(rig.cfg)
    cfg["routes"] = motor_routes() + [{"from": "mqtt:${station}/MOT01/NEW/+", "to": "serial:MOT01"}]
    mark = rig.gw.log_mark()
    rig.gw.reload(cfg)
    rig.gw.wait_for_log(r"subscribed to S013/MOT01/NEW/\+", since=mark)
    sync_out(rig.broker, rig.pty, "S013/MOT01/NEW/a")
    pub(rig.broker, "S013/MOT01/RAW", "GONE")       # no route, not subscribed any more
    pub(rig.broker, "S013/MOT01/NEW/b", "NEWCMD")
    pub(rig.broker, "S013/MOT01/RECM", "STOP")
    assert rig.pty.read_line() == b"NEWCMD\r\n"
    assert rig.pty.read_line() == b"STOP\r\n"
    rig.pty.expect_nothing(0.5)
    rig.gw.assert_running()


def test_reload_of_protocol_applies_and_stats_topic_applies():
    """A reload that changes mqtt.protocol (or session_expiry) makes a new
    client, and the link keeps publishing (it used to be accepted, and
    every publish after it failed with "Options for wrong MQTT version";
    then refused as needing a restart). A new stats_topic applies at once.
    tests/integration/test_reload.py covers every mqtt and buffer setting."""
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", pty.path)], routes=motor_routes(),
                         mqtt={"protocol": 4})
    gw = Gateway(cfg)
    sub.expect(STATUS, "online", timeout=10)
    sync_in(pty, sub)
    for change in ({"protocol": 5}, {"protocol": 5, "session_expiry": 60}, {"protocol": 4}):
        new = dict(cfg, mqtt=dict(cfg["mqtt"], **change))
        mark = gw.reload(new)
        gw.wait_for_log(r"reload: mqtt settings changed \(mqtt\.%s first\)" % list(change)[-1], since=mark)
        sub.expect(STATUS, "online", timeout=10)
        pty.write(b"AFTER %s\r\n" % list(change)[-1].encode())
        sub.expect("S013/MOT01/SEND", "AFTER %s" % list(change)[-1])
        assert "wrong MQTT version" not in gw.log_text()[mark:], gw.log_tail(20)
    new = dict(cfg, mqtt=dict(cfg["mqtt"], stats_topic="${station}/gateway/stats", stats_interval=1))
    gw.reload(new)
    m = sub.expect("S013/gateway/stats", timeout=5)
    assert m.payload.startswith("{"), m
    gw.assert_running()


def test_reload_keeps_unchanged_port_open_and_loses_no_frame():
    # Lines stream in from the device while the config is reloaded three
    # times with changed routes: the port stays open (no reopen in the log)
    # and every line arrives exactly once, in order.
    rig = Rig().ready()
    mark = rig.gw.log_mark()
    n = 600
    for i in range(1, n + 1):
        rig.pty.write(b"SEQ %05d\r\n" % i)
        if i % 150 == 0:
            cfg = dict(rig.cfg)
            cfg["routes"] = motor_routes(raw_route=(i // 150) % 2 == 1)
            rig.gw.rewrite_config(cfg)
            rig.gw.signal(signal.SIGHUP)
            rig.gw.wait_for_log(r"reloaded .*", since=mark)
            mark = rig.gw.log_mark()
    got = []
    while len(got) < n:
        m = rig.sub.expect("S013/MOT01/SEND", timeout=10)
        if m.payload.startswith("SEQ "):
            got.append(int(m.payload[4:]))
    assert got == list(range(1, n + 1)), "lost or reordered across reloads: %r" % (
        sorted(set(range(1, n + 1)) - set(got))[:20],)
    log = rig.gw.log_text()
    assert len(re.findall(r"serial MOT01: .* open at", log)) == 1, \
        "the unchanged port was reopened by a reload:\n%s" % rig.gw.log_tail(30)
    assert len(re.findall(r"reloaded ", log)) == 4


def test_broker_restart_reconnects():
    rig = Rig().ready()
    rig.sub.stop()
    rig.broker.restart()        # no persistence: retained status is gone
    wait_retained(rig.broker, STATUS, "online", timeout=30)
    rig.gw.assert_running()
    sub = Sub(rig.broker, ["S013/#"])
    sync_out(rig.broker, rig.pty)   # resubscribed
    sync_in(rig.pty, sub)
    pub(rig.broker, "S013/MOT01/RECM", "DRVZ+1000")
    assert rig.pty.read_line() == b"DRVZ+1000\r\n"


def test_port_unplug_and_replug():
    rig = Rig(link="ttyMOT01").ready()
    t0, cpu0 = time.monotonic(), rig.gw.cpu_seconds()
    rig.pty.close()                 # the device goes away
    pty = Pty(link="ttyMOT01")      # and comes back (a new pty)
    sync_out(rig.broker, pty, timeout=30)
    assert_not_spinning(rig.gw, t0, cpu0)
    sync_in(pty, rig.sub)
    pub(rig.broker, "S013/MOT01/RECM", "DRVZ+1000")
    assert pty.read_line() == b"DRVZ+1000\r\n"
    rig.gw.assert_running()


def test_bursts_arrive_complete_and_in_order():
    rig = Rig().ready()
    n = 300
    cmds = ["DRVZ+%d" % i for i in range(1, n + 1)]
    pub_lines(rig.broker, "S013/MOT01/RECM", cmds)
    got = [rig.pty.read_line(10) for _ in range(n)]
    want = [c.encode() + b"\r\n" for c in cmds]
    assert got == want, "first difference at %d: %r != %r" % next(
        (i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w)
    lines = ["LINE %04d" % i for i in range(1, n + 1)]
    rig.pty.write("".join(l + "\r\n" for l in lines))
    for l in lines:
        rig.sub.expect_next("S013/MOT01/SEND", l, timeout=10)
    rig.gw.assert_running()
