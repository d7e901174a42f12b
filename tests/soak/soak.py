#!/usr/bin/python3
"""
soak.py - the soak: the real daemon under steady traffic and routine
trouble for N minutes, checked for lost frames, leaks and stray errors.

    MQTTGW_BUILD=build /usr/bin/python3 tests/soak/soak.py --minutes 30
    make soak SOAK_MINUTES=30          (the same; CSV and SVG under build/soak/)

What runs (all real, on this machine): build/mqttgw with the libgpiod
stand-in preloaded and buffer.dir set (journals on disk, as a station
runs; --no-buffer-dir for memory only), a mosquitto with persistence on a free 127.0.0.1 port,
8 pty serial ports, and this script as the devices and the MQTT side (one
persistent-session paho client, mqttlink.py). Per port: numbered frames at
a steady rate pty -> MQTT plus a burst on one port every few seconds, and
numbered commands MQTT -> pty, all QoS 1. Two GPIO inputs toggled
alternately. And the trouble a station sees, one at a time:

    every minute (at :20)        SIGHUP reload, alternating a config with an
                                 extra command route (subscriptions change)
    every 3 minutes (from 1:30)  the broker restarted on the same port
    every 2 minutes (from 0:40)  a port unplugged (pty closed, its link
                                 gone) and after 2 s replugged at the same
                                 path (a new pty), as test_serial_world does

Every wait is for an event with a deadline (a status message, the pty's
input queue drained, a log line); the only timed waits are stimulus (how
long a port stays unplugged) and the traffic schedule itself.

What it checks (each a PASS/FAIL line, then "N passed, N failed", as
tests/run.py prints, so scripts/check.sh counts them):

    frames / commands   lost 0 (after a drain at the end), none reordered
                        apart from redelivery, none invented; duplicates
                        counted (QoS 1 may redeliver)
    gpio                every edge published (its new level, live)
    rss/fds/threads/cpu flat from the 5th minute on (procstat.py says how)
    error_log           no line at error level (or worse) in the gateway's
                        log that a restart or an unplug it caused does not
                        explain (what each may explain: KNOWN_ERRORS)
    trouble             every planned restart, unplug and reload happened
    exit                the gateway exits 0 on SIGTERM at the end

It prints a table per minute as it goes and writes it as CSV (--csv,
default build/soak/soak-<N>min.csv); tests/soak/plot.py draws the CSV.
"""

import argparse
import os
import re
import select
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import harness                                          # noqa: E402
from harness import (PI4, ROOT, Broker, Ctl, Gateway, Pty, gateway_config, gpio_env,  # noqa: E402
                     gpio_in, serial_dev, state_route, tmppath)
import procstat                                         # noqa: E402
import report                                           # noqa: E402
from ledger import Stream, totals                       # noqa: E402
from mqttlink import Link                               # noqa: E402

STATION = "S013"
NPORTS = 8
GPIO_LINES = ((0, 17), (1, 27))        # (index, line offset) on gpiochip0: IN0, IN1
GW_STATUS = STATION + "/gateway/status"

# Error-level lines a disruption may explain, by kind, if the line comes
# during it or within GRACE_S after it. Anything else at error level fails.
KNOWN_ERRORS = {
    "restart": [r"^mqtt: "],
    "unplug": [r"^serial %(port)s: "],
}
# Warnings are reported the same way (explained or not) but do not fail.
KNOWN_WARNINGS = {
    "restart": [r"^mqtt: connection lost"],
    "unplug": [r"^serial %(port)s: port lost"],
}
GRACE_S = 20.0
LEVEL_RE = re.compile(r"^mqttgw: (emerg|alert|crit|error|warning|notice|info|debug): (.*)$")


class SoakError(AssertionError):
    """Something the soak waited for did not happen in time."""


def until(pred, timeout, what):
    """What a step of a disruption waits for: pred() true within timeout."""
    return (pred, time.monotonic() + timeout, what)


def after(seconds):
    """A step that waits out a stimulus (a port staying unplugged)."""
    t = time.monotonic() + seconds
    return (lambda: time.monotonic() >= t, t + 5.0, "%.1f s to pass" % seconds)


def body(k, seq):
    """The frame port k sends as number seq (its tail is a check on the rest)."""
    return "P%d %d %08x" % (k, seq, (seq * 2654435761 + k) & 0xffffffff)


class Port:
    """One serial port: its pty (replaced at each replug, same path), its
    two streams and its traffic schedule."""

    def __init__(self, k):
        self.k = k
        self.name = "P%d" % k
        self.pty = Pty(link="tty" + self.name)
        self.link = self.pty.link
        self.up = Stream(self.name + " frames")
        self.down = Stream(self.name + " commands")
        self.paused = False
        self.rx = b""
        self.status = {"online": 0, "offline": 0}     # live (not retained) status messages
        self.any_online = False
        self.t_base = None
        self.n_base = 0             # steady frames sent before t_base
        self.c_base = 0             # commands sent before t_base
        self.n_steady = 0
        self.n_cmds = 0
        self.synced = False

    def resume(self, now):
        self.paused = False
        self.t_base = now
        self.n_base = self.n_steady
        self.c_base = self.n_cmds


class Soak:
    """One run: the fixtures, the traffic, the trouble (each a generator of
    steps that the loop advances, so traffic flows while it waits), the
    per-minute samples and, at the end, the verdict."""

    def __init__(self, a):
        self.a = a
        self.minutes = a.minutes
        self.rows = []
        self.errors = []            # (t, text) at error level or worse
        self.warnings = []
        self.trouble = []           # (kind, arg, t_start, t_end)
        self.planned = {"restart": 0, "unplug": 0, "reload": 0}
        self.done = {"restart": 0, "unplug": 0, "reload": 0}
        self.reloaded = 0           # "reloaded" lines in the gateway's log
        self.gw_online = 0          # live "online" on the gateway's status
        self.gw_up = False
        self.gpio_edges = 0
        self.gpio_seen = 0
        self.gpio_lost = 0
        self.gpio_extra = 0
        self.gpio_pending = {}      # index -> (level, deadline)
        self.gpio_level = {}
        self.active = None          # the disruption in progress: [gen, step, kind, arg, t0]
        self.stopping = False
        self.log_pos = 0
        self.log_buf = b""
        self.gw = None

    # ---- setup --------------------------------------------------------

    def config(self, extra=False):
        serial = [serial_dev(p.name, p.link, reopen_ms=200, max_frame=128) for p in self.ports]
        routes = []
        for p in self.ports:
            routes.append({"from": "mqtt:${station}/%s/cmd" % p.name, "to": "serial:%s" % p.name,
                           "accept": "^[CS] [0-9]+$"})
            routes.append({"from": "serial:%s" % p.name, "to": "mqtt:${station}/%s/up" % p.name})
        gpio = [gpio_in("IN%d" % i, line, edge="both") for i, line in GPIO_LINES]
        routes += [state_route("IN%d" % i) for i, _ in GPIO_LINES]
        if extra:
            # changes the subscriptions at every other reload; never published to
            routes.append({"from": "mqtt:${station}/soak/extra", "to": "serial:P0", "accept": "^X$"})
        # info level: the harness starts the daemon with -v (every frame
        # logged); the first reload applies log_level and the soak runs at
        # the level a station runs at
        extra_top = {}
        if self.a.buffer_dir:
            # as a station runs (/var/lib/mqttgw): the queue and the bytes read
            # from ports journaled, sync "batch" (the default)
            extra_top["buffer"] = {"dir": self.buffer_dir}
        return gateway_config(self.broker, serial=serial, routes=routes, gpio=gpio,
                              log_level="info", **extra_top)

    def setup(self):
        self.buffer_dir = tmppath("buffer")
        os.makedirs(self.buffer_dir)
        self.broker = Broker(persistence=True)
        self.ports = [Port(k) for k in range(NPORTS)]
        self.link = Link(self.broker.port, "soak-%d" % os.getpid(),
                         [STATION + "/+/up", STATION + "/+/status", STATION + "/+/state", GW_STATUS])
        harness._register(self.link)
        self.wait_for(lambda: self.link.subscribed >= 1, 10, "the soak's client to subscribe")
        sock, trace = tmppath("gpio.sock"), tmppath("gpio.trace")
        self.gw = Gateway(self.config(), env=gpio_env(PI4, sock, trace), name="gw")
        self.ctl = Ctl(sock, self.gw)
        for i, line in GPIO_LINES:
            self.ctl.wait("gpiochip0", line, "used", 10000)
            self.gpio_level[i] = self.ctl.get("gpiochip0", line)
        self.wait_for(lambda: self.gw_online >= 1, 20, "the gateway's live \"online\"")
        self.wait_for(lambda: all(p.any_online for p in self.ports), 20, "every port \"online\"")
        # The command routes are subscribed: an "S n" probe per port makes the trip.
        n = 0
        while not all(p.synced for p in self.ports):
            n += 1
            if n > 40:
                raise SoakError("no probe command reached every port within 20 s")
            for p in self.ports:
                if not p.synced:
                    self.link.publish("%s/%s/cmd" % (STATION, p.name), "S %d" % n)
            self.wait_for(lambda: all(p.synced for p in self.ports), 0.5, None)
        r0 = self.reloaded
        self.gw.rewrite_config(self.config())
        self.gw.signal(signal.SIGHUP)
        self.wait_for(lambda: self.reloaded > r0, 10, "the start-up reload (log_level info)")

    # ---- the event pump -----------------------------------------------

    def pump(self, timeout):
        """One turn: MQTT messages, pty bytes, the gateway's log."""
        while self.link.inbox:
            self.on_message(*self.link.inbox.popleft())
        fds = {p.pty.master: p for p in self.ports if p.pty.master is not None}
        try:
            r, _, _ = select.select(list(fds), [], [], max(0.0, timeout))
        except (OSError, ValueError):
            r = []
        for fd in r:
            p = fds[fd]
            try:
                p.rx += os.read(fd, 65536)
            except (BlockingIOError, OSError):
                continue
            self.on_port_bytes(p)
        while self.link.inbox:
            self.on_message(*self.link.inbox.popleft())
        self.tail_log()

    def wait_for(self, pred, timeout, what):
        """Pump until pred(); SoakError at the deadline (what=None: just return)."""
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                if what is None:
                    return False
                raise SoakError("timed out after %.0f s waiting for %s" % (timeout, what))
            self.pump(min(left, 0.05))
        return True

    def on_message(self, t, topic, payload, retained, dup):
        parts = topic.split("/")
        if len(parts) != 3:
            return
        what = parts[2]
        text = payload.decode("utf-8", "replace")
        if topic == GW_STATUS:
            if not retained:
                self.gw_up = text == "online"
                if self.gw_up:
                    self.gw_online += 1
            return
        if parts[1].startswith("P") and parts[1][1:].isdigit():
            k = int(parts[1][1:])
            if k >= NPORTS:
                return
            p = self.ports[k]
            if what == "up":
                f = text.split(" ")
                try:
                    seq = int(f[1])
                except (IndexError, ValueError):
                    p.up.got(-1, False)
                    return
                p.up.got(seq, text == body(k, seq))
            elif what == "status":
                if text == "online":
                    p.any_online = True
                if not retained and text in p.status:
                    p.status[text] += 1
            return
        if what == "state" and parts[1].startswith("IN") and not retained:
            i = int(parts[1][2:])
            pend = self.gpio_pending.get(i)
            if pend is not None and text == str(pend[0]):
                del self.gpio_pending[i]
                self.gpio_seen += 1
            else:
                self.gpio_extra += 1    # the state again (link up, reload): allowed

    def on_port_bytes(self, p):
        while True:
            i = p.rx.find(b"\r\n")
            if i < 0:
                return
            line, p.rx = p.rx[:i], p.rx[i + 2:]
            m = re.match(rb"^([CS]) ([0-9]+)$", line)
            if not m:
                p.down.got(-1, False)
            elif m.group(1) == b"S":
                p.synced = True     # start-up probes (and their late copies)
            else:
                p.down.got(int(m.group(2)))

    def tail_log(self):
        if self.gw is None:
            return
        try:
            with open(self.gw.log, "rb") as f:
                f.seek(self.log_pos)
                data = f.read()
        except OSError:
            return
        if not data:
            return
        self.log_pos += len(data)
        self.log_buf += data
        now = time.monotonic()
        *lines, self.log_buf = self.log_buf.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            m = LEVEL_RE.match(line)
            if not m:
                continue
            level, text = m.group(1), m.group(2)
            if level in ("emerg", "alert", "crit", "error"):
                self.errors.append((now, text))
            elif level == "warning":
                self.warnings.append((now, text))
            elif text.startswith("reloaded "):
                self.reloaded += 1

    # ---- traffic ------------------------------------------------------

    def traffic(self, now):
        a = self.a
        for p in self.ports:
            if p.paused:
                continue
            due = p.n_base + int((now - p.t_base) * a.rate)
            if due > p.n_steady:
                frames = []
                while p.n_steady < due:
                    p.n_steady += 1
                    frames.append(body(p.k, p.up.next()) + "\r\n")
                p.pty.write("".join(frames))
            due = p.c_base + int((now - p.t_base) * a.cmd_rate)
            while p.n_cmds < due:
                p.n_cmds += 1
                self.link.publish("%s/%s/cmd" % (STATION, p.name), "C %d" % p.down.next())
        if now >= self.next_burst:
            self.next_burst += a.burst_every
            p = self.ports[self.bursts % NPORTS]
            self.bursts += 1
            if not p.paused:
                p.pty.write("".join(body(p.k, p.up.next()) + "\r\n" for _ in range(a.burst)))
        if now >= self.next_edge:
            self.next_edge += a.edge_every
            i, line = GPIO_LINES[self.edges_tick % len(GPIO_LINES)]
            self.edges_tick += 1
            if i not in self.gpio_pending:
                lvl = 1 - self.gpio_level[i]
                self.gpio_level[i] = lvl
                self.ctl.set("gpiochip0", line, lvl)
                self.gpio_edges += 1
                self.gpio_pending[i] = (lvl, now + 60.0)
        for i, (lvl, dl) in list(self.gpio_pending.items()):
            if now > dl:
                del self.gpio_pending[i]
                self.gpio_lost += 1

    # ---- trouble ------------------------------------------------------

    def plan(self):
        """(t, kind, arg) relative to the start, one at a time when run."""
        T = self.minutes * 60
        ev = [(20 + 60 * m, "reload", None) for m in range(self.minutes)]
        t = 90
        while t < T - 20:
            ev.append((t, "restart", None))
            t += self.a.restart_every
        t, j = 40, 0
        while t < T - 15:
            ev.append((t, "unplug", j % NPORTS))
            t += self.a.unplug_every
            j += 1
        for _, kind, _ in ev:
            self.planned[kind] += 1
        return sorted(ev, key=lambda e: e[0])

    def do_restart(self, _):
        s0, g0 = self.link.subscribed, self.gw_online
        self.broker.restart()       # SIGTERM (mosquitto saves its sessions), same port
        yield until(lambda: self.link.subscribed > s0, 30, "the soak's client back after the restart")
        yield until(lambda: self.gw_online > g0, 30, "the gateway \"online\" after the restart")

    def do_unplug(self, k):
        p = self.ports[k]
        p.paused = True
        yield until(lambda: p.down.outstanding() == 0, 30,
                    "the commands sent to %s to arrive before its unplug" % p.name)
        yield until(lambda: p.pty.pending_input() == 0, 10,
                    "the gateway to read what was written to %s" % p.name)
        off0 = p.status["offline"]
        p.pty.close()
        yield until(lambda: p.status["offline"] > off0, 15, "%s \"offline\" after its unplug" % p.name)
        yield after(self.a.unplug_for)
        on0 = p.status["online"]
        p.pty = Pty(link=os.path.basename(p.link))
        yield until(lambda: p.status["online"] > on0, 15, "%s \"online\" after its replug" % p.name)
        p.resume(time.monotonic())

    def do_reload(self, _):
        r0 = self.reloaded
        self.gw.rewrite_config(self.config(extra=self.done["reload"] % 2 == 0))
        self.gw.signal(signal.SIGHUP)
        yield until(lambda: self.reloaded > r0, 10, "\"reloaded\" in the gateway's log")

    def step_trouble(self, now):
        if self.active is None:
            if not self.plan_left or now < self.t0 + self.plan_left[0][0] or self.stopping:
                return
            _, kind, arg = self.plan_left.pop(0)
            gen = getattr(self, "do_" + kind)(arg)
            self.active = [gen, next(gen, None), kind, arg, now]
        gen, step, kind, arg, t0 = self.active
        while step is not None:
            pred, deadline, what = step
            if not pred():
                if time.monotonic() > deadline:
                    raise SoakError("timed out waiting for " + what)
                return
            step = next(gen, None)
            self.active[1] = step
        self.trouble.append((kind, arg, t0, time.monotonic()))
        self.done[kind] += 1
        self.events_minute.append(kind if arg is None else "%s P%d" % (kind, arg))
        self.active = None

    # ---- samples ------------------------------------------------------

    def quiet(self):
        """A moment when the gateway's fd set is its usual one."""
        return (self.active is None and self.gw_up and self.link.connected()
                and not any(p.paused for p in self.ports))

    def take_sample(self, minute, now):
        s = procstat.sample(self.gw.pid)
        up = totals(p.up for p in self.ports)
        down = totals(p.down for p in self.ports)
        prev = self.prev
        row = {"minute": minute, "t_s": round(now - self.t0, 1),
               "frames_sent": up["sent"] - prev["up"]["sent"],
               "frames_recv": up["received"] - prev["up"]["received"],
               "frames_dup": up["dups"] - prev["up"]["dups"],
               "cmds_sent": down["sent"] - prev["down"]["sent"],
               "cmds_recv": down["received"] - prev["down"]["received"],
               "cmds_dup": down["dups"] - prev["down"]["dups"],
               "gpio_edges": self.gpio_edges - prev["edges"],
               "rss_kib": s["rss_kib"], "fds": s["fds"], "threads": s["threads"],
               "cpu_s": round(s["cpu_s"] - prev["cpu_s"], 2),
               "cpu_pct": round(100.0 * (s["cpu_s"] - prev["cpu_s"]) / max(0.001, now - prev["t"]), 1),
               "errors": len(self.errors) - prev["errors"],
               "warnings": len(self.warnings) - prev["warnings"],
               "events": " ".join(self.events_minute)}
        if minute == 0:
            row["cpu_s"], row["cpu_pct"] = round(s["cpu_s"], 2), 0.0
        self.prev = {"up": up, "down": down, "edges": self.gpio_edges, "cpu_s": s["cpu_s"],
                     "t": now, "errors": len(self.errors), "warnings": len(self.warnings)}
        self.events_minute = []
        self.rows.append(row)
        print(report.table_row(row), flush=True)

    # ---- the run ------------------------------------------------------

    def run(self):
        a = self.a
        self.setup()
        self.plan_left = self.plan()
        self.t0 = now = time.monotonic()
        for p in self.ports:
            p.resume(now)
        self.next_burst = now + a.burst_every / 2.0
        self.next_edge = now + a.edge_every
        self.bursts = self.edges_tick = 0
        self.events_minute = []
        zero = dict(sent=0, received=0, dups=0)
        self.prev = {"up": zero, "down": zero, "edges": 0, "cpu_s": 0.0, "t": now,
                     "errors": len(self.errors), "warnings": len(self.warnings)}
        print(report.table_head(), flush=True)
        self.take_sample(0, now)
        minute = 1
        end = self.t0 + self.minutes * 60
        while minute <= self.minutes:
            now = time.monotonic()
            if now < end:
                self.traffic(now)
            self.step_trouble(now)
            due = self.t0 + 60 * minute
            if now >= due and self.quiet():
                self.take_sample(minute, now)
                minute += 1
            elif now >= due + 60:
                raise SoakError("no quiet moment for the sample of minute %d within 60 s" % minute)
            self.pump(0.02)
        # the drain: nothing new, everything sent must arrive
        self.stopping = True
        t_drain = time.monotonic()
        streams = [p.up for p in self.ports] + [p.down for p in self.ports]
        self.wait_for(lambda: all(s.outstanding() == 0 for s in streams) and not self.gpio_pending,
                      a.drain, None)
        self.drain_s = time.monotonic() - t_drain
        self.gw_rc = self.gw.terminate(10.0)
        self.tail_log()

    # ---- verdict ------------------------------------------------------

    def explained(self, t, text, known=KNOWN_ERRORS):
        for kind, arg, t0, t1 in self.trouble + ([self.active[2:4] + [self.active[4], time.monotonic()]]
                                               if self.active else []):
            if not (t0 - 1.0 <= t <= t1 + GRACE_S):
                continue
            for pat in known.get(kind, []):
                if re.search(pat % {"port": "P%s" % arg}, text):
                    return kind
        return None

    def checks(self):
        up = totals(p.up for p in self.ports)
        down = totals(p.down for p in self.ports)
        out = []
        def examples(streams):
            ex = [e for s in streams for e in s.examples]
            return "; " + "; ".join(ex[:5]) if ex else ""
        def missing(streams):
            return "".join("; missing %s: %s" % (s.name, s.missing(5)) for s in streams
                           if s.outstanding())
        out.append(("frames_lost", up["lost"] == 0,
                    "frames sent %d, received %d, lost %d, duplicated %d%s"
                    % (up["sent"], up["received"], up["lost"], up["dups"],
                       missing(p.up for p in self.ports))))
        out.append(("frames_order", up["reordered"] == 0 and up["invented"] == 0,
                    "reordered %d, invented %d%s" % (up["reordered"], up["invented"],
                                                      examples(p.up for p in self.ports))))
        out.append(("commands_lost", down["lost"] == 0,
                    "commands sent %d, received %d, lost %d, duplicated %d%s"
                    % (down["sent"], down["received"], down["lost"], down["dups"],
                       missing(p.down for p in self.ports))))
        out.append(("commands_order", down["reordered"] == 0 and down["invented"] == 0,
                    "reordered %d, invented %d%s" % (down["reordered"], down["invented"],
                                                      examples(p.down for p in self.ports))))
        out.append(("gpio_edges", self.gpio_lost == 0 and self.gpio_seen == self.gpio_edges,
                    "edges %d, published %d, lost %d, state repeated %d"
                    % (self.gpio_edges, self.gpio_seen, self.gpio_lost, self.gpio_extra)))
        for name, ok, text in procstat.flat([r for r in self.rows if r["minute"] >= 1],
                                            procstat.base_minute(self.minutes),
                                            judge_rss=not harness.asan_runtime()):
            out.append((name, ok, text))
        caused, stray = {}, []
        for t, text in self.errors:
            k = self.explained(t, text)
            if k:
                caused[k] = caused.get(k, 0) + 1
            else:
                stray.append(text)
        out.append(("error_log", not stray,
                    "error lines %d: caused by the soak %s, unexplained %d%s"
                    % (len(self.errors), caused or "{}", len(stray),
                       "".join("\n    " + s for s in stray[:10]))))
        wcaused, wstray = {}, []
        for t, text in self.warnings:
            k = self.explained(t, text, KNOWN_WARNINGS)
            if k:
                wcaused[k] = wcaused.get(k, 0) + 1
            else:
                wstray.append(text)
        # not a failure: said so that a new kind of warning is seen
        out.append(("warning_log", True,
                    "warning lines %d: caused by the soak %s, other %d%s"
                    % (len(self.warnings), wcaused or "{}", len(wstray),
                       "".join("\n    " + s for s in sorted(set(wstray))[:10]))))
        out.append(("trouble", self.done == self.planned,
                    "done %s of planned %s" % (self.done, self.planned)))
        out.append(("exit", self.gw_rc == 0, "gateway exit status on SIGTERM: %s, after %s s"
                    % (self.gw_rc, "%.2f" % self.gw.exit_time if self.gw.exit_time else "?")))
        self.summary = {"up": up, "down": down}
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--rate", type=float, default=10.0, help="frames/s per port, steady")
    ap.add_argument("--cmd-rate", type=float, default=2.0, help="commands/s per port")
    ap.add_argument("--burst", type=int, default=200, help="frames in a burst")
    ap.add_argument("--burst-every", type=float, default=15.0, help="s between bursts (ports in turn)")
    ap.add_argument("--edge-every", type=float, default=0.5, help="s between GPIO edges")
    ap.add_argument("--restart-every", type=float, default=180.0, help="s between broker restarts")
    ap.add_argument("--unplug-every", type=float, default=120.0, help="s between unplugs")
    ap.add_argument("--unplug-for", type=float, default=2.0, help="s a port stays unplugged")
    ap.add_argument("--no-buffer-dir", dest="buffer_dir", action="store_false",
                    help="queue in memory only (default: buffer.dir in the run dir)")
    ap.add_argument("--drain", type=float, default=120.0, help="s allowed for the drain at the end")
    ap.add_argument("--csv", default=None, help="default build/soak/soak-<N>min.csv")
    ap.add_argument("--keep", action="store_true", help="keep the run's directory")
    a = ap.parse_args()
    if a.minutes < 3:
        ap.error("--minutes must be 3 or more")
    csv = a.csv or os.path.join(ROOT, "build", "soak", "soak-%dmin.csv" % a.minutes)
    os.makedirs(os.path.dirname(os.path.abspath(csv)), exist_ok=True)

    work = tempfile.mkdtemp(prefix="mqttgw-soak.")
    harness.begin_test(work, "soak")
    s = Soak(a)
    t_start = time.time()
    print("soak: %d minutes, %d ports x %.0f frames/s + %d-frame bursts every %.0f s, "
          "%.0f commands/s per port, GPIO edge every %.1f s, buffer.dir %s; run dir %s"
          % (a.minutes, NPORTS, a.rate, a.burst, a.burst_every, a.cmd_rate, a.edge_every,
             "on" if a.buffer_dir else "off", work),
          flush=True)
    results, crash = [], None
    try:
        s.run()
        results = s.checks()
    except Exception as e:      # a wait that timed out, a fixture that failed
        crash = "%s: %s" % (type(e).__name__, e)
    problems = harness.end_test()
    if s.rows:
        report.write_csv(csv, s.rows)
        print("soak: per-minute table in %s" % csv)
    try:
        shutil.copy(os.path.join(work, "gw.log"), csv[:-4] + "-gateway.log")
    except OSError:
        pass
    if crash:
        results.append(("run", False, crash))
    results.append(("teardown", not problems, "; ".join(problems) or "clean"))
    if not crash and s.rows:
        print("soak: %.1f min wall, drain %.1f s; frames %s; commands %s"
              % ((time.time() - t_start) / 60.0, s.drain_s, s.summary["up"], s.summary["down"]))
    failed = 0
    for name, ok, text in results:
        print("%s soak.%s: %s" % ("PASS" if ok else "FAIL", name, text))
        failed += not ok
    if failed:
        print("soak: run dir kept: %s" % work)
        if s.gw is not None:
            print(harness.tail(s.gw.log, 30))
    elif not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
