"""
harness/mqttc.py - the test's own MQTT clients: mosquitto_pub and
mosquitto_sub, and retained-message lookups built on them.

A test sees what a user of the broker sees, so these are the stock
mosquitto clients, not a library: pub() and pub_lines() publish and wait
for the ack; Sub runs mosquitto_sub in the background and is subscribed
(proven by an echo on a private sync topic) when its constructor returns,
so a test never races its own subscription. Client ids start with "hx-"
(Broker.foreign_clients tells them from the daemon's).
"""

import fcntl
import os
import select
import subprocess
import time

from .env import EVENT_TIMEOUT, HarnessError
from .fixtures import _register, _seq, _unregister, tmpdir
from .net import _port_of
from .procs import kill_group, run, spawn
from .wait import tail

def _mosquitto_pub(broker, topic, qos, opts, data, timeout):
    """mosquitto_pub -t topic opts with data on stdin; HarnessError if it fails."""
    argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(_port_of(broker)),
            "-i", "hx-pub-%d-%d" % (os.getpid(), next(_seq)),
            "-q", str(qos), "-t", topic] + opts
    r = run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    if r.returncode != 0:
        raise HarnessError("mosquitto_pub %s-t %s failed (%d): %s"
                           % ("-l " if "-l" in opts else "", topic, r.returncode,
                              r.stdout.decode("utf-8", "replace")))


def pub(broker, topic, payload, qos=1, retain=False, timeout=10.0):
    """Publish one message with mosquitto_pub (waits for the broker's ack at
    qos >= 1). payload: str or bytes (binary safe; b"" / "" = empty)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    opts = ["-r"] if retain else []
    opts += ["-n"] if payload == b"" else ["-s"]
    _mosquitto_pub(broker, topic, qos, opts, payload, timeout)


def pub_lines(broker, topic, lines, qos=1, timeout=30.0):
    """Publish each line as one message over a single connection
    (mosquitto_pub -l): a fast, ordered burst. Lines must not contain LF."""
    data = "".join("%s\n" % l for l in lines).encode("utf-8")
    _mosquitto_pub(broker, topic, qos, ["-l"], data, timeout)


class Msg(tuple):
    """(topic, payload, retained); payload is str (utf-8, undecodable bytes
    escaped), .raw the exact bytes, .qos the QoS it was delivered with."""

    def __new__(cls, topic, raw, retained, qos):
        self = tuple.__new__(cls, (topic, raw.decode("utf-8", "surrogateescape"), retained))
        self.raw = raw
        self.qos = qos
        return self

    topic = property(lambda self: self[0])
    payload = property(lambda self: self[1])
    retained = property(lambda self: self[2])

    def __repr__(self):
        return "Msg(%r, %r, retained=%s, qos=%d)" % (self[0], self.raw, self[2], self.qos)


class Sub:
    """mosquitto_sub in the background (QoS 2 subscription, so .qos of a
    message is the QoS it was published with). When the constructor
    returns, the subscription is live: it also subscribes to a private sync
    topic and publishes there until the echo comes back. Retained messages
    delivered on subscribe are queued before that echo."""

    teardown_rank = 0       # first: a subscriber must not see teardown's traffic

    def __init__(self, broker, topics, timeout=10.0, qos=2):
        if isinstance(topics, str):
            topics = [topics]
        self.broker = broker
        self.topics = list(topics)
        self.n = next(_seq)
        self.client_id = "hx-sub-%d-%d" % (os.getpid(), self.n)
        self.sync_topic = "hx-sync/%d/%d" % (os.getpid(), self.n)
        self.log = os.path.join(tmpdir(), "sub-%d.log" % self.n)
        self.queue = []         # received, not yet consumed
        self.seen = []          # everything received (diagnostics)
        self._buf = b""
        self._eof = False
        argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(_port_of(broker)),
                "-i", self.client_id, "-q", str(qos), "-F", "%r %q %t %x"]
        for t in self.topics + [self.sync_topic]:
            argv += ["-t", t]
        errf = open(self.log, "ab")
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=errf)
        errf.close()
        fl = fcntl.fcntl(self.proc.stdout, fcntl.F_GETFL)
        fcntl.fcntl(self.proc.stdout, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        _register(self)
        self._sync(timeout)

    def _sync(self, timeout):
        deadline = time.monotonic() + timeout
        k = 0
        wait = 0.1
        while True:
            k += 1
            token = "sync-%d" % k
            # QoS 2 like the subscription: mosquitto_sub prints a QoS 2 message
            # only after PUBREL, so a QoS 1 echo could overtake a QoS 2 retained one.
            pub(self.broker, self.sync_topic, token, qos=2)
            end = min(deadline, time.monotonic() + wait)
            while time.monotonic() < end:
                m = self._read_one(end - time.monotonic(), keep_sync=True)
                if m is not None and m.topic == self.sync_topic:
                    # Drain the echoes of earlier sync publishes still in flight.
                    while m.payload != token:
                        m = self._read_one(max(0.0, deadline - time.monotonic()), keep_sync=True)
                        if m is None:
                            raise HarnessError("mosquitto_sub lost sync messages")
                    return
                if self._eof:
                    raise HarnessError("mosquitto_sub exited: %s" % tail(self.log))
            if time.monotonic() >= deadline:
                raise HarnessError("mosquitto_sub on port %d not ready after %.0fs: %s"
                                   % (_port_of(self.broker), timeout, tail(self.log)))
            wait = min(wait * 2, 1.0)

    def _parse(self, line):
        text = line.decode("utf-8", "replace")
        retain, qos, rest = text.split(" ", 2)
        topic, _, hexpay = rest.rpartition(" ")
        return Msg(topic, bytes.fromhex(hexpay), retain == "1", int(qos))

    def _read_one(self, timeout, keep_sync=False):
        """Next parsed message from the process (not the queue), or None."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
                m = self._parse(line)
                if m.topic == self.sync_topic:
                    if keep_sync:
                        return m
                    continue
                self.queue.append(m)
                self.seen.append(m)
                if keep_sync:
                    continue
                return m
            if self._eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                return None
            try:
                data = os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                continue
            if not data:
                self._eof = True
            self._buf += data

    def next(self, timeout=EVENT_TIMEOUT):
        """The next message (topic, payload, retained) or None on timeout."""
        if not self.queue:
            self._read_one(timeout)
        return self.queue.pop(0) if self.queue else None

    def _find(self, topic, timeout):
        """Index in the queue of the first message on topic, reading more
        as needed; None at the deadline. Other topics stay queued."""
        deadline = time.monotonic() + timeout
        scanned = 0
        while True:
            for i in range(scanned, len(self.queue)):
                if self.queue[i].topic == topic:
                    return i
            scanned = len(self.queue)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._read_one(left)

    @staticmethod
    def _matches(m, payload, retained):
        return (payload is None or m.payload == payload or m.raw == payload) and \
            (retained is None or m.retained == retained)

    def expect(self, topic, payload=None, timeout=EVENT_TIMEOUT, retained=None):
        """Wait for a message on topic (with payload, and retained flag, if
        given). Earlier messages on the same topic are consumed (skipped);
        messages on other topics stay queued. Returns the Msg."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            i = self._find(topic, max(0.0, deadline - time.monotonic()))
            if i is None:
                raise AssertionError(
                    "expected %r on %s%s within %.1fs; got on that topic: %s; other topics: %s"
                    % (payload, topic, "" if retained is None else " (retained=%s)" % retained,
                       timeout, skipped or "nothing", self.queue or "nothing"))
            m = self.queue.pop(i)
            if self._matches(m, payload, retained):
                return m
            skipped.append(m)

    def expect_next(self, topic, payload, timeout=EVENT_TIMEOUT, retained=None):
        """The very next message on topic must carry payload (an ordering
        assertion). Messages on other topics stay queued."""
        i = self._find(topic, timeout)
        if i is None:
            raise AssertionError("expected %r on %s within %.1fs, got nothing on that topic"
                                 % (payload, topic, timeout))
        m = self.queue.pop(i)
        if not self._matches(m, payload, retained):
            raise AssertionError("expected %r%s as the next message on %s, got %r"
                                 % (payload, "" if retained is None
                                    else " (retained=%s)" % retained, topic, m))
        return m

    def expect_none(self, timeout=1.0, topic=None):
        """Assert that nothing (on topic, if given) is queued or arrives
        within timeout. Waits out the whole window."""
        if topic is None:
            if self.queue:
                raise AssertionError("expected no message, got %r" % (self.queue[0],))
            m = self.next(timeout)
            if m is not None:
                raise AssertionError("expected no message, got %r" % (m,))
            return
        i = self._find(topic, timeout)
        if i is not None:
            raise AssertionError("expected no message on %s, got %r" % (topic, self.queue[i]))

    def drain(self):
        """Consume everything already received (no waiting)."""
        while self._read_one(0) is not None:
            pass
        out, self.queue = self.queue, []
        return out

    def stop(self):
        kill_group(self.proc)
        try:
            self.proc.stdout.close()
        except Exception:
            pass

    def teardown(self):
        self.stop()


def retained_now(broker, topic, timeout=10.0):
    """The retained message on topic right now (a Msg), or None. Uses a fresh
    subscriber: retained messages are delivered before its sync echo, so a
    negative answer is immediate, not a timeout."""
    s = Sub(broker, [topic], timeout=timeout)
    try:
        s.drain()
        for m in s.seen:
            if m.topic == topic and m.retained:
                return m
        return None
    finally:
        s.stop()
        _unregister(s)


def get_retained(broker, topic, timeout=EVENT_TIMEOUT, payload=None):
    """Poll fresh subscribers until topic has a retained message (with
    payload, if given); returns its payload (str), or None at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        m = retained_now(broker, topic)
        if m is not None:
            last = m
            if payload is None or m.payload == payload:
                return m.payload
        if time.monotonic() >= deadline:
            return None if payload is None or last is None else last.payload
        time.sleep(0.05)


def wait_retained(broker, topic, payload, timeout=EVENT_TIMEOUT):
    """Assert that topic's retained message becomes payload within timeout."""
    got = get_retained(broker, topic, timeout, payload)
    if got != payload:
        raise AssertionError("retained message on %s: expected %r, got %r"
                             % (topic, payload, got))
