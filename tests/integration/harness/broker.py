"""
harness/broker.py - a private mosquitto for one test.

Broker() writes a config for a free 127.0.0.1 port (persistence off unless
asked, every log type to a file in the test dir), starts $MQTTGW_MOSQUITTO
(default /usr/sbin/mosquitto) and returns once it accepts connections. Its
log is also what tests read to see what the broker saw: clients that
connected, subscriptions made. stop/kill/restart (same port) are for tests
of a broker going away. Publishing and subscribing are in mqttc.py.
"""

import os
import re
import signal
import time

from .env import MOSQUITTO, HarnessError
from .fixtures import _register, _seq, tmpdir
from .mqttc import pub, retained_now
from .net import _can_connect, free_port
from .procs import kill_group, spawn, stop_process
from .wait import read_text, tail

class Broker:
    """A private mosquitto on 127.0.0.1. Broker() starts it on a free port;
    Broker(start=False) only reserves a port number (start() later)."""

    teardown_rank = 1       # before the gateways (fixtures._teardown_all)

    def __init__(self, port=None, start=True, persistence=False, extra_conf=""):
        self.dir = tmpdir()
        self.n = next(_seq)
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.persistence = persistence
        self.extra_conf = extra_conf
        self.proc = None
        self.stopped = False
        self.conf = os.path.join(self.dir, "mosquitto-%d.conf" % self.n)
        self.log = os.path.join(self.dir, "mosquitto-%d.log" % self.n)
        _register(self)
        if start:
            self.start()

    @property
    def uri(self):
        return "tcp://127.0.0.1:%d" % self.port

    def _write_conf(self):
        lines = ["listener %d 127.0.0.1" % self.port,
                 "allow_anonymous true",
                 "user root",
                 "max_queued_messages 0",
                 "log_dest stderr",
                 "log_type all",
                 "connection_messages true"]
        if self.persistence:
            lines += ["persistence true",
                      "persistence_location %s/" % self.dir,
                      "persistence_file mosquitto-%d.db" % self.n,
                      "autosave_interval 0"]
        else:
            lines.append("persistence false")
        if self.extra_conf:
            lines.append(self.extra_conf)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=10.0):
        """Start mosquitto and wait until it accepts connections. If the port
        was picked here and is taken meanwhile, pick another; a fixed port
        (restart) is retried until the deadline."""
        if self.running():
            return self
        self.stopped = False
        deadline = time.monotonic() + timeout
        while True:
            self._write_conf()
            logf = open(self.log, "ab")
            self.proc = spawn([MOSQUITTO, "-c", self.conf], stdout=logf, stderr=logf)
            logf.close()
            while self.proc.poll() is None and time.monotonic() < deadline:
                if _can_connect(self.port):
                    return self
                time.sleep(0.02)
            if self.proc.poll() is None:
                kill_group(self.proc)
                raise HarnessError("mosquitto did not accept connections on %d:\n%s"
                                   % (self.port, tail(self.log)))
            if time.monotonic() >= deadline:
                raise HarnessError("mosquitto failed to start on %d:\n%s"
                                   % (self.port, tail(self.log)))
            if not self._fixed_port:
                self.port = free_port()
            time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Graceful stop (SIGTERM)."""
        self.stopped = True
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, 5.0)
        return self

    def kill(self):
        self.stopped = True
        if self.proc is not None:
            kill_group(self.proc)
        return self

    def restart(self, timeout=10.0):
        """Stop and start again on the same port."""
        self.stop()
        self._fixed_port = True
        return self.start(timeout)

    def teardown(self):
        self.kill()

    def log_text(self):
        return read_text(self.log)

    def failure_note(self):
        """Said with a failure: this broker died without the test stopping
        it (something else killed it: every later connection is refused)."""
        if self.proc is not None and not self.stopped and self.proc.poll() is not None:
            return ("note: mosquitto on port %d died during the test (exit %s), "
                    "not stopped by the test; log tail:\n%s"
                    % (self.port, self.proc.returncode, tail(self.log, 8)))
        return None

    def clients(self):
        """Client ids that completed CONNECT on this broker (all runs)."""
        return re.findall(r"New client connected from \S+ as (\S+)", self.log_text())

    def foreign_clients(self):
        """Clients that are not the harness's own (mosquitto_sub/_pub)."""
        return [c for c in self.clients() if not c.startswith("hx-")]

    def subscribed(self, client_id, topic):
        """True once the broker logged client_id subscribing to topic."""
        pat = r"^\d+: %s \d %s$" % (re.escape(client_id), re.escape(topic))
        return re.search(pat, self.log_text(), re.M) is not None

    # Convenience: publishing and retained lookups through this broker.
    def pub(self, topic, payload, qos=1, retain=False):
        pub(self, topic, payload, qos=qos, retain=retain)

    def retained(self, topic):
        return retained_now(self, topic)
