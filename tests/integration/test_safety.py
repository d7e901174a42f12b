"""
test_safety.py - the motor fail-safe end to end (issue 20): the real
daemon, a real mosquitto, ptys for the motor ports.

  * A silent link loss (the broker frozen with SIGSTOP: no RST, no FIN, the
    kernel still ACKs) stops the motor within link_timeout_ms +
    failsafe_grace_ms, not after two keepalive periods.
  * The fail-safe frame jumps the queue: commands held back by a port that
    cannot take them (XOFF from the device) are dropped, and STOP is the
    first thing the device gets when it reads again.
  * A port that comes back after an unplug gets the fail-safe frame first.
  * link_timeout_ms mistakes are refused with FILE:LINE, exit 2.

The distribution over 20 trials of every trigger is `make safety`
(tests/bench/safety.py, SAFETY.md); these are the quick checks for
make check.
"""

import os
import subprocess
import signal
import time

from harness import Broker, Gateway, Pty, Sub, gateway_config, pub, pub_lines, serial_dev, wait_until
from test_config import ROUTE1, base, expect_config_error, mutate

TIMEOUT = 60

CLIENT_ID = "mqttgw-S013"
GW_STATUS = "S013/gateway/status"

# Slack for a loaded 2-core box (the bench reports the real distribution).
SLACK_MS = 300


def routes(name):
    return [{"from": "mqtt:${station}/%s/RECM" % name, "to": "serial:%s" % name},
            {"from": "serial:%s" % name, "to": "mqtt:${station}/%s/SEND" % name}]


def ready(broker, sub, name):
    sub.expect(GW_STATUS, "online", timeout=15)
    sub.expect("S013/%s/status" % name, "online", timeout=15)
    wait_until(lambda: broker.subscribed(CLIENT_ID, "S013/%s/RECM" % name), 15,
               what="the daemon's subscription")


def test_broker_frozen_stops_motor_within_link_timeout():
    link_ms, grace_ms = 600, 200
    broker = Broker()
    pty = Pty(link="ttySF")
    sub = Sub(broker, ["S013/#"])
    gw = Gateway(gateway_config(broker, mqtt={"reconnect_min_ms": 100, "reconnect_max_ms": 400,
                                              "link_timeout_ms": link_ms},
                                serial=[serial_dev("SF", pty.path, on_disconnect="STOP",
                                                   failsafe_grace_ms=grace_ms)],
                                routes=routes("SF")))
    ready(broker, sub, "SF")
    pub(broker, "S013/SF/RECM", "RUN")
    assert pty.read_line() == b"RUN\r\n"
    sub.stop()
    os.kill(broker.proc.pid, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        got = pty.read_line(timeout=10)
        dt = (time.monotonic() - t0) * 1000
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)
    assert got == b"STOP\r\n", got
    bound = link_ms + grace_ms
    print("# broker frozen -> STOP on the port: %.0f ms (link_timeout_ms %d + failsafe_grace_ms %d = %d)"
          % (dt, link_ms, grace_ms, bound))
    assert dt <= bound + SLACK_MS, "STOP %.0f ms after the freeze; the bound is %d ms" % (dt, bound)
    # not before the link could have been proven dead: a third of the timeout (one probe period) early at most
    assert dt >= grace_ms + link_ms * 2 / 3 - 50, "STOP after only %.0f ms" % dt
    gw.wait_for_log(r"connection lost: no round trip to the broker for %d ms" % link_ms)
    # Thawed, the broker takes the gateway back and commands flow again.
    sub = Sub(broker, [GW_STATUS])
    sub.expect(GW_STATUS, "online", timeout=20)
    wait_until(lambda: broker.subscribed(CLIENT_ID, "S013/SF/RECM"), 15, what="resubscribe")
    pub(broker, "S013/SF/RECM", "AGAIN")
    assert pty.read_line() == b"AGAIN\r\n"
    gw.assert_running()


def test_link_check_keeps_a_live_link_and_costs_no_messages():
    # A live link is never declared lost, however long: 5 s at a 600 ms
    # timeout is 25 round trips. And subscribers to '#' see nothing of it.
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["#"])
    gw = Gateway(gateway_config(broker, mqtt={"link_timeout_ms": 600},
                                serial=[serial_dev("LK", pty.path, on_disconnect="STOP", failsafe_grace_ms=100)],
                                routes=routes("LK")))
    ready(broker, sub, "LK")
    mark = gw.log_mark()
    time.sleep(5)  # the assertion is that nothing happens in this window
    assert "connection lost" not in gw.log_text()[mark:], gw.log_text()[mark:]
    assert "fail-safe" not in gw.log_text()[mark:], gw.log_text()[mark:]
    # what the gateway says at connect (status, its info document) may still be arriving
    seen = [m for m in sub.drain() if "status" not in m.topic and m.topic != "S013/gateway/info"]
    assert not seen, "subscribers saw %r" % seen
    probes = broker.log_text().count("Received UNSUBSCRIBE from %s" % CLIENT_ID)
    assert 20 <= probes <= 30, "%d probes in 5 s at link_check_ms 200" % probes


def test_failsafe_jumps_commands_held_by_a_busy_port():
    # The device says XOFF: the port takes nothing, commands pile up. The
    # deadman fires: the STOP must be the first thing the device reads
    # when it says XON, and none of the held commands may follow it.
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    gw = Gateway(gateway_config(broker, serial=[
        serial_dev("HX", pty.path, flow="xonxoff", on_disconnect="STOP", command_timeout_ms=1000,
                   error_topic="${station}/${name}/error")], routes=routes("HX")))
    ready(broker, sub, "HX")
    pub(broker, "S013/HX/RECM", "HELLO")
    assert pty.read_line() == b"HELLO\r\n"
    pty.write(b"\x13")  # XOFF
    # the port is stopped once a write no longer gets through: probe with a command
    pub_lines(broker, "S013/HX/RECM", ["MOVE %d" % i for i in range(1, 6)])
    gw.wait_for_log(r"HX <- MOVE 5")
    assert pty.read_available(0.2) == b"", "XOFF did not hold the port"
    gw.wait_for_log(r"serial HX: fail-safe \(no command within command_timeout_ms\)", timeout=5)
    pty.write(b"\x11")  # XON
    assert pty.read_line() == b"STOP\r\n"
    pty.expect_nothing(0.5)
    for i in range(1, 6):
        sub.expect("S013/HX/error", "dropped: MOVE %d" % i, timeout=5)
    pub(broker, "S013/HX/RECM", "AFTER")
    assert pty.read_line() == b"AFTER\r\n"


def test_port_back_after_unplug_gets_failsafe_first():
    broker = Broker()
    pty = Pty(link="ttyUP")
    sub = Sub(broker, ["S013/#"])
    Gateway(gateway_config(broker, serial=[
        serial_dev("UP", pty.path, on_disconnect="STOP", reopen_ms=100)], routes=routes("UP")))
    ready(broker, sub, "UP")
    pub(broker, "S013/UP/RECM", "RUN")
    assert pty.read_line() == b"RUN\r\n"
    pty.close()
    sub.expect("S013/UP/status", "offline")
    pty = Pty(link="ttyUP")
    t0 = time.monotonic()
    assert pty.read_line() == b"STOP\r\n"
    dt = (time.monotonic() - t0) * 1000
    print("# replug -> STOP: %.0f ms (reopen_ms 100, backoff up to 500)" % dt)
    assert dt <= 500 + SLACK_MS
    sub.expect("S013/UP/status", "online")
    pub(broker, "S013/UP/RECM", "AGAIN")
    assert pty.read_line() == b"AGAIN\r\n"


def test_link_timeout_mistakes_refused_with_line():
    cfg = base()
    expect_config_error(mutate(cfg, "keepalive = 60;", "  keepalive = 60; link_timeout_ms = 150;  #<--"),
                        mentions="link_timeout_ms")
    expect_config_error(mutate(cfg, "keepalive = 60;",
                               "  keepalive = 60; link_timeout_ms = 1000; link_check_ms = 400;  #<--"),
                        mentions="three")
    expect_config_error(mutate(cfg, ROUTE1,
                               '  { from = "mqtt:S013/gateway/link-check"; to = "serial:MOT01"; },  #<--\n'
                               + ROUTE1), mentions="link_check_topic")
    # MQTT 3.1.1 carries no expiry: every command would be refused
    cfg4 = mutate(cfg, "keepalive = 60;", "  keepalive = 60; protocol = 4;")
    expect_config_error(mutate(cfg4, ROUTE1, ROUTE1.replace("accept", "require_expiry = true;  #<--\n accept")),
                        mentions="require_expiry")


# --------------------------------------------------------------------------
# Stale commands: MQTT 5 message expiry, require_expiry

def pub5(broker, topic, payload, expiry=None):
    """mosquitto_pub over MQTT 5, with a Message Expiry Interval (s) if given."""
    argv = ["mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
            "-t", topic, "-m", payload]
    if expiry is not None:
        argv += ["-D", "publish", "message-expiry-interval", str(expiry)]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode == 0, r.stdout


def test_expired_command_never_reaches_the_port():
    # The command waits in the gateway (the port held by XOFF) past its
    # expiry: it is dropped, reported, and never written.
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    Gateway(gateway_config(broker, mqtt={"protocol": 5}, serial=[
        serial_dev("EX", pty.path, flow="xonxoff", error_topic="${station}/${name}/error")], routes=routes("EX")))
    ready(broker, sub, "EX")
    pub5(broker, "S013/EX/RECM", "FIRST", expiry=60)
    assert pty.read_line() == b"FIRST\r\n"
    pty.write(b"\x13")  # XOFF
    pub5(broker, "S013/EX/RECM", "HELD", expiry=60)   # holds the port (in the write buffer)
    pub5(broker, "S013/EX/RECM", "SHORT", expiry=1)   # waits in the queue behind it
    pub5(broker, "S013/EX/RECM", "LONG", expiry=60)
    time.sleep(1.5)  # stimulus: SHORT's expiry passes while it waits
    pty.write(b"\x11")  # XON
    assert pty.read_line() == b"HELD\r\n"
    assert pty.read_line() == b"LONG\r\n"
    pty.expect_nothing(0.3)
    sub.expect("S013/EX/error", "expired: SHORT", timeout=5)


def test_expired_in_the_session_queue_and_require_expiry():
    # While the gateway is away the broker counts expiry down: what expired
    # there never arrives, what did not arrives with what is left of it. A
    # route with require_expiry refuses a command that carries none.
    broker = Broker()
    pty = Pty(link="ttyRQ")
    sub = Sub(broker, ["S013/#"])
    cfg = gateway_config(broker, mqtt={"protocol": 5, "clean_session": False}, serial=[
        serial_dev("RQ", pty.path, error_topic="${station}/${name}/error")],
        routes=[{"from": "mqtt:${station}/RQ/RECM", "to": "serial:RQ", "require_expiry": True}])
    gw = Gateway(cfg)
    ready(broker, sub, "RQ")
    pub5(broker, "S013/RQ/RECM", "NOEXPIRY")
    sub.expect("S013/RQ/error", "no expiry: NOEXPIRY", timeout=5)
    pub5(broker, "S013/RQ/RECM", "WITH", expiry=30)
    assert pty.read_line() == b"WITH\r\n"
    assert gw.terminate() == 0
    pub5(broker, "S013/RQ/RECM", "STALE", expiry=1)
    pub5(broker, "S013/RQ/RECM", "FRESH", expiry=60)
    time.sleep(2.2)  # stimulus: STALE expires in the broker's session queue
    Gateway(cfg)
    assert pty.read_line(timeout=10) == b"FRESH\r\n"
    pty.expect_nothing(0.5)


def test_gpio_and_serial_failsafe_in_the_same_turn():
    # One grace for the motor's port and the brake's pin: the STOP and the
    # brake come from the same loop turn (the trace and the pty read use
    # the same monotonic clock).
    from harness import PI4, Ctl, gpio_env, gpio_out, trace_of
    from harness import tmppath
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    sock, trace = tmppath("gw.sock"), tmppath("gw.trace")
    cfg = gateway_config(broker, mqtt={"link_timeout_ms": 600, "reconnect_min_ms": 100},
                         serial=[serial_dev("GS", pty.path, on_disconnect="STOP", failsafe_grace_ms=300)],
                         gpio=[gpio_out("BRAKE", 27, initial=0, failsafe=1, failsafe_grace_ms=300)],
                         routes=routes("GS"))
    gw = Gateway(cfg, env=gpio_env(PI4, sock, trace))
    ctl = Ctl(sock, gw)
    ready(broker, sub, "GS")
    ctl.wait("gpiochip0", 27, "used", 5000)
    sub.stop()
    os.kill(broker.proc.pid, signal.SIGSTOP)
    try:
        assert pty.read_line(timeout=10) == b"STOP\r\n"
        t_stop = time.monotonic() * 1000
        ctl.wait("gpiochip0", 27, 1, 5000)
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)
    vals = [t for t in trace_of(trace, "gpiochip0", 27) if t[3] == "value"]
    assert [t[4] for t in vals] == ["1"], vals
    gap = t_stop - vals[0][0]
    print("# brake pin set %.0f ms before STOP was read from the port" % gap)
    assert -5 <= gap <= 50, "brake and STOP %.0f ms apart" % gap
    gw.wait_for_log(r"gpio BRAKE: .*failsafe")


def test_failsafe_jumps_an_rs485_turn_around():
    # Software RS485 with a slow driver turn-around (rs485_delay_before_ms)
    # and one command in flight at a time: A waits out the turn-around in
    # the write buffer, B and C wait for A's answer. The deadman fires
    # meanwhile: A (not begun on the wire), B and C are dropped, and STOP
    # is the first thing on the bus.
    from harness import SPSHIM, preload_env, tmppath
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    env = preload_env(SPSHIM)
    env["MQTTGW_SPSHIM_TRACE"] = tmppath("rts.trace")
    gw = Gateway(gateway_config(broker, serial=[
        serial_dev("RT", pty.path, rs485=True, rs485_delay_before_ms=400, reply="^OK", reply_timeout_ms=10000,
                   on_disconnect="STOP", command_timeout_ms=150, error_topic="${station}/${name}/error")],
        routes=routes("RT")), env=env)
    ready(broker, sub, "RT")
    pub_lines(broker, "S013/RT/RECM", ["A", "B", "C"])
    gw.wait_for_log(r"serial RT: fail-safe \(no command within command_timeout_ms\)")
    assert pty.read_line(timeout=5) == b"STOP\r\n"
    pty.expect_nothing(0.5)
    for c in ("A", "B", "C"):
        sub.expect("S013/RT/error", "dropped: %s" % c, timeout=5)
