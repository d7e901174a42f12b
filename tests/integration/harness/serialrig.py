"""
harness/serialrig.py - the rig the serial-world suites share
(test_serial_world: the device and its port; test_serial_failsafe: what
the port sees when the link, the daemon or the device goes away).

PortPeer plays a device on the master side of a Pty in a thread and
timestamps every line it reads and every answer it writes, so that a test
can see collisions on a bus and measure delays. dev_routes() gives a port
its command route (S013/NAME/RECM) and its uplink (S013/NAME/SEND);
one_port() starts a broker, a pty, a subscriber and the gateway with one
such port, ready for commands. CLOCK_SLACK_MS is how early the daemon's
millisecond clock may fire a timer, seen from this process.
"""

import os
import select
import threading
import time

from .broker import Broker
from .config import gateway_config, serial_dev
from .fixtures import _register
from .gateway import Gateway, gateway_ready
from .mqttc import Sub
from .serial import Pty
from .wait import wait_until


def dev_routes(name, accept=None, reply_route=True):
    """S013/NAME/RECM -> serial:NAME (with accept, if given) and everything
    from the device -> S013/NAME/SEND."""
    down = {"from": "mqtt:${station}/%s/RECM" % name, "to": "serial:%s" % name}
    if accept:
        down["accept"] = accept
    r = [down]
    if reply_route:
        r.append({"from": "serial:%s" % name, "to": "mqtt:${station}/%s/SEND" % name})
    return r


# The daemon's clock is CLOCK_MONOTONIC (time.monotonic() here) in whole
# milliseconds, truncated, read once per loop turn: a timer of T ms set by
# a command it took at true time t fires at t + T - 1 ms at the earliest.
# "Not before the timeout" is asserted from a time taken just before the
# command was published (t_pub < t), minus this much: that 1 ms, and 1 ms
# for the loop turn's reading of the clock before it drains the MQTT events.
CLOCK_SLACK_MS = 2


def one_port(name, make=serial_dev, env=None, **kw):
    """A broker, a pty, a subscriber on S013/# and the gateway with one
    port, make(name, the pty, **kw), and dev_routes(name); ready for
    commands. Returns broker, pty, sub and the gateway."""
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    gw = Gateway(gateway_config(broker, serial=[make(name, pty.path, **kw)],
                                routes=dev_routes(name)), env=env)
    gateway_ready(broker, sub, [name], ["S013/%s/RECM" % name])
    return broker, pty, sub, gw


class PortPeer:
    """A device on the master side of a Pty, played by a thread.

    Every read is timestamped (self.lines: (t, line) per complete line,
    eol stripped) and so is every write (self.writes: (t, bytes)).
    respond(line) returns None (no answer) or (delay_s, bytes): the answer
    is written delay_s after the line was read. While an answer is pending
    the command is "in flight" on the wire; a line that arrives meanwhile
    is recorded in self.overlaps as (t, line, line in flight) -- on a
    half-duplex bus that is a collision. Answers are written one at a time,
    in order, so the peer itself never talks over itself. The thread owns
    the master fd: use the peer, not pty.read_*, while it runs."""

    def __init__(self, pty, respond=None, eol=b"\r\n"):
        self.pty = pty
        self.respond = respond
        self.eol = eol
        self.lock = threading.Lock()
        self.lines = []
        self.writes = []
        self.overlaps = []
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peer-%s" % pty.path, daemon=True)
        _register(self)             # stopped at teardown, before its pty is closed
        self._thread.start()

    def _run(self):
        fd = self.pty.master
        buf = b""
        pending = []            # [(due, bytes, line)], in order
        try:
            while not self._stop.is_set():
                wait = 0.05
                if pending:
                    wait = max(0.0, min(wait, pending[0][0] - time.monotonic()))
                r, _, _ = select.select([fd], [], [], wait)
                now = time.monotonic()
                if r:
                    try:
                        data = os.read(fd, 4096)
                    except BlockingIOError:
                        data = b""
                    except OSError:
                        time.sleep(0.01)        # EIO: nobody has the slave open
                        data = b""
                    buf += data
                    while self.eol in buf:
                        line, buf = buf.split(self.eol, 1)
                        with self.lock:
                            self.lines.append((now, line))
                            if pending:
                                self.overlaps.append((now, line, pending[0][2]))
                        ans = self.respond(line) if self.respond else None
                        if ans is not None:
                            pending.append((now + ans[0], ans[1], line))
                while pending and time.monotonic() >= pending[0][0]:
                    _, out, _ = pending.pop(0)
                    os.write(fd, out)
                    with self.lock:
                        self.writes.append((time.monotonic(), out))
        except Exception as e:      # reported by the test through self.errors
            self.errors.append(repr(e))

    def snapshot(self):
        with self.lock:
            return list(self.lines), list(self.writes), list(self.overlaps)

    def wait_lines(self, n, timeout=5.0):
        wait_until(lambda: len(self.lines) >= n, timeout,
                   what="%d lines on %s (got %r)" % (n, self.pty.path, [l for _, l in self.lines]))
        return self.snapshot()[0]

    def teardown(self):
        self._stop.set()
        self._thread.join(2.0)
