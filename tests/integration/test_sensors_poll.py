"""
test_sensors_poll.py - polling (serial `poll = ( ... )`, issue 15.1) and the
MODBUS RTU example (issue 15.5), end to end: the real daemon, a real
mosquitto, and the two simulators of tests/sim on ptys (prog_sensorsim, a
text sensor that answers READ only when asked; prog_modbussim, a MODBUS RTU
slave).

What a user sees is asserted: the readings on their topics, the READ lines
that reached the sensor (each simulator logs every rx/tx with its
CLOCK_MONOTONIC time in ms, the clock time.monotonic() reads), the counters
on the stats topic (polls, polls_skipped per device).

Covered: the cadence (count over a window, bounded, and on the start +
k x every_ms grid, no drift), a slow sensor (the poll after an unanswered
one is skipped and counted, never queued: READ and answer alternate), no
polls while the port is unplugged and one right after it is back, MODBUS
read (the hex route publishes the registers the slave holds), write (an
MQTT command sets a register, the next poll reads it back), exception
answers, a request/response command interleaved with polls (its answer is
the command's, not a poll's), and config errors at their line.

Timing: the polls themselves are the events waited for, with deadlines;
fixed waits appear only as "nothing happens" windows where that is the
assertion (no polls while unplugged).
"""

import json
import os
import re
import select
import signal
import subprocess
import time

import harness
from harness import (BUILD, crc16_modbus, Broker, Gateway, Sub, gateway_config, pub, run_mqttgw, serial_dev, spawn,
                     stop_process, tail, tmppath, wait_until, write_config)

TIMEOUT = 60

CLIENT_ID = "mqttgw-S013"
GW_STATUS = "S013/gateway/status"
STATS = "S013/gateway/stats"
SENSORSIM = os.path.join(BUILD, "sim", "prog_sensorsim")
MODBUSSIM = os.path.join(BUILD, "sim", "prog_modbussim")


# --------------------------------------------------------------------------
# Helpers (our own: harness.py belongs to its owner)

class DeviceSim:
    """A simulator of tests/sim on a pty: PROG --link PATH ARGS... Waits for
    its "ready" line. self.path is the port for the daemon; rx()/tx() are
    the (monotonic seconds, text) lines it logged so far."""

    def __init__(self, prog, link, args=(), timeout=10.0):
        if not os.path.exists(prog):
            raise AssertionError("simulator not built: %s (run make tests)" % prog)
        self.name = os.path.basename(prog)[len("prog_"):]
        self.path = link if os.path.isabs(link) else tmppath(link)
        self.log = tmppath("%s-%d.log" % (self.name, int(time.monotonic() * 1000)))
        errf = open(self.log, "ab")
        self.proc = spawn([prog, "--link", self.path] + list(args), stdout=subprocess.PIPE, stderr=errf)
        errf.close()
        reg = getattr(harness, "_register", None)
        if reg:
            reg(self)
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError("%s not ready (%r): %s" % (self.name, buf, tail(self.log)))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                data = os.read(self.proc.stdout.fileno(), 4096)
                if not data:
                    raise AssertionError("%s exited: %s" % (self.name, tail(self.log)))
                buf += data
        assert buf.startswith(b"ready "), buf

    def lines(self, what):
        """[(t_seconds, text)] of the log lines "NAME: MS WHAT TEXT"."""
        pat = re.compile(r"^%s: (\d+) %s (.*)$" % (re.escape(self.name), re.escape(what)), re.M)
        with open(self.log, "r", errors="replace") as f:
            return [(int(ms) / 1000.0, text) for ms, text in pat.findall(f.read())]

    def rx(self):
        return self.lines("rx")

    def tx(self):
        return self.lines("tx")

    def wait_rx(self, n, timeout, what=None):
        """Until the simulator has received n frames; returns them."""
        wait_until(lambda: len(self.rx()) >= n, timeout,
                   what=what or "%d frames at the %s (log: %s)" % (n, self.name, tail(self.log)))
        return self.rx()

    def stop(self):
        stop_process(self.proc, signal.SIGTERM, 2.0)

    def teardown(self):
        self.stop()
        try:
            self.proc.stdout.close()
        except Exception:
            pass


def sensor_dev(path, polls, **kw):
    """A text sensor TH01 that answers READ (reply pattern ^T=)."""
    d = serial_dev("TH01", path, baud=9600, reply="^(T=|ERR)", reply_timeout_ms=3000, reopen_ms=200)
    d["poll"] = tuple(polls)
    d.update(kw)
    return d


def th_routes():
    return [{"from": "serial:TH01", "match": "^T=([-0-9.]+) H=([-0-9.]+)$",
             "to": "mqtt:${station}/TH01/state", "payload": "$1 $2"}]


def stats_cfg():
    return {"stats_topic": STATS, "stats_interval": 1}


def ready(broker, sub, devices, filters=(), timeout=15.0):
    sub.expect(GW_STATUS, "online", timeout=timeout)
    for d in devices:
        sub.expect("S013/%s/status" % d, "online", timeout=timeout)
    for f in filters:
        wait_until(lambda f=f: broker.subscribed(CLIENT_ID, f), timeout,
                   what="the daemon to subscribe to %s" % f)


def next_stats(sub, timeout=5.0):
    """The next JSON counters on the stats topic."""
    return harness.stats_next(sub, STATS, timeout)


def wait_stats(sub, pred, timeout, what):
    """Read the stats topic until pred(counters) holds; returns them."""
    return harness.stats_wait(sub, STATS, pred, timeout, what)


# --------------------------------------------------------------------------
# Polling a text sensor

def test_poll_cadence_on_the_grid():
    """every_ms = 200: about 5 polls a second, each on the start + k x 200
    grid (no drift however late a single wake-up is), and each answer is
    published through the device's route."""
    broker = Broker()
    sim = DeviceSim(SENSORSIM, "ttyTH01")
    sub = Sub(broker, ["S013/#"])
    Gateway(gateway_config(broker, serial=[sensor_dev(sim.path, [{"command": "READ", "every_ms": 200}])],
                           routes=th_routes()))
    ready(broker, sub, ["TH01"])
    sub.expect("S013/TH01/state", "21.5 40.2", timeout=5)
    first = sim.wait_rx(1, 5)[0][0]
    # a window of 3 s after the first poll: 15 slots after it
    wait_until(lambda: time.monotonic() >= first + 3.05, 10, what="the window")
    rx = [t for t, text in sim.rx() if t <= first + 3.0]
    assert all(text == "'READ'" for _, text in sim.rx()), sim.rx()
    assert 14 <= len(rx) - 1 <= 16, "%d polls in 3 s at every_ms = 200: %s" % (len(rx) - 1, rx)
    # on the grid: poll k at first + k x 0.2 (a late one is late alone, the next is back on time)
    on_grid = [abs((t - first) - round((t - first) / 0.2) * 0.2) for t in rx]
    late = [d for d in on_grid if d > 0.08]
    assert len(late) <= 3, "polls off the 200 ms grid: %s" % [round(d, 3) for d in on_grid]
    slots = [round((t - first) / 0.2) for t in rx]
    assert len(set(slots)) == len(slots), "two polls in one slot (bunched): %s" % slots
    # every answer went out on its route
    n = len(sim.tx())
    for _ in range(min(n, 10)):
        sub.expect("S013/TH01/state", "21.5 40.2", timeout=5)


def test_slow_sensor_polls_are_skipped_and_counted():
    """The sensor answers 700 ms after each READ, polls are due every
    200 ms: the poll after an unanswered one is skipped (counted in
    polls_skipped on the stats topic), never queued, so READ and answer
    alternate and nothing piles up."""
    broker = Broker()
    sim = DeviceSim(SENSORSIM, "ttyTH01", ["--delay-ms", "700"])
    sub = Sub(broker, ["S013/#"])
    Gateway(gateway_config(broker, serial=[sensor_dev(sim.path, [{"command": "READ", "every_ms": 200}])],
                           routes=th_routes(), mqtt=stats_cfg()))
    ready(broker, sub, ["TH01"])
    sim.wait_rx(4, 10)
    sub.expect("S013/TH01/state", "21.5 40.2", timeout=5)
    st = wait_stats(sub, lambda s: s["devices"]["TH01"]["polls_skipped"] >= 6, 10, "polls_skipped >= 6")
    dev = st["devices"]["TH01"]
    assert dev["poll_timeouts"] == 0, dev
    # skipped, not queued: every poll queued so far reached the sensor (one may be on its way)
    assert dev["polls"] <= len(sim.rx()) + 1, (dev, len(sim.rx()))
    # READ, answer, READ, answer...: never two READs without an answer between them
    events = sorted([(t, "rx") for t, _ in sim.rx()] + [(t, "tx") for t, _ in sim.tx()])
    kinds = [k for _, k in events]
    for a, b in zip(kinds, kinds[1:]):
        assert not (a == "rx" and b == "rx"), "two polls without an answer between them: %s" % events
    rx = [t for t, _ in sim.rx()]
    gaps = [b - a for a, b in zip(rx, rx[1:])]
    assert all(g >= 0.69 for g in gaps), "a poll before the last answer came: %s" % gaps
    # the next poll after an answer is on the 200 ms grid: at most one slot later
    assert all(g <= 0.7 + 0.2 + 0.3 for g in gaps), "polls waited longer than one slot: %s" % gaps


def test_no_polls_while_unplugged_and_one_right_after_replug():
    """While the port is gone the poll count stands still; when it is back,
    the first READ comes at once (not at the next slot of the old grid)."""
    broker = Broker()
    sim = DeviceSim(SENSORSIM, "ttyTH01")
    sub = Sub(broker, ["S013/#"])
    gw = Gateway(gateway_config(broker, serial=[sensor_dev(sim.path, [{"command": "READ", "every_ms": 1000}])],
                                routes=th_routes(), mqtt=stats_cfg()))
    ready(broker, sub, ["TH01"])
    sim.wait_rx(2, 5)
    link = sim.path
    mark = gw.log_mark()
    sim.stop()
    sub.expect("S013/TH01/status", "offline", timeout=5)
    gw.wait_for_log(r"serial TH01: port lost", since=mark)
    # two stats messages over 2.5 s apart, both while unplugged (every_ms 1000): the same poll count
    s1 = wait_stats(sub, lambda s: s["devices"]["TH01"]["online"] == 0, 5, "TH01 offline")["devices"]["TH01"]
    t1 = time.monotonic()
    # queued messages are read at once and skipped; the first read after t1 + 2.5 s was published after t1 + 1.5 s
    s2 = wait_stats(sub, lambda s: time.monotonic() >= t1 + 2.5, 6, "a message 2.5 s later")["devices"]["TH01"]
    assert s2["online"] == 0, s2
    assert s2["polls"] == s1["polls"], "polls while unplugged: %s -> %s" % (s1, s2)
    assert s2["refused"] == s1["refused"], "polls refused while unplugged: %s -> %s" % (s1, s2)

    sim2 = DeviceSim(SENSORSIM, link, ["--temp", "22.0"])
    m = sub.expect("S013/TH01/status", "online", timeout=5)
    online_seen = time.monotonic()
    first = sim2.wait_rx(1, 3)[0][0]
    assert first <= online_seen + 0.3, \
        "first poll %.3f s after the port was back (every_ms 1000)" % (first - online_seen)
    sub.expect("S013/TH01/state", "22.0 40.2", timeout=5)
    assert m.payload == "online"


def test_poll_offsets_share_one_port():
    """Two polls on one port, every 400 ms, offsets 0 and 200: they
    alternate, 200 ms apart, each answered on its route."""
    broker = Broker()
    sim = DeviceSim(SENSORSIM, "ttyTH01")
    sub = Sub(broker, ["S013/#"])
    polls = [{"command": "READ", "every_ms": 400, "offset_ms": 0},
             {"command": "PING", "every_ms": 400, "offset_ms": 200}]
    routes = th_routes() + [{"from": "serial:TH01", "match": "^ERR (.*)$", "to": "mqtt:${station}/TH01/err",
                             "payload": "$1"}]
    Gateway(gateway_config(broker, serial=[sensor_dev(sim.path, polls)], routes=routes))
    ready(broker, sub, ["TH01"])
    rx = sim.wait_rx(8, 10)[:8]
    texts = [text for _, text in rx]
    assert texts == ["'READ'", "'PING'"] * 4, texts
    gaps = [round(b[0] - a[0], 3) for a, b in zip(rx, rx[1:])]
    assert all(0.14 <= g <= 0.26 for g in gaps), "offsets not 200 ms apart: %s" % gaps
    sub.expect("S013/TH01/state", "21.5 40.2", timeout=5)
    sub.expect("S013/TH01/err", "unknown command", timeout=5)


def test_reload_applies_a_new_poll_list():
    """SIGHUP with every_ms 1000 -> 150: the device is made anew with the
    new schedule; a reload that leaves the polls alone keeps the device."""
    broker = Broker()
    sim = DeviceSim(SENSORSIM, "ttyTH01")
    sub = Sub(broker, ["S013/#"])
    cfg = gateway_config(broker, serial=[sensor_dev(sim.path, [{"command": "READ", "every_ms": 1000}])],
                         routes=th_routes())
    gw = Gateway(cfg)
    ready(broker, sub, ["TH01"])
    sim.wait_rx(1, 5)
    cfg["serial"][0]["poll"] = ({"command": "READ", "every_ms": 150},)
    mark = gw.reload(cfg)
    t0 = time.monotonic()
    gw.wait_for_log(r"serial TH01: .* open at", since=mark)
    n0 = len([t for t, _ in sim.rx() if t <= t0])
    rx = sim.wait_rx(n0 + 8, 5, what="8 polls at every_ms 150 after the reload")
    new = [t for t, _ in rx if t > t0][:8]
    assert new[-1] - new[0] <= 7 * 0.15 + 0.3, "8 polls took %.2f s" % (new[-1] - new[0])
    # an unrelated change (a route) keeps the device and its schedule: no "open" again
    cfg["routes"] = th_routes() + [{"from": "serial:TH01", "to": "mqtt:${station}/TH01/said"}]
    mark = gw.reload(cfg)
    n1 = len(sim.rx())
    sim.wait_rx(n1 + 4, 5)
    assert not re.search(r"serial TH01: .* open at", gw.log_text()[mark:]), gw.log_text()[mark:]


def test_poll_config_errors_at_their_line():
    bad = [
        ("every_ms = 5", r"every_ms = 5 is out of range \(10\.\.86400000\)"),
        ("every_ms = 1000; offset_ms = 1000", r"offset_ms = 1000 must be less than every_ms = 1000"),
        ("evry_ms = 1000", r"unknown setting \"evry_ms\".*did you mean every_ms"),
        ("command = \"\"; every_ms = 100", r"must not be empty"),
    ]
    for body, want in bad:
        if "command" not in body:
            body = 'command = "READ"; ' + body
        text = ('mqtt = { uri = "tcp://127.0.0.1:1883"; };\n'
                'serial = ( { name = "TH01"; port = "/dev/null";\n'
                '             poll = ( { command = "READ"; every_ms = 2000; },\n'
                '                      { %s; } ); } );\n' % body)
        path = write_config(text)
        r = run_mqttgw(["--check", "-c", path])
        assert r.returncode == 2, (body, r.returncode, r.stdout, r.stderr)
        line = r.stderr.strip().splitlines()[-1]
        assert re.match(r"^%s:4: " % re.escape(path), line), (body, line)
        assert re.search(want, line), (body, want, line)
    # a hex device: a command that is not hex, at its line
    text = ('mqtt = { uri = "tcp://127.0.0.1:1883"; };\n'
            'serial = ( { name = "PLC"; port = "/dev/null"; encoding = "hex"; checksum = "crc16-modbus";\n'
            '             framing = "idle";\n'
            '             poll = ( { every_ms = 1000;\n'
            '                        command = "01030G000005"; } ); } );\n')
    path = write_config(text)
    r = run_mqttgw(["--check", "-c", path])
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert re.match(r"^%s:5: serial PLC: poll command \"01030G000005\" cannot be sent" % re.escape(path),
                    r.stderr.strip().splitlines()[-1]), r.stderr
    # and a good one passes, its polls in the summary
    text = text.replace("01030G000005", "010300000005")
    path = write_config(text)
    r = run_mqttgw(["--check", "-c", path])
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert 'poll "010300000005" every 1000 ms (offset 0 ms)' in r.stdout, r.stdout


# --------------------------------------------------------------------------
# MODBUS RTU



def plc_dev(path, **kw):
    """A MODBUS RTU slave 1 as config/example-modbus.cfg drives it: hex
    payloads, crc16-modbus, frames ended by 20 ms of silence, one request
    in flight (replies from slave 1), registers 0..4 polled every 300 ms."""
    d = serial_dev("PLC01", path, baud=9600, framing="idle", idle_ms=20, encoding="hex",
                   checksum="crc16-modbus", reply="^01", reply_timeout_ms=1000, max_frame=256,
                   reopen_ms=200)
    del d["eol"]
    d["poll"] = ({"command": "010300000005", "every_ms": 300},)
    d.update(kw)
    return d


def plc_routes():
    return [
        # the registers of the poll (function 03, 10 bytes)
        {"from": "serial:PLC01", "match": "^01030A([0-9A-F]{20})$", "to": "mqtt:${station}/PLC01/regs",
         "payload": "$1"},
        # a setpoint in 0.1 C as 4 hex digits -> 06 write single register 4
        {"from": "mqtt:${station}/PLC01/setpoint/set", "to": "serial:PLC01", "accept": "^[0-9A-F]{4}$",
         "payload": "01060004$0"},
        # raw requests, request/response (.../req/ID -> .../res/ID)
        {"from": "mqtt:${station}/PLC01/req/+", "to": "serial:PLC01", "accept": "^[0-9A-F]{4,64}$"},
        {"from": "serial:PLC01", "to": "mqtt:${station}/PLC01/reply"},
    ]


def regs_hex(*regs):
    return "".join("%04X" % (r & 0xFFFF) for r in regs)


def test_modbus_read_and_write():
    broker = Broker()
    # -20.5 C (signed), 40.2 %RH, counter 70000 low word first, setpoint 20.0 C
    sim = DeviceSim(MODBUSSIM, "ttyPLC01", ["--set", "0=-205"])
    sub = Sub(broker, ["S013/#"])
    Gateway(gateway_config(broker, serial=[plc_dev(sim.path)], routes=plc_routes(), mqtt=stats_cfg()))
    ready(broker, sub, ["PLC01"], ["S013/PLC01/setpoint/set", "S013/PLC01/req/+"])
    want = regs_hex(-205, 402, 70000 & 0xFFFF, 70000 >> 16, 200)
    assert want == "FF3301921170000100C8", want
    sub.expect("S013/PLC01/regs", want, timeout=5)
    # what reached the slave: the request with its CRC, low byte first
    req = bytes.fromhex("010300000005")
    assert sim.rx()[0][1] == " ".join("%02X" % b for b in req + crc16_modbus(req)), sim.rx()[0]

    # write the setpoint: 25.0 C -> register 4 = 250, echoed, and the next poll reads it back
    pub(broker, "S013/PLC01/setpoint/set", "00FA")
    sub.expect("S013/PLC01/reply", "0106000400FA", timeout=5)
    sub.expect("S013/PLC01/regs", regs_hex(-205, 402, 70000 & 0xFFFF, 70000 >> 16, 250), timeout=5)
    wait_until(lambda: any("register 4 = 250" in l for l in open(sim.log, errors="replace")), 5,
               what="the slave to log the write")

    # exceptions: an unknown function (01) and a register past the end (02)
    pub(broker, "S013/PLC01/req/7", "01410000")
    m = sub.expect("S013/PLC01/res/7", timeout=5)
    assert m.payload == "01C101", m
    pub(broker, "S013/PLC01/req/8", "010300200001")
    m = sub.expect("S013/PLC01/res/8", timeout=5)
    assert m.payload == "018302", m
    # a command refused by accept never reaches the slave
    n = len(sim.rx())
    pub(broker, "S013/PLC01/setpoint/set", "25.0")
    sub.expect("S013/PLC01/regs", timeout=5)
    sub.expect("S013/PLC01/regs", timeout=5)
    assert all("01 06" not in t for _, t in sim.rx()[n:]), sim.rx()[n:]
    st = next_stats(sub)["devices"]["PLC01"]
    assert st["bad"] == 0 and st["poll_timeouts"] == 0, st


def test_modbus_responses_are_not_taken_by_polls():
    """Request/response commands interleaved with fast polls: each .../res/ID
    carries the answer to its own request, never a poll's registers."""
    broker = Broker()
    sim = DeviceSim(MODBUSSIM, "ttyPLC01", ["--delay-ms", "30"])
    sub = Sub(broker, ["S013/#"])
    dev = plc_dev(sim.path)
    dev["poll"] = ({"command": "010300000005", "every_ms": 50},)
    Gateway(gateway_config(broker, serial=[dev], routes=plc_routes()))
    ready(broker, sub, ["PLC01"], ["S013/PLC01/req/+"])
    sub.expect("S013/PLC01/regs", timeout=5)
    for i in range(10):
        pub(broker, "S013/PLC01/req/%d" % i, "01060001%04X" % (500 + i))
    for i in range(10):
        m = sub.expect("S013/PLC01/res/%d" % i, timeout=10)
        assert m.payload == "01060001%04X" % (500 + i), (i, m)
    # and the polls went on: the last write is in the registers
    sub.expect("S013/PLC01/regs", regs_hex(215, 509, 70000 & 0xFFFF, 70000 >> 16, 200), timeout=5)


def test_unanswered_polls_time_out_quietly():
    """Polls to a slave that is not there: each times out after
    reply_timeout_ms (poll_timeouts), one warning in the log for the whole
    streak, nothing on the error topic (nobody on MQTT asked), and the
    next poll goes after each timeout."""
    broker = Broker()
    sim = DeviceSim(MODBUSSIM, "ttyPLC02", ["--slave", "2"])
    sub = Sub(broker, ["S013/#"])
    dev = plc_dev(sim.path, reply="^0[12]", reply_timeout_ms=250, error_topic="${station}/${name}/error")
    dev["poll"] = ({"command": "010300000005", "every_ms": 100},)
    gw = Gateway(gateway_config(broker, serial=[dev], routes=plc_routes(), mqtt=stats_cfg()))
    ready(broker, sub, ["PLC01"], ["S013/PLC01/req/+"])
    st = wait_stats(sub, lambda s: s["devices"]["PLC01"]["poll_timeouts"] >= 4, 10, "poll_timeouts >= 4")
    d = st["devices"]["PLC01"]
    assert d["polls_skipped"] >= d["poll_timeouts"], d
    warnings = re.findall(r"poll \"010300000005\" got no reply in time", gw.log_text())
    assert len(warnings) == 1, gw.log_text()
    # the requests reached the wire, each after the last one timed out
    rx = [t for t, _ in sim.rx()]
    assert len(rx) >= 4 and all(b - a >= 0.24 for a, b in zip(rx, rx[1:])), rx
    # a command for slave 2 is answered on its .../res/ID: the queue moves on after the timeouts
    pub(broker, "S013/PLC01/req/1", "020300000001")
    m = sub.expect("S013/PLC01/res/1", timeout=5)
    assert m.payload == "020302" + "00D7", m
    sub.expect_none(timeout=0.5, topic="S013/PLC01/error")


# --------------------------------------------------------------------------
# The example configs, as shipped, against the simulators

def example_config(name, replace):
    """config/NAME with each (old, new) of replace applied (broker, port)."""
    with open(os.path.join(harness.ROOT, "config", name)) as f:
        text = f.read()
    for old, new in replace:
        assert old in text, (name, old)
        text = text.replace(old, new)
    return write_config(text)


def test_example_sensors_cfg():
    broker = Broker()
    sim = DeviceSim(SENSORSIM, "ttyTH01", ["--vary"])
    sub = Sub(broker, ["S013/#"])
    Gateway(example_config("example-sensors.cfg", [("tcp://127.0.0.1:1883", broker.uri),
                                                   ('"/tmp/ttyTH01"', '"%s"' % sim.path)]))
    ready(broker, sub, ["TH01"])
    m = sub.expect("S013/TH01/state", timeout=5)
    state = json.loads(m.payload)
    assert set(state) == {"temperature", "humidity", "unit"}, state
    assert 21.0 <= state["temperature"] <= 22.0 and 39.0 <= state["humidity"] <= 41.5, state
    assert [text for _, text in sim.rx()] == ["'READ'"], sim.rx()


def test_example_modbus_cfg():
    broker = Broker()
    sim = DeviceSim(MODBUSSIM, "ttyPLC01", ["--count"])
    sub = Sub(broker, ["S013/#"])
    Gateway(example_config("example-modbus.cfg", [("tcp://127.0.0.1:1883", broker.uri),
                                                  ('"/tmp/ttyPLC01"', '"%s"' % sim.path)]))
    ready(broker, sub, ["PLC01"], ["S013/PLC01/setpoint/set"])
    # typed JSON: 0.1 C signed as a number, the 32-bit counter read in CDAB order
    m = sub.expect("S013/PLC01/state", timeout=5)
    state = json.loads(m.payload)
    assert set(state) == {"temperature", "humidity", "energy_wh", "setpoint"}, state
    assert state["temperature"] == 21.5 and state["humidity"] == 40.2 and state["setpoint"] == 20.0, state
    assert isinstance(state["energy_wh"], int) and state["energy_wh"] > 70000, state
    energy = state["energy_wh"]
    # an MQTT number sets the register: "25" -> 01 06 00 04 00FA, echoed by the slave
    pub(broker, "S013/PLC01/setpoint/set", "25")
    sub.expect("S013/PLC01/reply", "0106000400FA", timeout=5)
    # the first poll answered after the write reads it back (earlier ones may still be queued here)
    deadline = time.monotonic() + 5
    while True:
        m = sub.expect("S013/PLC01/state", timeout=max(0.1, deadline - time.monotonic()))
        state = json.loads(m.payload)
        if state["setpoint"] == 25.0:
            break
    assert state["energy_wh"] > energy, state
    # a setpoint the accept pattern refuses never reaches the wire
    # the simulator logs the bytes it got, CRC included: "01 06 00 04 00 FA 88 0E"
    writes = [text[:17] for _, text in sim.rx() if text.startswith("01 06")]
    assert writes == ["01 06 00 04 00 FA"], writes
    pub(broker, "S013/PLC01/setpoint/set", "hot")
    pub(broker, "S013/PLC01/setpoint/set", "30")
    sub.expect("S013/PLC01/reply", "01060004012C", timeout=5)
    writes = [text[:17] for _, text in sim.rx() if text.startswith("01 06")]
    assert writes == ["01 06 00 04 00 FA", "01 06 00 04 01 2C"], writes
