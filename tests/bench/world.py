"""
world.py - what every benchmark run stands on (run.py, profile_run.py):
the paths and fixed sizes of the run, the log line, starting and stopping
processes, reading /proc, and the private world the peers are measured in
(a mosquitto on a free loopback port, pty pairs as serial ports).

Kept apart from run.py so the measuring code reads as measurements and the
callgrind profile (profile_run.py) can use the same broker and ports
without importing the whole benchmark. Constants that a run may change
(MQTTGW_BUILD, MQTTGW_BENCH) are read once, here.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import tty

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import procs  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_build = os.environ.get("MQTTGW_BUILD", "build")
BUILD = _build if os.path.isabs(_build) else os.path.join(ROOT, _build)
OUT = os.path.join(BUILD, "bench")
# MQTTGW_BENCH: measure another binary (a patched build) with this harness
MQTTGW = os.environ.get("MQTTGW_BENCH") or os.path.join(BUILD, "mqttgw")
SYNCCOUNT = os.path.join(BUILD, "sim", "lib_synccount.so")


def sync_counts(path):
    """lib_synccount's counters: (fsync + fdatasync, fdatasync, writes to regular files)."""
    try:
        with open(path, "rb") as f:
            return struct.unpack("<QQQ", f.read(24))
    except (OSError, struct.error):
        return (0, 0, 0)


def disk_bytes(io):
    """Bytes sent to the disk: written, less what a truncate cancelled before writeback."""
    return io.get("write_bytes", 0) - io.get("cancelled_write_bytes", 0)


def proc_io(pid):
    """/proc/PID/io as a dict (write_bytes: bytes sent to the storage layer)."""
    out = {}
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, v = line.split(":")
                out[k] = int(v)
    except OSError:
        pass
    return out
GPIOSIM = os.path.join(BUILD, "sim", "lib_gpiosim.so")
PROG = {n: os.path.join(OUT, "prog_" + n)
        for n in ("benchdev", "benchsub", "benchlat", "pahopub", "pahopub-sync", "rawpub")}
NODERED = {"dir": None}  # where nodered.install() put Node-RED, once it has
TUTORIAL = os.path.join(ROOT, "tests", "bench", "tutorial_gateway.py")
PLOT = os.path.join(ROOT, "tests", "bench", "plot.gp")
PYTHON = "/usr/bin/python3"
MOSQUITTO = "/usr/sbin/mosquitto"
MOSQ_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
MOSQ_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"

STATION = "S013"
STATUS = STATION + "/gateway/status"
NPORTS = 8
NGPIO = 16
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Full run (default) and --quick (a smoke test of the harness itself).
FULL = dict(latency_count=5000, burst_s=3.0, paced_rate=1000, paced_s=10.0, idle_s=10.0, warmup=200)
QUICK = dict(latency_count=300, burst_s=0.5, paced_rate=1000, paced_s=1.0, idle_s=2.0, warmup=20)

TARGETS = dict(down_p99_us=1000, up_q0_1p=100000, up_q0_share=0.80, up_q1_1p=20000, up_q1_share=0.80, rss_kb=4096)


_t0 = time.monotonic()


def log(msg):
    print("bench: %5.1f s  %s" % (time.monotonic() - _t0, msg), flush=True)


# --------------------------------------------------------------------------
# processes: own session, die with us, always stopped

# Started and stopped as the integration tests do (tests/integration/
# harness/procs.py: own session, PR_SET_PDEATHSIG, SIGTERM then the group's
# SIGKILL); the list here is this run's, for stop_all().
_procs = []


def spawn(argv, **kw):
    p = procs.spawn(argv, **kw)
    _procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, grace=3.0):
    procs.stop_process(p, sig, grace)
    for f in (p.stdin, p.stdout, p.stderr):
        if f:
            try:
                f.close()
            except OSError:
                pass
    if p in _procs:
        _procs.remove(p)
    return p.returncode


def wait_rusage(p, timeout):
    """Wait for p like Popen.wait, but also return its CPU seconds (wait4)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            if p in _procs:
                _procs.remove(p)
            return ru.ru_utime + ru.ru_stime
        if time.monotonic() > deadline:
            raise RuntimeError("%s did not finish in %.0f s" % (os.path.basename(p.args[0]), timeout))
        time.sleep(0.01)


def stop_all():
    for p in list(_procs):
        stop(p, grace=2.0)


# --------------------------------------------------------------------------
# /proc

def proc_cpu(pid):
    """utime + stime of the whole process, seconds (clock-tick resolution)."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_runtime_ns(pid):
    """CPU time of all threads from schedstat, nanoseconds (exact)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def proc_status(pid, path=None):
    out = {}
    with open(path or "/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_kb(pid, key):
    return int(proc_status(pid)[key].split()[0])


def proc_threads(pid):
    """{tid: (name, voluntary, nonvoluntary, runtime_ns)}"""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            st = proc_status(pid, base + "status")
            with open(base + "schedstat") as f:
                rt = int(f.read().split()[0])
        except OSError:
            continue
        out[int(tid)] = (st["Name"], int(st["voluntary_ctxt_switches"]),
                         int(st["nonvoluntary_ctxt_switches"]), rt)
    return out


# --------------------------------------------------------------------------
# the world: broker and ports

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    def __init__(self, tmp):
        self.port = free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\nuser root\npersistence false\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n" % self.port)
        self.proc = spawn([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start")
                time.sleep(0.02)
        self.uri = "tcp://127.0.0.1:%d" % self.port

    def wait_status(self, want, timeout=15):
        """Wait until the retained/live gateway status is `want`."""
        p = spawn([MOSQ_SUB, "-h", "127.0.0.1", "-p", str(self.port), "-t", STATUS, "-W", str(int(timeout))],
                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            for line in p.stdout:
                if line.strip() == want.encode():
                    return
            raise RuntimeError("status never became %r" % want)
        finally:
            stop(p)

    def clear_status(self):
        subprocess.run([MOSQ_PUB, "-h", "127.0.0.1", "-p", str(self.port), "-t", STATUS, "-r", "-n"],
                       check=True, timeout=10)


class Ports:
    """NPORTS pty pairs in raw mode; masters for the device side, slaves' paths for the peers."""

    def __init__(self, n):
        self.masters, self.slaves, self.paths = [], [], []
        for _ in range(n):
            m, s = os.openpty()
            tty.setraw(s)
            self.masters.append(m)
            self.slaves.append(s)
            self.paths.append(os.ttyname(s))

    def drain(self):
        for m in self.masters:
            os.set_blocking(m, False)
            try:
                while os.read(m, 65536):
                    pass
            except BlockingIOError:
                pass

    def close(self):
        for fd in self.masters + self.slaves:
            try:
                os.close(fd)
            except OSError:
                pass
