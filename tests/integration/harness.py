"""
harness.py - shared fixtures for the mqttgw integration tests (stdlib only).

Every fixture here starts real things: a mosquitto broker on a free
127.0.0.1 port, pseudo-terminal pairs standing in for serial ports, the
unmodified daemon ($MQTTGW_BUILD/mqttgw), mosquitto_sub/mosquitto_pub and
the motor simulator. Tests are run by tests/run.py, one at a time, each in
a fresh temporary directory (harness.tmpdir()).

Shaped for two things:

  * No leftovers. Every process is started through spawn(): its own process
    group (start_new_session), PR_SET_PDEATHSIG so it dies with the runner,
    and a registry that tests/run.py tears down after every test, pass, fail
    or timeout (end_test()). A last sweep kills any direct child still alive.
    Tests never need try/finally for cleanup.

  * No fixed sleeps. Everything waits for an event with a deadline: a log
    line, a byte on a pty (select), a message from mosquitto_sub. The only
    calls that wait out their whole window are the "nothing happens"
    assertions (Pty.expect_nothing, Sub.expect_none), and the tests prefer
    ordering proofs (a following good command is the next thing to arrive)
    to those windows.

Quick reference:

    b   = Broker()                       # started, b.port
    p   = Pty(link="ttyMOT01")           # p.path (slave or symlink), p.write, p.read_line
    cfg = gateway_config(b, serial=[serial_dev("MOT01", p.path)], routes=[...])
    gw  = Gateway(cfg)                   # started: mqttgw -f -v -c FILE
    s   = Sub(b, ["S013/#"])             # subscribed (synced) when the constructor returns
    s.expect("S013/gateway/status", "online")
    pub(b, "S013/MOT01/RECM", "DRVZ+1000")
    assert p.read_line(5) == b"DRVZ+1000\\r\\n"
    p.write(b"POSZ+001000\\r\\n"); s.expect("S013/MOT01/POS/Z", "+001000")
    retained_now(b, topic) / get_retained(b, topic, timeout) / wait_retained(b, topic, payload)
    gw.wait_for_log(r"regex"); gw.terminate() -> exit code; gw.kill(); gw.returncode
    MotorSim(link="ttyMOTSIM").path      # the simulator's port for the config
    px = PubackProxy(b); gateway_config(px, ...)   # MQTT-aware proxy: px.acked, px.cut()
    Gateway(cfg, env=preload_env(SPSHIM))   # LD_PRELOAD shims (ASan-aware)

Running as root, Gateway adds --allow-root if the daemon offers that option.
"""

import ctypes
import errno
import fcntl
import itertools
import os
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_build = os.environ.get("MQTTGW_BUILD", "build")
BUILD = _build if os.path.isabs(_build) else os.path.join(ROOT, _build)
MQTTGW = os.path.join(BUILD, "mqttgw")
MOTORSIM = os.path.join(BUILD, "sim", "prog_motorsim")
SPSHIM = os.path.join(BUILD, "sim", "lib_spshim.so")
# MQTTGW_MOSQUITTO: another broker binary (e.g. mosquitto 2.0.21 from
# bookworm-backports, unpacked beside the system's 2.0.11).
MOSQUITTO = os.environ.get("MQTTGW_MOSQUITTO") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else "mosquitto")

# MQTTGW_VALGRIND=1 runs every daemon under valgrind (memcheck, leaks);
# any error or definite leak in its report fails the test (see Gateway).
VALGRIND = os.environ.get("MQTTGW_VALGRIND", "") not in ("", "0")

# Default wait for an event that should happen promptly (a message, a line);
# valgrind makes the daemon some 20 times slower.
EVENT_TIMEOUT = 20.0 if VALGRIND else 5.0

# MQTTGW_PROTOCOL=5 runs every daemon config that does not name its MQTT
# protocol with `mqtt.protocol = 5` (make check runs the end-to-end suites
# on both protocols, so a difference between the two cannot hide). A test
# that names a protocol keeps it.
PROTOCOL = int(os.environ.get("MQTTGW_PROTOCOL", "4") or "4")
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:", "ERROR: ThreadSanitizer",
                      "WARNING: ThreadSanitizer")


class HarnessError(AssertionError):
    """A fixture could not do its job (binary missing, broker won't start)."""


# --------------------------------------------------------------------------
# Per-test state and the process registry (driven by tests/run.py)

_state = {"dir": None, "name": None, "module_dir": None}
_fixtures = []          # the current test's objects with .teardown(), in creation order
_module_fixtures = []   # made by setup_module(): live until teardown_module()
_scope = [_fixtures]    # where new fixtures are registered
_gateways = []          # Gateway objects of the current test (log tails on failure)
_problems = []          # teardown findings that fail the test (sanitizer reports)
_seq = itertools.count(1)


def _register(fx):
    _scope[0].append(fx)
    if isinstance(fx, Gateway):
        _gateways.append(fx)


def _unregister(fx):
    for lst in (_fixtures, _module_fixtures):
        if fx in lst:
            lst.remove(fx)


def begin_module(directory):
    """Fixtures made from now on (in setup_module) belong to the module."""
    _state["dir"] = _state["module_dir"] = directory
    _scope[0] = _module_fixtures


def begin_test(directory, name):
    _state["dir"] = directory
    _state["name"] = name
    _scope[0] = _fixtures
    del _fixtures[:]
    del _gateways[:]
    del _problems[:]


def tmpdir():
    """The current test's private temporary directory (in setup_module:
    the module's)."""
    if _state["dir"] is None:
        raise HarnessError("no test is running (harness.begin_test not called)")
    return _state["dir"]


def tmppath(name):
    return os.path.join(tmpdir(), name)


def gateways():
    return list(_gateways)


def _teardown_all(fixtures, problems):
    # Brokers go before gateways: a daemon without a broker shuts down at
    # once, with one it waits for paho's disconnect (about a second), and
    # the connected SIGTERM path has its own test.
    order = {Sub: 0, Broker: 1, PubackProxy: 1, Gateway: 2, MotorSim: 3}
    items = sorted(enumerate(fixtures),
                   key=lambda it: (order.get(type(it[1]), 4), -it[0]))
    for _, fx in items:
        try:
            fx.teardown()
        except Exception as e:  # keep going, but say so
            problems.append("teardown of %s failed: %r" % (type(fx).__name__, e))
    del fixtures[:]


def _module_pids():
    return {fx.proc.pid for fx in _module_fixtures
            if getattr(fx, "proc", None) is not None and fx.proc.poll() is None}


def end_test():
    """Stop every fixture of the current test. Returns a list of problems
    (strings) found while tearing down, which fail the test: sanitizer
    reports in a daemon's log, a daemon that does not exit 0 on SIGTERM,
    processes nobody registered."""
    _teardown_all(_fixtures, _problems)
    left = kill_children(keep=_module_pids())
    if left:
        _problems.append("leftover processes killed by the sweep: %s" % ", ".join(left))
    problems = list(_problems)
    del _problems[:]
    _state["dir"] = _state["module_dir"]
    return problems


def end_module():
    """Stop the module's fixtures (after teardown_module); returns problems."""
    problems = []
    _teardown_all(_module_fixtures, problems)
    kill_children()
    _state["dir"] = _state["module_dir"] = None
    _scope[0] = _fixtures
    return problems


def failure_notes():
    """Things worth printing with a failure, gathered before teardown: a
    broker that died without the test stopping it (something else killed
    it: every later connection is refused)."""
    notes = []
    for fx in _fixtures + _module_fixtures:
        if isinstance(fx, Broker) and fx.proc is not None and not fx.stopped \
                and fx.proc.poll() is not None:
            notes.append("note: mosquitto on port %d died during the test (exit %s), "
                         "not stopped by the test; log tail:\n%s"
                         % (fx.port, fx.proc.returncode, tail(fx.log, 8)))
    return notes


def _children():
    """(pid, comm, state) of this process's direct children, from /proc."""
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                st = f.read().decode("latin-1")
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parens
        rp = st.rfind(")")
        comm = st[st.find("(") + 1:rp]
        fields = st[rp + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me:
            out.append((int(d), comm, fields[0]))
    return out


def kill_children(keep=()):
    """Kill and reap every live direct child (and its process group) but
    those in keep. Returns descriptions of the ones found alive."""
    found = []
    for pid, comm, st in _children():
        if st != "Z" and pid not in keep:
            found.append("%s[%d]" % (comm, pid))
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    for pid, comm, st in _children():
        if pid in keep:
            continue
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    return found


# --------------------------------------------------------------------------
# Processes

_libc = None


def _pdeathsig():
    # Runs in the child between fork and exec: die with the runner.
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _prepare_libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)


def spawn(argv, **kw):
    """Popen in a new session (own process group) that dies with us."""
    _prepare_libc()
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=_pdeathsig, **kw)


def stop_process(proc, sig=signal.SIGTERM, grace=2.0):
    """Signal a process (not its group), wait up to grace, then SIGKILL its
    group. Returns the exit status (negative: killed by that signal)."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        kill_group(proc)
    return proc.returncode


def kill_group(proc):
    # Only while the leader is unreaped: its pid (= pgid) is still ours.
    # Once reaped, the number may already belong to someone else's process.
    if proc.poll() is None:
        for kill in (os.killpg, os.kill):
            try:
                kill(proc.pid, signal.SIGKILL)
            except OSError:
                pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    return proc.returncode


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def tail(path, n=25):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:])


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _can_connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# --------------------------------------------------------------------------
# Broker

class Broker:
    """A private mosquitto on 127.0.0.1. Broker() starts it on a free port;
    Broker(start=False) only reserves a port number (start() later)."""

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
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

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


def _port_of(broker):
    """A port number from a Broker, a PubackProxy or a number."""
    return broker.port if isinstance(broker, (Broker, PubackProxy)) else int(broker)


# --------------------------------------------------------------------------
# An MQTT-aware TCP proxy between a client (the daemon) and a broker

def mqtt_split(buf):
    """Complete MQTT packets at the start of buf (bytes): ([(first_byte,
    body bytes)], rest). rest is the partial packet left (b"" if none)."""
    out = []
    i, n = 0, len(buf)
    while n - i >= 2:
        mult, length, j = 1, 0, i + 1
        while True:
            if j >= n:
                return out, buf[i:]
            b = buf[j]
            j += 1
            length += (b & 0x7f) * mult
            if not b & 0x80:
                break
            mult *= 128
            if mult > 128 ** 3:
                raise ValueError("bad MQTT remaining length at byte %d" % i)
        if n - j < length:
            break
        out.append((buf[i], buf[j:j + length]))
        i = j + length
    return out, buf[i:]


def _varint(buf, i):
    """(value, index after it) of an MQTT variable byte integer at buf[i]."""
    mult, v = 1, 0
    while True:
        b = buf[i]
        i += 1
        v += (b & 0x7f) * mult
        if not b & 0x80:
            return v, i
        mult *= 128


def _rst_close(s):
    """Close a socket abruptly: SO_LINGER 0, so the peer gets an RST."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class _ProxyConn:
    """One client connection and its broker connection, served by one
    thread (select over both sockets and a wake-up socketpair)."""

    def __init__(self, proxy, n, client, broker):
        self.proxy = proxy
        self.n = n
        self.client = client
        self.broker = broker
        self.wake_r, self.wake_w = socket.socketpair()
        self.abort = False      # cut(): close both with an RST
        self.pending = {}       # packet id -> payload of QoS 1 PUBLISHes not yet acked
        self.level = 4          # protocol level from CONNECT (5: properties)
        self.closed_by = None
        self.kick = None        # kick(): an MQTT 5 DISCONNECT reason code to send the client
        self.thread = threading.Thread(target=self._run, name="proxy-conn-%d" % n,
                                       daemon=True)

    def wake(self):
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass

    def _up(self, pkts):
        """Client -> broker packets: note CONNECT's level, QoS 1 PUBLISHes."""
        p = self.proxy
        for first, body in pkts:
            kind = first >> 4
            if kind == 1 and len(body) >= 2:                        # CONNECT
                k = 2 + int.from_bytes(body[:2], "big")
                if len(body) > k:
                    self.level = body[k]
            elif kind == 3 and (first >> 1) & 3 == 1:               # PUBLISH QoS 1
                tlen = int.from_bytes(body[:2], "big")
                i = 2 + tlen
                pid = body[i:i + 2]
                i += 2
                if self.level >= 5:
                    plen, i = _varint(body, i)
                    i += plen
                payload = bytes(body[i:])
                self.pending[pid] = payload
                with p.lock:
                    p.publishes += 1
                    p.published.add(payload)

    def _down(self, pkts):
        """Broker -> client packets: the payloads PUBACKed (positively)."""
        acked = []
        for first, body in pkts:
            if first >> 4 == 2 and len(body) >= 2 and body[1] == 0:  # CONNACK, accepted
                with self.proxy.lock:
                    self.proxy.connack_at.append(time.monotonic())
            elif first >> 4 == 4 and len(body) >= 2:                # PUBACK
                payload = self.pending.pop(body[:2], None)
                reason = body[2] if len(body) > 2 else 0
                if payload is None:
                    with self.proxy.lock:
                        self.proxy.unmatched_pubacks += 1
                elif reason >= 0x80:
                    with self.proxy.lock:
                        self.proxy.rejected.append((payload, reason))
                else:
                    acked.append(payload)
        return acked

    def _run(self):
        p = self.proxy
        bufs = {self.client: b"", self.broker: b""}
        peer = {self.client: self.broker, self.broker: self.client}
        try:
            for s in (self.client, self.broker):
                s.settimeout(p.send_timeout)    # bounds sendall; recv only when readable
            while not (self.abort or p._stop.is_set()):
                r, _, _ = select.select([self.client, self.broker, self.wake_r], [], [])
                if self.wake_r in r:
                    self.wake_r.recv(64)
                    if self.kick is not None:     # as a broker does: DISCONNECT, reason, no properties
                        self.client.sendall(bytes([0xE0, 2, self.kick, 0]))
                        self.kick = None
                    continue
                for src in (self.client, self.broker):
                    if src not in r:
                        continue
                    try:
                        data = src.recv(65536)
                    except OSError as e:
                        data = b""
                        self.closed_by = "%s (%s)" % (
                            "client" if src is self.client else "broker", e)
                    if not data:
                        if self.closed_by is None:
                            self.closed_by = "client" if src is self.client else "broker"
                        return
                    pkts, bufs[src] = mqtt_split(bufs[src] + data)
                    if src is self.client:
                        self._up(pkts)          # recorded before the broker can ack it
                        peer[src].sendall(data)
                    else:
                        acked = self._down(pkts)
                        peer[src].sendall(data)
                        if acked:               # the PUBACKs are on their way to the client
                            with p.lock:
                                p.acked.update(acked)
                                p.pubacks += len(acked)
        except (OSError, ValueError, IndexError) as e:    # IndexError: a malformed packet
            if self.closed_by is None:
                self.closed_by = "error: %r" % (e,)
        finally:
            if self.abort:
                self.closed_by = self.closed_by or "cut"
                _rst_close(self.client)
                _rst_close(self.broker)
            else:
                for s in (self.client, self.broker):
                    try:
                        s.close()
                    except OSError:
                        pass
            for s in (self.wake_r, self.wake_w):
                s.close()
            with p.lock:
                p.closes.append(self.closed_by)
                if self in p._conns:
                    p._conns.remove(self)


class PubackProxy:
    """A TCP proxy on a free 127.0.0.1 port in front of a broker that also
    reads the MQTT (3.1.1; 5 understood) flowing through it. Each accepted
    client connection gets its own connection to the broker; if the broker
    is down (or while cut() refuses), the client socket is closed at once
    with an RST. Bytes are forwarded unchanged both ways. When either side
    closes, both are closed (after everything read from that side has been
    forwarded).

    What it counts (all under .lock):
        acked        payloads of QoS 1 PUBLISHes (client -> broker) whose
                     PUBACK the broker sent and the proxy passed on to the
                     client (packet ids are per connection)
        published    payloads of every QoS 1 PUBLISH the client sent
        publishes, pubacks   how many of each (duplicates included)
        connections  client connections forwarded to the broker
        connected_at time.monotonic() of each of them
        connack_at   time.monotonic() of each accepting CONNACK passed on
        refused      client connections closed at once
        closes       per closed connection, who closed it ("client",
                     "broker", "cut", or an error)

    kick(reason) sends the clients an MQTT 5 DISCONNECT with that reason
    code, as a broker does (0x8E: another client took the session).

    cut(refuse_for) drops the current connections with an RST (SO_LINGER 0)
    on both sides, as a network cut would, and refuses new ones for
    refuse_for seconds. Threads are daemon threads; close() (or the test's
    teardown) stops everything.
    """

    def __init__(self, broker_port, send_timeout=10.0):
        self.broker_port = _port_of(broker_port)
        self.send_timeout = send_timeout
        self.lock = threading.Lock()
        self.acked = set()
        self.published = set()
        self.publishes = 0
        self.pubacks = 0
        self.unmatched_pubacks = 0
        self.rejected = []
        self.connections = 0
        self.connected_at = []
        self.connack_at = []
        self.refused = 0
        self.closes = []
        self.refuse_until = 0.0
        self._conns = []
        self._stop = threading.Event()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        _register(self)
        self._thread = threading.Thread(target=self._accept_loop,
                                        name="proxy-%d" % self.port, daemon=True)
        self._thread.start()

    @property
    def uri(self):
        return "tcp://127.0.0.1:%d" % self.port

    def _accept_loop(self):
        n = 0
        while not self._stop.is_set():
            r, _, _ = select.select([self._lsock, self._wake_r], [], [])
            if self._wake_r in r or self._stop.is_set():
                break
            try:
                client, _ = self._lsock.accept()
            except OSError:
                continue
            if time.monotonic() < self.refuse_until:
                _rst_close(client)
                with self.lock:
                    self.refused += 1
                continue
            try:
                broker = socket.create_connection(("127.0.0.1", self.broker_port), timeout=2.0)
            except OSError:
                _rst_close(client)
                with self.lock:
                    self.refused += 1
                continue
            if time.monotonic() < self.refuse_until:   # cut() ran meanwhile
                _rst_close(client)
                _rst_close(broker)
                with self.lock:
                    self.refused += 1
                continue
            for s in (client, broker):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            n += 1
            conn = _ProxyConn(self, n, client, broker)
            with self.lock:
                if self._stop.is_set():
                    _rst_close(client)
                    _rst_close(broker)
                    break
                self.connections += 1
                self.connected_at.append(time.monotonic())
                self._conns.append(conn)
            conn.thread.start()

    def live(self):
        """Connections open right now."""
        with self.lock:
            return len(self._conns)

    def acked_payloads(self):
        with self.lock:
            return set(self.acked)

    def published_payloads(self):
        with self.lock:
            return set(self.published)

    def _drop(self, abort, timeout=5.0):
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            c.abort = c.abort or abort
            c.wake()
        for c in conns:
            c.thread.join(timeout)
        return len(conns)

    def kick(self, reason):
        """Send each live client an MQTT 5 DISCONNECT with reason (0x8E:
        session taken over) and keep forwarding: the client closes."""
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            c.kick = reason
            c.wake()

    def cut(self, refuse_for=0.0):
        """Drop every open connection with an RST on both sides (a network
        cut) and refuse new ones for refuse_for seconds. Returns how many
        connections were cut; self.refuse_until is when refusing ends."""
        self.refuse_until = time.monotonic() + refuse_for
        return self._drop(abort=True)

    def close(self):
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5.0)
        self._drop(abort=False)
        for s in (self._lsock, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass

    def teardown(self):
        self.close()


# --------------------------------------------------------------------------
# MQTT clients: mosquitto_pub / mosquitto_sub

def pub(broker, topic, payload, qos=1, retain=False, timeout=10.0):
    """Publish one message with mosquitto_pub (waits for the broker's ack at
    qos >= 1). payload: str or bytes (binary safe; b"" / "" = empty)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(_port_of(broker)),
            "-i", "hx-pub-%d-%d" % (os.getpid(), next(_seq)),
            "-q", str(qos), "-t", topic]
    if retain:
        argv.append("-r")
    argv += ["-n"] if payload == b"" else ["-s"]
    _prepare_libc()
    r = subprocess.run(argv, input=payload, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, start_new_session=True, preexec_fn=_pdeathsig)
    if r.returncode != 0:
        raise HarnessError("mosquitto_pub -t %s failed (%d): %s"
                           % (topic, r.returncode, r.stdout.decode("utf-8", "replace")))


def pub_lines(broker, topic, lines, qos=1, timeout=30.0):
    """Publish each line as one message over a single connection
    (mosquitto_pub -l): a fast, ordered burst. Lines must not contain LF."""
    data = "".join("%s\n" % l for l in lines).encode("utf-8")
    argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(_port_of(broker)),
            "-i", "hx-pub-%d-%d" % (os.getpid(), next(_seq)), "-q", str(qos), "-t", topic, "-l"]
    _prepare_libc()
    r = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, start_new_session=True, preexec_fn=_pdeathsig)
    if r.returncode != 0:
        raise HarnessError("mosquitto_pub -l -t %s failed (%d): %s"
                           % (topic, r.returncode, r.stdout.decode("utf-8", "replace")))


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


# --------------------------------------------------------------------------
# Pseudo-terminals standing in for serial ports

def set_raw(fd):
    """True raw mode, as cfmakeraw(3): no echo, no CR/LF translation, no
    XON/XOFF, no signals, 8 bits, byte at a time."""
    a = termios.tcgetattr(fd)
    a[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP |
              termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON |
              termios.IXOFF | termios.IXANY)
    a[1] &= ~termios.OPOST
    a[2] &= ~(termios.CSIZE | termios.PARENB)
    a[2] |= termios.CS8 | termios.CREAD | termios.CLOCAL
    a[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    a[6][termios.VMIN] = 1
    a[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, a)


def is_raw(attrs, flow="none"):
    """Problems with a termios attribute list as a raw port (empty = raw)."""
    iflag, oflag, cflag, lflag = attrs[0], attrs[1], attrs[2], attrs[3]
    bad = []
    for name in ("ICRNL", "INLCR", "IGNCR", "ISTRIP", "PARMRK"):
        if iflag & getattr(termios, name):
            bad.append(name)
    if flow != "xonxoff":
        for name in ("IXON", "IXOFF"):
            if iflag & getattr(termios, name):
                bad.append(name)
    if oflag & termios.OPOST:
        bad.append("OPOST")
    for name in ("ECHO", "ICANON", "ISIG", "IEXTEN"):
        if lflag & getattr(termios, name):
            bad.append(name)
    if cflag & termios.CSIZE != termios.CS8:
        bad.append("not CS8")
    return bad


class Pty:
    """A pty pair. The test talks to the master; the daemon opens the slave
    path (self.path: the symlink if link= is given, else the slave's
    /dev/pts/N). The slave stays open here too, so the pty survives the
    daemon closing and reopening it. raw=False leaves the slave in the
    kernel's default cooked mode (to check that the daemon sets raw mode)."""

    def __init__(self, link=None, raw=True):
        self.master, self.slave = os.openpty()
        if raw:
            set_raw(self.slave)
        fl = fcntl.fcntl(self.master, fcntl.F_GETFL)
        fcntl.fcntl(self.master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        self.slave_path = os.ttyname(self.slave)
        self.link = None
        self.rx = b""           # bytes received, not yet consumed
        self.received = b""     # everything received (diagnostics)
        _register(self)
        if link is not None:
            self.make_link(link)

    @property
    def path(self):
        return self.link or self.slave_path

    def make_link(self, link):
        if not os.path.isabs(link):
            link = os.path.join(tmpdir(), link)
        tmp = link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.slave_path, tmp)
        os.replace(tmp, link)
        self.link = link
        return link

    def termios(self):
        return termios.tcgetattr(self.slave)

    def write(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        view = memoryview(data)
        deadline = time.monotonic() + EVENT_TIMEOUT
        while view:
            try:
                n = os.write(self.master, view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError("pty write blocked: nobody reads the port "
                                         "(%d bytes left)" % len(view))
                select.select([], [self.master], [], 0.05)

    def _fill(self, timeout):
        """Read what is available, waiting up to timeout for the first byte."""
        r, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not r:
            return False
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno == errno.EIO:  # no slave open: nothing to read
                time.sleep(0.01)
                return False
            raise
        self.rx += data
        self.received += data
        return bool(data)

    def read_until(self, token, timeout=EVENT_TIMEOUT):
        """Bytes up to and including token; AssertionError on timeout."""
        if isinstance(token, str):
            token = token.encode()
        deadline = time.monotonic() + timeout
        while True:
            i = self.rx.find(token)
            if i >= 0:
                out, self.rx = self.rx[:i + len(token)], self.rx[i + len(token):]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("port %s: expected %r within %.1fs, pending %r"
                                     % (self.path, token, timeout, self.rx))
            self._fill(left)

    def read_line(self, timeout=EVENT_TIMEOUT):
        """One line up to and including b"\\n" (whatever the eol)."""
        return self.read_until(b"\n", timeout)

    def read_available(self, timeout=0.0):
        """Whatever arrives within timeout (consumed)."""
        self._fill(timeout)
        while self._fill(0):
            pass
        out, self.rx = self.rx, b""
        return out

    def pending_input(self):
        """Bytes written by the test that the daemon has not read yet."""
        buf = fcntl.ioctl(self.slave, termios.TIOCINQ, b"\0\0\0\0")
        return int.from_bytes(buf, "little")

    def wait_drained(self, timeout=EVENT_TIMEOUT):
        """Wait until the daemon has read everything written to the port."""
        wait_until(lambda: self.pending_input() == 0, timeout,
                   what="the daemon to read %s" % self.path)

    def expect_nothing(self, timeout=1.0):
        """Assert that no byte reaches the port within timeout (waits it out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._fill(deadline - time.monotonic())
            if self.rx:
                raise AssertionError("port %s: expected nothing, got %r" % (self.path, self.rx))

    def close(self):
        for fd in (self.master, self.slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = None
        if self.link and os.path.lexists(self.link):
            os.unlink(self.link)

    def teardown(self):
        self.close()


# --------------------------------------------------------------------------
# Config rendering (libconfig syntax)

class Raw(str):
    """A value rendered verbatim (e.g. Raw("0x10"), Raw("1L"))."""


def _lc_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\f":
            out.append("\\f")
        elif o < 0x20 or o == 0x7f:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _lc_value(v, indent):
    pad = "  " * indent
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _lc_string(v)
    if isinstance(v, dict):
        if not v:
            return "{ }"
        inner = "".join("%s  %s = %s;\n" % (pad, k, _lc_value(x, indent + 1)) for k, x in v.items())
        return "{\n%s%s}" % (inner, pad)
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, dict) for x in v) and v:
            # A list of groups: one group per line, so each has its own line.
            items = ",\n".join("%s  %s" % (pad, _lc_inline(x)) for x in v)
            return "(\n%s\n%s)" % (items, pad)
        if isinstance(v, tuple):
            return "( %s )" % ", ".join(_lc_value(x, indent) for x in v)
        return "[ %s ]" % ", ".join(_lc_value(x, indent) for x in v)
    raise TypeError("cannot render %r in libconfig" % (v,))


def _lc_inline(d):
    return "{ %s }" % " ".join("%s = %s;" % (k, _lc_value(x, 0)) for k, x in d.items())


def with_protocol(cfg):
    """cfg (a settings dict or verbatim libconfig text) with the mqtt group's
    protocol set to PROTOCOL where the config names none. Text keeps its line
    numbers (the setting goes on the line of `mqtt = {`)."""
    if PROTOCOL == 4:
        return cfg
    if isinstance(cfg, dict):
        m = cfg.get("mqtt")
        if isinstance(m, dict) and "protocol" not in m:
            cfg = dict(cfg)
            cfg["mqtt"] = dict(m, protocol=PROTOCOL)
        return cfg
    if re.search(r"\bprotocol\s*[=:]", cfg):
        return cfg
    return re.sub(r"(\bmqtt\s*[=:]\s*\{)", r"\1 protocol = %d;" % PROTOCOL, cfg, count=1)


def render_config(settings):
    """Render {name: value} as a libconfig file: dict -> group, list of dicts
    -> list of groups (one per line), list -> array, tuple -> list,
    str/int/bool/float -> scalars, Raw -> verbatim. The mqtt group gets
    protocol = MQTTGW_PROTOCOL where it names none (with_protocol)."""
    settings = with_protocol(settings)
    return "".join("%s = %s;\n" % (k, _lc_value(v, 0)) for k, v in settings.items())


def serial_dev(name, port, **kw):
    d = {"name": name, "port": port, "baud": 115200, "eol": "\r\n", "max_frame": 64}
    d.update(kw)
    return d


def gateway_config(broker, serial=(), routes=(), station="S013", gpio=None, mqtt=None, **top):
    """Settings for a typical gateway: station, mqtt (uri of broker, client
    id, status topic ${station}/gateway/status), serial, routes. mqtt= keys
    override/extend the mqtt group; other keywords become top-level settings."""
    m = {"uri": broker.uri if isinstance(broker, (Broker, PubackProxy)) else broker,
         "client_id": "mqttgw-${station}",
         "keepalive": 10,
         "qos": 1,
         "status_topic": "${station}/gateway/status"}
    if mqtt:
        m.update(mqtt)
    for k in [k for k, v in m.items() if v is None]:
        del m[k]
    cfg = {}
    if station is not None:
        cfg["station"] = station
    cfg["mqtt"] = m
    if serial:
        cfg["serial"] = list(serial)
    if gpio:
        cfg["gpio"] = list(gpio)
    if routes:
        cfg["routes"] = list(routes)
    cfg.update(top)
    return cfg


def write_config(cfg, name=None):
    """Write a config (dict, rendered; or str, verbatim) into the test dir."""
    path = tmppath(name or "mqttgw-%d.cfg" % next(_seq))
    text = with_protocol(cfg) if isinstance(cfg, str) else render_config(cfg)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_mqttgw(args, timeout=20.0, cwd=None, env=None):
    """Run the daemon to completion (e.g. --check); returns CompletedProcess
    with str stdout/stderr."""
    if not os.path.exists(MQTTGW):
        raise HarnessError("daemon not built: %s (run make)" % MQTTGW)
    _prepare_libc()
    return subprocess.run([MQTTGW] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, cwd=cwd or tmpdir(), env=env,
                          start_new_session=True, preexec_fn=_pdeathsig,
                          stdin=subprocess.DEVNULL, encoding="utf-8", errors="replace")


# --------------------------------------------------------------------------
# The daemon

_root_args = None
_asan_lib = None


def asan_runtime():
    """Path of the ASan runtime the daemon is linked with, or "" if none."""
    global _asan_lib
    if _asan_lib is None:
        _asan_lib = ""
        try:
            r = subprocess.run(["ldd", MQTTGW], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, timeout=10)
            for line in r.stdout.decode("utf-8", "replace").splitlines():
                parts = line.split()
                if parts and parts[0].startswith("libasan.so") and len(parts) >= 3:
                    _asan_lib = parts[2]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return _asan_lib


def preload_env(*libs):
    """Environment additions to LD_PRELOAD libs (e.g. BUILD/sim/lib_spshim.so)
    into the daemon. With a sanitizer build the ASan runtime has to come
    first in the link map, so it is preloaded ahead of them."""
    for lib in libs:
        if not os.path.exists(lib):
            raise HarnessError("LD_PRELOAD library not built: %s (run make tests)" % lib)
    first = [asan_runtime()] if asan_runtime() else []
    return {"LD_PRELOAD": ":".join(first + list(libs))}



def root_args():
    """["--allow-root"] when running as root and the daemon has that option
    (it may refuse to run as root without it); else []."""
    global _root_args
    if _root_args is None:
        _root_args = []
        if os.geteuid() == 0 and os.path.exists(MQTTGW):
            try:
                r = subprocess.run([MQTTGW, "--help"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=10,
                                   stdin=subprocess.DEVNULL)
                if b"--allow-root" in r.stdout:
                    _root_args = ["--allow-root"]
            except (OSError, subprocess.TimeoutExpired):
                pass
    return list(_root_args)


PAHO_LSAN_SUPP = os.path.join(ROOT, "tests", "paho-leak.lsan.supp")
PAHO_VALGRIND_SUPP = os.path.join(ROOT, "tests", "paho-leak.valgrind.supp")


class Gateway:
    """The real daemon: mqttgw -f -v -c FILE, stdout+stderr into a log file
    in the test dir. config: dict (rendered), str (verbatim text) or an
    existing file path (path=True). Stopped at teardown (SIGTERM, then
    SIGKILL), and a sanitizer report in its log fails the test."""

    def __init__(self, config, start=True, args=(), env=None, name=None):
        if not os.path.exists(MQTTGW):
            raise HarnessError("daemon not built: %s (run make)" % MQTTGW)
        self.n = next(_seq)
        self.name = name or "gw%d" % self.n
        if isinstance(config, str) and os.path.exists(config):
            self.config_path = config
        else:
            self.config_path = write_config(config, "%s.cfg" % self.name)
        self.log = tmppath("%s.log" % self.name)
        self.args = list(args)
        self.env = env
        self.proc = None
        self.vglog = None
        self.exit_time = None
        _register(self)
        if start:
            self.start()

    def start(self):
        logf = open(self.log, "ab")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        # paho 1.3.12's own leak (#1474), and only it: see the file
        env.setdefault("LSAN_OPTIONS", "suppressions=%s:print_suppressions=0" % PAHO_LSAN_SUPP)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "fast_unwind_on_malloc=0"]))
        argv = [MQTTGW, "-f", "-v", "-c", self.config_path] + root_args() + self.args
        if VALGRIND:
            self.vglog = tmppath("%s.valgrind.%d" % (self.name, next(_seq)))
            argv = ["valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite",
                    "--errors-for-leak-kinds=definite", "--num-callers=30",
                    "--suppressions=" + PAHO_VALGRIND_SUPP,
                    "--log-file=" + self.vglog] + argv
        self.proc = spawn(argv, stdout=logf, stderr=logf, cwd=tmpdir(), env=env)
        logf.close()
        return self

    def rewrite_config(self, config):
        text = with_protocol(config) if isinstance(config, str) else render_config(config)
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def reload(self, config, timeout=EVENT_TIMEOUT):
        """Write config and SIGHUP the daemon; returns once it logged
        "reloaded" (the log offset before, for wait_for_log(since=))."""
        mark = self.log_mark()
        self.rewrite_config(config)
        self.signal(signal.SIGHUP)
        self.wait_for_log(r"reloaded ", since=mark, timeout=timeout)
        return mark

    @property
    def pid(self):
        return self.proc.pid

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_running(self):
        rc = self.returncode
        if rc is not None:
            raise AssertionError("mqttgw exited with %d:\n%s" % (rc, tail(self.log)))

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_mark(self):
        return len(self.log_text())

    def wait_for_log(self, regex, timeout=EVENT_TIMEOUT, since=0, flags=re.M):
        """Wait for regex in the log (from offset since); returns the match.
        Fails early if the daemon exits first."""
        pat = re.compile(regex, flags)
        deadline = time.monotonic() + timeout
        while True:
            m = pat.search(self.log_text(), since)
            if m:
                return m
            if not self.running():
                m = pat.search(self.log_text(), since)
                if m:
                    return m
                raise AssertionError("mqttgw exited (%s) before logging /%s/"
                                     % (self.returncode, regex))
            if time.monotonic() >= deadline:
                raise AssertionError("mqttgw did not log /%s/ within %.1fs"
                                     % (regex, timeout))
            time.sleep(0.02)

    def signal(self, sig):
        self.assert_running()
        os.kill(self.proc.pid, sig)

    def cpu_seconds(self):
        """User + system CPU time the daemon has used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def terminate(self, timeout=10.0):
        """SIGTERM and wait; returns the exit code (None if still running
        after timeout). self.exit_time is the time from signal to exit."""
        if not self.running():
            return self.returncode
        t0 = time.monotonic()
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exit_time = time.monotonic() - t0
        return self.proc.returncode

    def wait(self, timeout=EVENT_TIMEOUT):
        """Wait for the process to exit; returns its code or None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc is not None:
            kill_group(self.proc)
        return self.returncode

    def _sanitizer_start(self, text):
        hits = [text.find(p) for p in SANITIZER_PATTERNS]
        hits = [i for i in hits if i >= 0]
        if not hits:
            return -1
        return max(0, text.rfind("\n", 0, min(hits)))

    def _paho_only_leaks(self, rep):
        """True if rep is a LeakSanitizer report all of whose leaks were
        allocated by paho on its own: every frame below the allocator is in
        libpaho-mqtt3as or the thread start, none in mqttgw. paho 1.3.12
        leaks the commands still queued in a client destroyed after a lost
        link (eclipse-paho #1474, see tests/paho-leak.lsan.supp), with the
        list entries its own threads made for them, whose stacks name no
        function LSan could match. A leak with any frame of ours (our code
        allocating, or our callback on paho's thread) still fails."""
        if "ERROR: LeakSanitizer" not in rep or "ERROR: AddressSanitizer" in rep or "runtime error:" in rep:
            return False
        blocks = re.split(r"(?m)^(?=(?:Direct|Indirect) leak of )", rep)[1:]
        if not blocks:
            return False
        for blk in blocks:
            frames = re.findall(r"(?m)^\s*#(\d+) 0x[0-9a-f]+ (.*)$", blk)
            rest = [f for n, f in frames if n != "0"]
            if not rest or not any("libpaho-mqtt3as" in f for f in rest):
                return False
            for f in rest:
                if not ("libpaho-mqtt3as" in f or re.match(r"in (start_thread|clone3?) ", f)):
                    return False
        return True

    def sanitizer_report(self):
        """The first sanitizer report in the log (without the shadow-byte
        dump), or None. A report of paho's own leaks only (_paho_only_leaks)
        is none."""
        text = self.log_text()
        i = self._sanitizer_start(text)
        if i < 0:
            return None
        rep = text[i:]
        if self._paho_only_leaks(rep):
            return None
        j = rep.find("Shadow bytes around")
        if j > 0:
            rep = rep[:j]
        return rep.strip("\n")[:4000]

    def log_tail(self, n=25):
        """The last n lines the daemon logged before any sanitizer report."""
        text = self.log_text()
        i = self._sanitizer_start(text)
        if i >= 0:
            text = text[:i]
        return "\n".join(text.splitlines()[-n:])

    def valgrind_report(self):
        """Errors or definite leaks valgrind reported (all runs), or None."""
        if not VALGRIND:
            return None
        reps = []
        for f in sorted(os.listdir(tmpdir())):
            if f.startswith("%s.valgrind." % self.name):
                with open(os.path.join(tmpdir(), f), errors="replace") as fh:
                    text = fh.read()
                # --quiet: the log holds only errors and leak records, and
                # valgrind's own note that it does not model an ioctl
                # (TIOCSRS485 on a pty): a limit of the tool, not a finding
                text = re.sub(r"(?m)^==\d+== (Warning: noted but unhandled ioctl.*|   This could cause "
                              r"spurious value errors to appear\.|   See README_MISSING_SYSCALL_OR_IOCTL.*)\n",
                              "", text)
                if text.strip():
                    reps.append(text[:4000])
        return "\n".join(reps) or None

    def teardown(self):
        if self.proc is None:
            return
        if self.running():
            rc = stop_process(self.proc, signal.SIGTERM, 15.0 if VALGRIND else 2.5)
            # ASan exits 1 after a leak report: paho's own leaks are not ours
            if rc == 1 and self._sanitizer_start(self.log_text()) >= 0 and self.sanitizer_report() is None:
                rc = 0
            if rc != 0:
                _problems.append("mqttgw (%s) did not exit 0 within 2 s of SIGTERM at teardown "
                                 "(exit %s)" % (self.name, rc))
        rep = self.sanitizer_report()
        if rep:
            _problems.append("sanitizer report in %s:\n%s" % (self.log, rep))
        rep = self.valgrind_report()
        if rep:
            _problems.append("valgrind report for %s:\n%s" % (self.name, rep))


# --------------------------------------------------------------------------
# Motor controller simulator

class MotorSim:
    """build/sim/prog_motorsim --link PATH: a pty whose other end speaks the
    DRV/POS/STOP/HOME protocol. self.path is the port for the daemon."""

    def __init__(self, link="ttyMOTSIM", delay_ms=None, timeout=10.0):
        if not os.path.exists(MOTORSIM):
            raise HarnessError("motor simulator not built: %s (run make tests)" % MOTORSIM)
        self.path = link if os.path.isabs(link) else tmppath(link)
        self.log = tmppath("motorsim-%d.log" % next(_seq))
        argv = [MOTORSIM, "--link", self.path]
        if delay_ms is not None:
            argv += ["--delay-ms", str(delay_ms)]
        errf = open(self.log, "ab")
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=errf)
        errf.close()
        _register(self)
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise HarnessError("motorsim not ready (%r): %s" % (buf, tail(self.log)))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                data = os.read(self.proc.stdout.fileno(), 4096)
                if not data:
                    raise HarnessError("motorsim exited: %s" % tail(self.log))
                buf += data
        line = buf.split(b"\n", 1)[0].decode()
        if not line.startswith("ready"):
            raise HarnessError("motorsim said %r, expected 'ready PATH'" % line)

    def running(self):
        return self.proc.poll() is None

    def teardown(self):
        stop_process(self.proc, signal.SIGTERM, 2.0)
        try:
            self.proc.stdout.close()
        except Exception:
            pass
