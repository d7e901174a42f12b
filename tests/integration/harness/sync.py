"""
harness/sync.py - proving that the daemon's path is open, by ordering
rather than by waiting.

After a start, a reconnect or a reopened port a test must know that the
daemon is subscribed and the port is open before it sends what it checks.
A fixed sleep would guess; these send numbered probes until one makes the
trip, then consume the probes still in flight, so nothing of theirs is
left to confuse what the test sends next. sync_out: MQTT -> port (DRVX+n
published until one is written to the pty); sync_in: port -> MQTT (SYNC n
written to the pty until one is published on topic).
"""

import re
import time

from .mqttc import pub


def sync_out(broker, pty, topic="S013/MOT01/RECM", eol=b"\r\n", timeout=15.0):
    """Publish DRVX+1, DRVX+2, ... on topic until one reaches the port (each
    written with eol), then consume the rest of them: afterwards the daemon
    is subscribed, the port is open and nothing of ours is in flight."""
    deadline = time.monotonic() + timeout
    n = 0
    wait = 0.2
    while True:
        n += 1
        pub(broker, topic, "DRVX+%d" % n)
        try:
            line = pty.read_until(eol, min(wait, max(0.0, deadline - time.monotonic())))
        except AssertionError:
            if time.monotonic() >= deadline:
                raise AssertionError("no command published on %s reached %s within %.0fs "
                                     "(got %r)" % (topic, pty.path, timeout, pty.received[-200:]))
            wait = min(wait * 1.5, 1.0)
            continue
        while True:
            m = re.match(rb"^DRVX\+(\d+)" + re.escape(eol) + rb"$", line)
            assert m, "unexpected bytes on %s while syncing: %r" % (pty.path, line)
            if int(m.group(1)) == n:
                return
            line = pty.read_until(eol, 5.0)


def sync_in(pty, sub, topic="S013/MOT01/SEND", eol=b"\r\n", timeout=15.0):
    """Write SYNC 1, SYNC 2, ... lines until one is published on topic, then
    consume the rest of them."""
    deadline = time.monotonic() + timeout
    n = 0
    wait = 0.2
    while True:
        n += 1
        pty.write(b"SYNC %d" % n + eol)
        end = min(deadline, time.monotonic() + wait)
        got = None
        while got is None and time.monotonic() < end:
            m = sub.next(max(0.0, end - time.monotonic()))
            if m is not None and m.topic == topic and m.payload.startswith("SYNC "):
                got = m
        if got is None:
            if time.monotonic() >= deadline:
                raise AssertionError("no line written to %s was published on %s within %.0fs"
                                     % (pty.path, topic, timeout))
            wait = min(wait * 1.5, 1.0)
            continue
        while got.payload != "SYNC %d" % n:
            got = sub.expect(topic, timeout=5.0)
            assert got.payload.startswith("SYNC "), "unexpected %r while syncing" % (got,)
        return
