"""
harness/feeder.py - a steady stream of numbered lines into a pty, for the
tests that count what arrives on the other side (reload under traffic,
broker failover).

Feeder writes "SEQ 00001" .. "SEQ n" (prefix yours) one each period
seconds from its own thread. The rate is the point: its sleep paces the
stream, it waits for no event. `reached` is set once line `at` is written
(or when the stream ends or fails), so a test can act mid-stream; an
exception while writing is kept in `error` for the test to report.
"""

import threading
import time


class Feeder(threading.Thread):
    def __init__(self, pty, n, period, at=None, prefix=b"SEQ"):
        super().__init__(daemon=True)
        self.pty, self.n, self.at, self.period, self.prefix = pty, n, at, period, prefix
        self.reached = threading.Event()
        self.written = 0
        self.error = None

    def run(self):
        try:
            t = time.monotonic()
            for i in range(1, self.n + 1):
                self.pty.write(b"%s %05d\r\n" % (self.prefix, i))
                self.written = i
                if i == self.at:
                    self.reached.set()
                t += self.period
                d = t - time.monotonic()
                if d > 0:
                    time.sleep(d)
        except Exception as e:  # reported by the test
            self.error = e
        self.reached.set()
