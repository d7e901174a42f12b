"""
test_gpio.py - end-to-end tests of the GPIO devices: the unmodified daemon
with the GPIO stand-in of its build (BUILD/sim/lib_gpiosim.so: the
libgpiod 1.6 flavour in build/, the 2.x one in build-gpiod2/) preloaded, a
real mosquitto, and the stand-in's control socket to drive inputs and read
outputs (tests/sim/README.md, "GPIO stand-in"). make check runs this file
against both builds (check.sh's plain and gpiod2 phases), so every message
asserted here is the same on libgpiod 1.6 and 2.x.

Every assertion is about what a user sees: messages on MQTT (live and
retained, through fresh subscribers) and the physical level of a pin (the
socket's `get`/`wait`, or the stand-in's trace file once the daemon has
exited). Readiness is proven, never slept for: `wait CHIP LINE used` on
the socket, the retained status "online". "Exactly one message" is proven
by ordering (the next message on the topic is the next expected change)
and, after the last change, one short bounded "nothing more" window.

At start the daemon publishes each line's state when it opens the line and
again when the broker link comes up, so the first change of a topic may be
preceded by copies of the start state: expect_change() skips those, and
only those.
"""

import glob
import os
import re
import subprocess
import time

from harness import (BUILD, MQTTGW, PI4, Broker, Ctl, Gateway, Sub, free_port, gateway_config,
                     gpio_env, gpio_in, gpio_out, pub, read_trace, render_config, retained_now,
                     root_args, run_mqttgw, set_route, state_route, tmppath, trace_of,
                     wait_retained, wait_until)

TIMEOUT = 60

STATUS = "S013/gateway/status"


def gpiod_major():
    """The libgpiod major version this build uses, from mqttgw --version."""
    out = subprocess.run([MQTTGW, "--version"], stdout=subprocess.PIPE, check=True).stdout.decode()
    m = re.search(r"\(libgpiod (\d+)\.", out)
    assert m, "mqttgw --version names no libgpiod: %r" % out
    return int(m.group(1))


# --------------------------------------------------------------------------
# Helpers (the stand-in's control socket, trace file and config entries: harness/gpio.py)

def next_on(sub, topic, timeout=5.0):
    """The next message on topic (other topics stay queued)."""
    return sub.expect(topic, None, timeout)


def expect_change(sub, topic, old, new, timeout=5.0):
    """Skip start-up copies of the old state on topic; the next message
    must be new."""
    deadline = time.monotonic() + timeout
    while True:
        m = next_on(sub, topic, max(0.0, deadline - time.monotonic()))
        if m.payload == old:
            continue
        assert m.payload == new, "expected %r on %s after %r, got %r" % (new, topic, old, m)
        return m


def assert_retained(broker, topic, payload):
    m = retained_now(broker, topic)
    assert m is not None and m.retained and m.payload == payload, \
        "retained message on %s: expected %r, got %r" % (topic, payload, m)


class Rig:
    """Broker (fixed port, so it can be killed and restarted), a subscriber
    on STATION/#, the daemon with the stand-in preloaded and a connection to
    its control socket. ready() waits for "online" and for every line of
    `lines` to be requested."""

    def __init__(self, gpio, routes, chips=PI4, station="S013", broker=None, mqtt=None,
                 name=None, env=None):
        self.broker = broker or Broker(port=free_port())
        tag = name or "gw"
        self.sock = tmppath("%s.sock" % tag)
        self.trace = tmppath("%s.trace" % tag)
        self.station = station
        self.sub = Sub(self.broker, ["%s/#" % station])
        m = {"reconnect_min_ms": 100, "reconnect_max_ms": 500}
        m.update(mqtt or {})
        self.cfg = gateway_config(self.broker, gpio=gpio, routes=routes, station=station, mqtt=m)
        genv = gpio_env(chips, self.sock, self.trace)
        genv.update(env or {})
        self.gw = Gateway(self.cfg, env=genv, name=name)
        self.ctl = Ctl(self.sock, self.gw)

    def ready(self, lines=(("gpiochip0", None),)):
        self.sub.expect("%s/gateway/status" % self.station, "online", timeout=10)
        for chip, line in lines:
            if line is not None:
                self.ctl.wait(chip, line, "used", 5000)
        return self

    def trace_of(self, chip, offset):
        return trace_of(self.trace, chip, offset)


# --------------------------------------------------------------------------
# Inputs

def _debounce_scenario(env, kernel_debounce):
    """One debounced switch (edge both, 50 ms) through presses, releases and
    glitches. The same messages are expected whoever debounces: the
    daemon (libgpiod 1.6; or 2.x when the kernel refuses) or the kernel
    (libgpiod 2.x). kernel_debounce: the period the line must show."""
    T = "S013/MOT01/LIMZ"
    rig = Rig([gpio_in("LIMZ", 17, edge="both", bias="pull-up", active_low=True,
                       debounce_ms=50)],
              [state_route("LIMZ", "${station}/MOT01/LIMZ")], env=env).ready([("gpiochip0", 17)])
    info = rig.ctl.info("gpiochip0", 17)
    assert info["debounce_us"] == str(kernel_debounce), \
        "expected debounce_us=%d (who debounces), got %r" % (kernel_debounce, info)
    # At start: released (pull-up, active low) -> "0", retained for anyone.
    wait_retained(rig.broker, T, "0")

    # A bouncy press: 7 levels 2 ms apart, ending low (pressed).
    rig.ctl.bounce("gpiochip0", 17, 0, 7, 2000)
    m = expect_change(rig.sub, T, "0", "1")
    assert_retained(rig.broker, T, "1")
    assert m.qos == 1, m

    # Glitches shorter than debounce_ms while pressed: nothing.
    rig.ctl.bounce("gpiochip0", 17, 0, 2, 10000)     # 10 ms high, back low
    rig.ctl.bounce("gpiochip0", 17, 0, 6, 5000)      # 25 ms of chatter, ends low
    # A bouncy release: the very next message must be "0" (one "1" per
    # press, nothing for the glitches).
    rig.ctl.bounce("gpiochip0", 17, 1, 7, 2000)
    rig.sub.expect_next(T, "0")
    assert_retained(rig.broker, T, "0")

    # Glitches while released, then another bouncy press.
    rig.ctl.bounce("gpiochip0", 17, 1, 2, 10000)
    rig.ctl.bounce("gpiochip0", 17, 1, 4, 5000)
    rig.ctl.bounce("gpiochip0", 17, 0, 5, 3000)
    rig.sub.expect_next(T, "1")
    # Nothing more: bounded window, 8x the debounce time.
    rig.sub.expect_none(0.4, topic=T)
    info = rig.ctl.info("gpiochip0", 17)
    assert info["dropped"] == "0", "the stand-in dropped events, the test proves nothing: %r" % info

    # Broker restart (no persistence: retained messages are gone): the
    # daemon reconnects and publishes the state again, retained.
    rig.broker.restart()
    wait_retained(rig.broker, STATUS, "online", timeout=10)
    wait_retained(rig.broker, T, "1", timeout=10)
    # Released while the broker is away: after the reconnect the retained
    # state is the new one.
    rig.broker.kill()
    rig.ctl.bounce("gpiochip0", 17, 1, 5, 2000)
    rig.broker.start()
    wait_retained(rig.broker, STATUS, "online", timeout=10)
    wait_retained(rig.broker, T, "0", timeout=10)
    rig.gw.assert_running()


def test_input_debounce_one_message_per_stable_change_and_retained():
    # libgpiod 2: the kernel debounces (the stand-in simulates its software
    # debounce); libgpiod 1.6 has none: the daemon does.
    _debounce_scenario({}, 50000 if gpiod_major() >= 2 else 0)


def test_input_debounce_by_the_daemon_when_the_kernel_refuses():
    # The "kernel" refuses debounce: on libgpiod 2 the line is requested
    # again without it and the daemon debounces; users see no difference.
    _debounce_scenario({"MQTTGW_GPIOSIM_DEBOUNCE": "0"}, 0)


def test_input_pressed_at_start_is_published_retained():
    T = "S013/DOOR/state"
    chips = PI4.replace("GPIO24=24", "GPIO24=24@0")     # pin held low from the start
    rig = Rig([gpio_in("DOOR", 24, bias="pull-up", active_low=True, debounce_ms=20)],
              [state_route("DOOR")], chips=chips).ready([("gpiochip0", 24)])
    wait_retained(rig.broker, T, "1")
    # rig.sub (reading on demand) gets it after the birth "online"
    rig.sub.expect(T, "1", timeout=5)
    # No message but "1" came (no transient "0" at start).
    seen = [m.payload for m in rig.sub.seen if m.topic == T]
    assert seen and set(seen) == {"1"}, "messages on %s at start: %r" % (T, seen)


def test_edge_rising_once_per_press_and_debounce_zero_every_change():
    TR, TZ = "S013/RISE/state", "S013/ZERO/state"
    rig = Rig([gpio_in("RISE", 17, edge="rising", bias="pull-up", active_low=True, debounce_ms=30),
               gpio_in("ZERO", 22, edge="both", bias="pull-down", debounce_ms=0)],
              [state_route("RISE"), state_route("ZERO")]).ready([("gpiochip0", 17),
                                                                  ("gpiochip0", 22)])
    wait_retained(rig.broker, TR, "0")
    wait_retained(rig.broker, TZ, "0")

    # edge = "rising": three bouncy presses and releases, one "1" per press,
    # nothing for the releases.
    for i in range(3):
        rig.ctl.bounce("gpiochip0", 17, 0, 5, 1000)       # press
        if i == 0:
            expect_change(rig.sub, TR, "0", "1")
        else:
            rig.sub.expect_next(TR, "1")
        rig.ctl.bounce("gpiochip0", 17, 1, 5, 1000)       # release

    # debounce_ms = 0: every change is published, in order.
    rig.ctl.set("gpiochip0", 22, 1)
    expect_change(rig.sub, TZ, "0", "1")
    rig.ctl.set("gpiochip0", 22, 0)
    rig.sub.expect_next(TZ, "0")
    rig.ctl.bounce("gpiochip0", 22, 1, 5, 2000)           # 1,0,1,0,1
    for v in "10101":
        rig.sub.expect_next(TZ, v)

    # Nothing more on either topic (a release counted as a press would show
    # up here as an extra "1").
    rig.sub.expect_none(0.4, topic=TR)
    rig.sub.expect_none(0.1, topic=TZ)
    assert_retained(rig.broker, TR, "1")
    assert_retained(rig.broker, TZ, "1")
    for line in (17, 22):
        info = rig.ctl.info("gpiochip0", line)
        assert info["dropped"] == "0", "the stand-in dropped events: %r" % info


# --------------------------------------------------------------------------
# Outputs

def test_output_commands_drive_the_pin_and_state_comes_back_retained():
    TB, TL = "S013/MOT01/BRAKE", "S013/LAMP/state"
    rig = Rig([gpio_out("BRAKE", 27, initial=0),
               gpio_out("LAMP", 22, active_low=True, initial=0)],
              [set_route("BRAKE", "${station}/MOT01/BRAKE/set"),
               state_route("BRAKE", "${station}/MOT01/BRAKE"),
               set_route("LAMP"), state_route("LAMP")]).ready([("gpiochip0", 27),
                                                                ("gpiochip0", 22)])
    wait_retained(rig.broker, TB, "0")
    wait_retained(rig.broker, TL, "0")
    assert rig.ctl.get("gpiochip0", 27) == 0
    assert rig.ctl.get("gpiochip0", 22) == 1      # active low: logical 0 is high

    seq = [("1", 1), ("0", 0), ("on", 1), ("OFF", 0), ("True", 1), ("fAlSe", 0),
           ("ON", 1), ("off", 0), ("TRUE", 1), ("false", 0), ("oN", 1), ("0", 0),
           ("toggle", 1), ("Toggle", 0), ("TOGGLE", 1)]
    prev = "0"
    for i, (payload, level) in enumerate(seq):
        pub(rig.broker, "S013/MOT01/BRAKE/set", payload)
        rig.ctl.wait("gpiochip0", 27, level)
        if i == 0:
            expect_change(rig.sub, TB, prev, str(level))
        else:
            rig.sub.expect_next(TB, str(level))
        prev = str(level)
    assert rig.ctl.get("gpiochip0", 27) == 1
    assert_retained(rig.broker, TB, "1")

    # active_low: logical 1 drives the pin low.
    for i, (payload, logical) in enumerate([("on", 1), ("0", 0), ("toggle", 1), ("FALSE", 0),
                                            ("tOgGlE", 1)]):
        pub(rig.broker, "S013/LAMP/set", payload)
        rig.ctl.wait("gpiochip0", 22, 1 - logical)
        if i == 0:
            expect_change(rig.sub, TL, "0", "1")
        else:
            rig.sub.expect_next(TL, str(logical))
    assert rig.ctl.get("gpiochip0", 22) == 0
    assert_retained(rig.broker, TL, "1")
    # The other pin was left alone.
    assert rig.ctl.get("gpiochip0", 27) == 1


def pulse(rig, dev, line, cmd, active):
    """Command a pulse on output dev (gpiochip0 line): the pin goes to level
    active and back, and S013/dev/state says 1, then 0 again."""
    topic = "S013/%s/state" % dev
    wait_retained(rig.broker, topic, "0")
    pub(rig.broker, "S013/%s/set" % dev, cmd)
    rig.ctl.wait("gpiochip0", line, active)
    rig.ctl.wait("gpiochip0", line, 1 - active, 5000)
    expect_change(rig.sub, topic, "0", "1")
    rig.sub.expect_next(topic, "0")


def test_output_pulse_goes_high_then_back():
    TB = "S013/BRAKE/state"
    rig = Rig([gpio_out("BRAKE", 27, initial=0),
               gpio_out("LAMP", 22, active_low=True, initial=0)],
              [set_route("BRAKE"), state_route("BRAKE"),
               set_route("LAMP"), state_route("LAMP")]).ready([("gpiochip0", 27),
                                                                ("gpiochip0", 22)])
    pulse(rig, "BRAKE", 27, "pulse 300", 1)
    vals = [t for t in rig.trace_of("gpiochip0", 27) if t[3] == "value"]
    assert [t[4] for t in vals] == ["1", "0"], "pin 27 changes: %r" % vals
    width = vals[1][0] - vals[0][0]
    assert 290 <= width <= 2000, "pulse 300 lasted %d ms on the pin" % width
    assert_retained(rig.broker, TB, "0")

    # Another spelling, on an active-low output: the pin goes low, then high.
    pulse(rig, "LAMP", 22, "pulse:150ms", 0)
    vals = [t for t in rig.trace_of("gpiochip0", 22) if t[3] == "value"]
    assert [t[4] for t in vals] == ["0", "1"], "pin 22 changes: %r" % vals
    assert 140 <= vals[1][0] - vals[0][0] <= 2000, "pulse:150ms lasted %d ms" % (
        vals[1][0] - vals[0][0])
    rig.sub.expect_none(0.3, topic=TB)


def test_output_refuses_unknown_payloads_and_leaves_pin_alone():
    T, SET = "S013/BRAKE/state", "S013/BRAKE/set"
    rig = Rig([gpio_out("BRAKE", 27, initial=0)],
              [set_route("BRAKE"), state_route("BRAKE")]).ready([("gpiochip0", 27)])
    pub(rig.broker, SET, "1")
    rig.ctl.wait("gpiochip0", 27, 1)
    expect_change(rig.sub, T, "0", "1")
    mark = rig.gw.log_mark()
    n_trace = len(rig.trace_of("gpiochip0", 27))

    bad = ["2", "maybe", "pulse", "pulse -5", "pulse 0", "pulse 3600001", "-1", "onn",
           "toggle!", "1 0", "pulse 5 s"]
    for payload in bad:
        pub(rig.broker, SET, payload)
    pat = re.compile(r"command on %s for BRAKE refused" % re.escape(SET))
    wait_until(lambda: len(pat.findall(rig.gw.log_text()[mark:])) >= len(bad), 5,
               what="%d refusals in the log" % len(bad))
    refusals = pat.findall(rig.gw.log_text()[mark:])
    assert len(refusals) == len(bad), "refusal log lines: %d for %d bad payloads" % (
        len(refusals), len(bad))
    # The pin was not touched: no change, no re-request, still high.
    assert rig.ctl.get("gpiochip0", 27) == 1
    assert rig.trace_of("gpiochip0", 27)[n_trace:] == [], \
        "the pin was touched by refused commands: %r" % rig.trace_of("gpiochip0", 27)[n_trace:]

    # The next good command still works, and is the next thing on the topic.
    pub(rig.broker, SET, "0")
    rig.ctl.wait("gpiochip0", 27, 0)
    rig.sub.expect_next(T, "0")
    assert_retained(rig.broker, T, "0")
    rig.gw.assert_running()


def test_initial_values_applied_at_start():
    rig = Rig([gpio_out("BRAKE", 27, initial=1),
               gpio_out("LAMP", 22, active_low=True, initial=1),
               gpio_out("VALVE", 23, active_low=True, initial=0),
               gpio_out("PUMP", 24)],                        # default initial 0
              [state_route(n) for n in ("BRAKE", "LAMP", "VALVE", "PUMP")]).ready(
        [("gpiochip0", 27), ("gpiochip0", 22), ("gpiochip0", 23), ("gpiochip0", 24)])
    # physical levels: initial XOR active_low
    expect = {27: (1, "1"), 22: (0, "1"), 23: (1, "0"), 24: (0, "0")}
    names = {27: "BRAKE", 22: "LAMP", 23: "VALVE", 24: "PUMP"}
    for line, (phys, logical) in expect.items():
        assert rig.ctl.get("gpiochip0", line) == phys, "pin %d" % line
        tr = rig.trace_of("gpiochip0", line)
        # Requested with its initial level at once: no glitch through the other level.
        assert tr and tr[0][3] == "request output mqttgw" and tr[0][4] == str(phys), \
            "pin %d trace: %r" % (line, tr)
        assert [t for t in tr if t[3] == "value"] == [], "pin %d glitched: %r" % (line, tr)
        wait_retained(rig.broker, "S013/%s/state" % names[line], logical)


# --------------------------------------------------------------------------
# Failsafe

def test_failsafe_after_grace_on_broker_loss():
    T = "S013/BRAKE/state"
    rig = Rig([gpio_out("BRAKE", 27, initial=0, failsafe=1, failsafe_grace_ms=500)],
              [set_route("BRAKE"), state_route("BRAKE")]).ready([("gpiochip0", 27)])
    wait_retained(rig.broker, T, "0")
    t0 = time.monotonic()
    rig.broker.kill()
    rig.ctl.wait("gpiochip0", 27, 1, 5000)
    took = time.monotonic() - t0
    assert took >= 0.45, "failsafe applied %.3fs after the broker died (grace 500 ms)" % took
    assert took <= 3.0, "failsafe applied only %.3fs after the broker died" % took
    vals = [t for t in rig.trace_of("gpiochip0", 27) if t[3] == "value"]
    assert [t[4] for t in vals] == ["1"], "pin 27 changes: %r" % vals
    rig.gw.wait_for_log(r"gpio BRAKE: .*failsafe")
    rig.gw.assert_running()
    # The broker comes back: the retained state tells the truth.
    rig.broker.start()
    wait_retained(rig.broker, T, "1", timeout=10)
    assert rig.ctl.get("gpiochip0", 27) == 1


def test_no_failsafe_when_broker_back_within_grace():
    T = "S013/BRAKE/state"
    grace = 2000
    rig = Rig([gpio_out("BRAKE", 27, initial=0, failsafe=1, failsafe_grace_ms=grace)],
              [set_route("BRAKE"), state_route("BRAKE")]).ready([("gpiochip0", 27)])
    wait_retained(rig.broker, T, "0")
    t0 = time.monotonic()
    rig.broker.kill()
    rig.broker.start()
    # Not persistent: "online" is retained again only once the daemon is back.
    wait_retained(rig.broker, STATUS, "online", timeout=10)
    back = time.monotonic() - t0
    assert back < grace / 1000.0 - 0.3, \
        "test cannot conclude: the daemon took %.2fs to reconnect (grace %d ms)" % (back, grace)
    # Bounded "nothing happens" window: until well past the grace.
    end = t0 + grace / 1000.0 + 0.7
    while time.monotonic() < end:
        assert rig.ctl.get("gpiochip0", 27) == 0, "failsafe applied though the broker came back"
        time.sleep(0.05)
    assert [t for t in rig.trace_of("gpiochip0", 27) if t[3] == "value"] == []
    assert "failsafe" not in rig.gw.log_text(), rig.gw.log_tail()
    assert_retained(rig.broker, T, "0")
    # The grace starts again with the next loss: the failsafe comes a full
    # grace after it, not earlier.
    t1 = time.monotonic()
    rig.broker.kill()
    rig.ctl.wait("gpiochip0", 27, 1, grace + 5000)
    took = time.monotonic() - t1
    assert grace / 1000.0 - 0.05 <= took <= grace / 1000.0 + 2.5, \
        "failsafe %.2fs after the second broker loss (grace %d ms)" % (took, grace)


def test_failsafe_at_shutdown_before_release():
    rig = Rig([gpio_out("BRAKE", 27, initial=0, failsafe=1, failsafe_grace_ms=500),
               gpio_out("LAMP", 22, active_low=True, initial=0, failsafe=1),
               gpio_out("PUMP", 23, initial=1)],                 # failsafe -1: left alone
              [state_route("BRAKE"), state_route("LAMP"), state_route("PUMP")]).ready(
        [("gpiochip0", 27), ("gpiochip0", 22), ("gpiochip0", 23)])
    wait_retained(rig.broker, "S013/BRAKE/state", "0")
    rig.ctl.close()
    rc = rig.gw.terminate(timeout=10)
    assert rc == 0, "exit code after SIGTERM: %r" % rc
    assert rig.gw.exit_time < 2.0, "took %.2fs to exit" % rig.gw.exit_time

    def whats(line):
        return [(t[3], t[4]) for t in rig.trace_of("gpiochip0", line)]

    # BRAKE: request low, failsafe high, then released (still high).
    assert whats(27) == [("request output mqttgw", "0"), ("value", "1"), ("release", "1")], \
        "pin 27: %r" % whats(27)
    # LAMP, active low: logical 1 is low.
    assert whats(22) == [("request output mqttgw", "1"), ("value", "0"), ("release", "0")], \
        "pin 22: %r" % whats(22)
    # PUMP has no failsafe: untouched.
    assert whats(23) == [("request output mqttgw", "1"), ("release", "1")], "pin 23: %r" % whats(23)
    # What MQTT shows afterwards matches the pins.
    wait_retained(rig.broker, STATUS, "offline")
    assert_retained(rig.broker, "S013/BRAKE/state", "1")
    assert_retained(rig.broker, "S013/LAMP/state", "1")


# --------------------------------------------------------------------------
# Finding chips and lines

def test_line_lookup_by_name_label_path_and_any_chip():
    broker = Broker(port=free_port())
    # Pi 3/4 style: one chip, found by name + line name, by label, by path.
    pi4 = Rig([gpio_in("BYNAME", "GPIO17", chip="gpiochip0", bias="pull-down"),
               gpio_out("BYLABEL", 27, chip="pinctrl-bcm2835"),
               gpio_out("BYPATH", 22, chip="/dev/gpiochip0")],
              [state_route("BYNAME"), set_route("BYLABEL"), state_route("BYLABEL"),
               set_route("BYPATH"), state_route("BYPATH")],
              broker=broker, name="pi4").ready([("gpiochip0", 17), ("gpiochip0", 27),
                                                ("gpiochip0", 22)])
    # Pi 5 style: the header is on the second chip (pinctrl-rp1); the first
    # chip has a line 17 too, without a name.
    pi5 = Rig([gpio_in("LIMZ", "GPIO17", chip="*", bias="pull-down"),
               gpio_out("BRAKE", "GPIO27", chip="*")],
              [state_route("LIMZ"), set_route("BRAKE"), state_route("BRAKE")],
              chips="gpiochip0:brcmstb-gpio:32;gpiochip4:pinctrl-rp1:54:GPIO17=17,GPIO27=27",
              station="S015", broker=broker, name="pi5").ready([("gpiochip4", 17),
                                                                ("gpiochip4", 27)])

    for line in (17, 27, 22):
        info = pi4.ctl.info("gpiochip0", line)
        assert info["used"] == "1" and info["consumer"] == "mqttgw", info
    pi4.ctl.set("gpiochip0", 17, 1)
    expect_change(pi4.sub, "S013/BYNAME/state", "0", "1")
    pub(broker, "S013/BYLABEL/set", "1")
    pi4.ctl.wait("gpiochip0", 27, 1)
    expect_change(pi4.sub, "S013/BYLABEL/state", "0", "1")
    pub(broker, "S013/BYPATH/set", "on")
    pi4.ctl.wait("gpiochip0", 22, 1)
    expect_change(pi4.sub, "S013/BYPATH/state", "0", "1")

    for line in (17, 27):
        info = pi5.ctl.info("gpiochip4", line)
        assert info["used"] == "1" and info["consumer"] == "mqttgw", info
        info = pi5.ctl.info("gpiochip0", line)
        assert info["used"] == "0", "chip \"*\" took the unnamed line on gpiochip0: %r" % info
    pi5.ctl.set("gpiochip4", 17, 1)
    expect_change(pi5.sub, "S015/LIMZ/state", "0", "1")
    pub(broker, "S015/BRAKE/set", "1")
    pi5.ctl.wait("gpiochip4", 27, 1)
    expect_change(pi5.sub, "S015/BRAKE/state", "0", "1")
    assert pi5.ctl.get("gpiochip0", 27) == 0
    # The start-up probe and the chip search leaked no chip handles.
    for rig, n in ((pi4, 3), (pi5, 2)):
        st = dict(kv.split("=") for kv in rig.ctl.cmd("stats").split()[1:])
        assert int(st["lines_requested"]) == n and int(st["chips_open"]) <= n, \
            "%s: %r for %d lines" % (rig.gw.name, st, n)
    pi4.gw.assert_running()
    pi5.gw.assert_running()


def test_busy_line_logged_then_taken_when_released():
    chips = PI4.replace("GPIO22=22", "GPIO22=22!foo")
    rig = Rig([gpio_in("FAN", 22, debounce_ms=0), gpio_out("BRAKE", 27)],
              [state_route("FAN"), set_route("BRAKE"), state_route("BRAKE")],
              chips=chips).ready([("gpiochip0", 27)])
    rig.gw.wait_for_log(r'gpio FAN: .*\bline 22\b.*busy.*"foo"')
    rig.gw.assert_running()
    # The other device works.
    pub(rig.broker, "S013/BRAKE/set", "1")
    rig.ctl.wait("gpiochip0", 27, 1)
    expect_change(rig.sub, "S013/BRAKE/state", "0", "1")
    assert retained_now(rig.broker, "S013/FAN/state") is None
    info = rig.ctl.info("gpiochip0", 22)
    assert info["consumer"] == "foo", info

    # The other program lets go: the daemon takes the line within a few seconds.
    rig.ctl.set("gpiochip0", 22, 1)
    t0 = time.monotonic()
    rig.ctl.cmd("unclaim", "gpiochip0", 22)
    rig.ctl.wait("gpiochip0", 22, "used", 8000)
    took = time.monotonic() - t0
    assert took < 7.0, "line taken %.1fs after it was released" % took
    assert rig.ctl.info("gpiochip0", 22)["consumer"] == "mqttgw"
    wait_retained(rig.broker, "S013/FAN/state", "1")
    rig.ctl.set("gpiochip0", 22, 0)
    expect_change(rig.sub, "S013/FAN/state", "1", "0")
    rig.gw.wait_for_log(r"gpio FAN: .*available")
    # The failed attempts left no chip handle behind.
    st = dict(kv.split("=") for kv in rig.ctl.cmd("stats").split()[1:])
    assert int(st["lines_requested"]) == 2 and int(st["chips_open"]) <= 2, st
    errors = re.findall(r"^.*error.*busy.*$", rig.gw.log_text(), re.M)
    assert len(errors) == 1, "the busy line was logged as an error %d times: %r" % (
        len(errors), errors)
    rig.gw.assert_running()


def test_missing_chip_or_line_exits_2_before_the_broker():
    # The whole message is asserted: the same words on libgpiod 1.6 and 2.x.
    broker = Broker()
    trace = tmppath("probe.trace")
    env = dict(os.environ)
    env.update(gpio_env(PI4, tmppath("probe.sock"), trace))
    good = '  { name = "OK1"; chip = "gpiochip0"; line = 27; direction = "output"; },'
    cases = [
        ('  { name = "BAD"; chip = "gpiochip7"; line = 17; },', 'gpio BAD: no chip "gpiochip7"'),
        ('  { name = "BAD"; chip = "gpiochip0"; line = "GPIO99"; },',
         'gpio BAD: no line named "GPIO99" on gpiochip0 (pinctrl-bcm2835)'),
        ('  { name = "BAD"; chip = "*"; line = "GPIO99"; },', 'gpio BAD: no line named "GPIO99" on any chip'),
        ('  { name = "BAD"; chip = "*"; line = 17; },',
         'gpio BAD: chip "*" needs a line name (line = "GPIO17")'),
        ('  { name = "BAD"; chip = "pinctrl-nope"; line = "GPIO17"; },', 'gpio BAD: no chip "pinctrl-nope"'),
        ('  { name = "BAD"; chip = "/dev/gpiochip9"; line = 17; },', 'gpio BAD: no chip "/dev/gpiochip9"'),
        ('  { name = "BAD"; chip = "/dev/null"; line = 17; },', 'gpio BAD: no chip "/dev/null"'),
        ('  { name = "BAD"; chip = "3"; line = 17; },', 'gpio BAD: no chip "3"'),
        ('  { name = "BAD"; chip = "gpiochip0"; line = 60; },',
         'gpio BAD: no line 60 on gpiochip0 (pinctrl-bcm2835 has 54 lines)'),
    ]
    for i, (entry, tail) in enumerate(cases):
        text = render_config(gateway_config(broker))
        text += "gpio = (\n%s\n%s\n);\n" % (good, entry.rstrip(","))
        text += 'routes = ( { from = "gpio:BAD"; to = "mqtt:${station}/BAD"; retain = true; } );\n'
        lineno = text.split("\n").index(entry.rstrip(",")) + 1
        path = tmppath("bad%d.cfg" % i)
        with open(path, "w") as f:
            f.write(text)
        r = run_mqttgw(["-c", path] + root_args(), timeout=10, env=env)
        assert r.returncode == 2, "%s: exit %d, stderr %r" % (entry, r.returncode, r.stderr)
        want = "%s:%d: %s" % (path, lineno, tail)
        assert want in r.stderr.splitlines(), "%s: expected the line %r in %r" % (entry, want, r.stderr)
    # Nothing reached the broker, no line was requested.
    assert broker.foreign_clients() == [], broker.foreign_clients()
    assert retained_now(broker, STATUS) is None
    assert [t for t in read_trace(trace) if t[3].startswith("request")] == [], read_trace(trace)


def test_setting_the_running_libgpiod_cannot_honour_exits_2():
    # Bias came with libgpiod 1.5: on an older library (the stand-in says
    # which version it is) a bias setting is a config error at start, with
    # the same words from either backend (the check is the driver's, above
    # the backends; a real libgpiod 2 is never that old, the stand-in lets
    # both rounds prove the message); without bias the config runs.
    broker = Broker()
    trace = tmppath("old.trace")
    env = dict(os.environ)
    env.update(gpio_env(PI4, tmppath("old.sock"), trace))
    env["MQTTGW_GPIOSIM_VERSION"] = "1.4.2"
    entry = '  { name = "LIMZ"; chip = "gpiochip0"; line = 17; bias = "pull-up"; }'
    text = render_config(gateway_config(broker))
    text += "gpio = (\n%s\n);\n" % entry
    lineno = text.split("\n").index(entry) + 1
    path = tmppath("old.cfg")
    with open(path, "w") as f:
        f.write(text)
    want = ('%s:%d: gpio LIMZ: bias = "pull-up" needs libgpiod 1.5 or later; this is libgpiod 1.4.2'
            % (path, lineno))
    r = run_mqttgw(["-c", path] + root_args(), timeout=10, env=env)
    assert r.returncode == 2, "exit %d, stderr %r" % (r.returncode, r.stderr)
    assert want in r.stderr.splitlines(), "expected the line %r in %r" % (want, r.stderr)
    assert broker.foreign_clients() == [], broker.foreign_clients()
    assert retained_now(broker, STATUS) is None
    assert [t for t in read_trace(trace) if t[3].startswith("request")] == [], read_trace(trace)
    # The same old library runs a config without bias.
    rig = Rig([gpio_in("LIMZ", 17, debounce_ms=0)], [state_route("LIMZ")], broker=broker,
              env={"MQTTGW_GPIOSIM_VERSION": "1.4.2"}).ready([("gpiochip0", 17)])
    rig.ctl.set("gpiochip0", 17, 1)
    expect_change(rig.sub, "S013/LIMZ/state", "0", "1")
    rig.gw.assert_running()


def test_version_names_the_libgpiod_it_was_built_with():
    # The build records pkg-config's libgpiod version (BUILD/.gpiod-VERSION);
    # --version says it, whatever library the stand-in pretends to be.
    stamps = [os.path.basename(p)[len(".gpiod-"):] for p in glob.glob(os.path.join(BUILD, ".gpiod-*"))]
    assert len(stamps) == 1, "expected one libgpiod stamp in %s: %r" % (BUILD, stamps)
    r = run_mqttgw(["--version"], timeout=10)
    assert r.returncode == 0, r
    assert re.fullmatch(r"mqttgw \d+\.\d+\.\d+ \(libgpiod %s\)\n" % re.escape(stamps[0]), r.stdout), r.stdout


# --------------------------------------------------------------------------
# Routes with templates

def test_gpio_routes_with_station_and_name_templates():
    rig = Rig([gpio_in("LIMZ", 17, bias="pull-up", active_low=True, debounce_ms=0),
               gpio_out("BRAKE", 27)],
              [state_route("LIMZ"), set_route("BRAKE"), state_route("BRAKE")],
              station="S077").ready([("gpiochip0", 17), ("gpiochip0", 27)])
    every = Sub(rig.broker, ["#"])
    wait_retained(rig.broker, "S077/LIMZ/state", "0")
    wait_retained(rig.broker, "S077/BRAKE/state", "0")
    rig.ctl.set("gpiochip0", 17, 0)
    expect_change(rig.sub, "S077/LIMZ/state", "0", "1")
    pub(rig.broker, "S077/BRAKE/set", "on")
    rig.ctl.wait("gpiochip0", 27, 1)
    expect_change(rig.sub, "S077/BRAKE/state", "0", "1")
    assert_retained(rig.broker, "S077/LIMZ/state", "1")
    assert_retained(rig.broker, "S077/BRAKE/state", "1")
    every.expect("S077/BRAKE/state", "1")
    topics = {m.topic for m in every.seen + rig.sub.seen if not m.topic.startswith("hx-")}
    assert not [t for t in topics if "$" in t or "{" in t], "unexpanded templates: %r" % topics
    assert topics <= {"S077/LIMZ/state", "S077/BRAKE/state", "S077/BRAKE/set",
                      "S077/gateway/status", "S077/gateway/info"}, topics


# --------------------------------------------------------------------------
# SIGHUP reload


def test_reload_keeps_outputs_and_an_armed_failsafe():
    # A reload that changes only an output's fail-safe policy keeps the
    # line and the value the operator set; one during a broker outage keeps
    # the fail-safe coming.
    rig = Rig([gpio_out("BRAKE", 27, initial=0, failsafe=1, failsafe_grace_ms=1000)],
              [set_route("BRAKE"), state_route("BRAKE")]).ready([("gpiochip0", 27)])
    wait_until(lambda: rig.broker.subscribed("mqttgw-S013", "S013/BRAKE/set"), 10, what="subscribe")
    pub(rig.broker, "S013/BRAKE/set", "1")
    rig.ctl.wait("gpiochip0", 27, 1, 5000)
    mark = rig.gw.reload(dict(rig.cfg, gpio=[gpio_out("BRAKE", 27, initial=0, failsafe=1,
                                                         failsafe_grace_ms=1200)]))
    assert "gpio BRAKE released" not in rig.gw.log_text()[mark:]
    assert rig.ctl.get("gpiochip0", 27) == 1, "the reload reset a commanded output to its initial value"
    pub(rig.broker, "S013/BRAKE/set", "0")
    rig.ctl.wait("gpiochip0", 27, 0, 5000)
    rig.broker.kill()
    rig.gw.wait_for_log(r"mqtt: connection lost", timeout=10)
    rig.gw.reload(dict(rig.cfg, gpio=[gpio_out("BRAKE", 27, initial=0, failsafe=1,
                                                  failsafe_grace_ms=800)]))
    rig.ctl.wait("gpiochip0", 27, 1, 5000)             # the fail-safe, reload or not
    rig.gw.wait_for_log(r"gpio BRAKE: .*failsafe")
    # a changed line setting makes the output anew; with the broker still
    # down it is told so, and its fail-safe comes after the grace as well
    rig.gw.reload(dict(rig.cfg, gpio=[gpio_out("BRAKE", 27, initial=0, failsafe=1,
                                                  failsafe_grace_ms=800, active_low=True)]))
    rig.ctl.wait("gpiochip0", 27, 0, 5000)             # active low: logical 1 is level 0
    rig.gw.assert_running()
