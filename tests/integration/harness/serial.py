"""
harness/serial.py - the serial side: pseudo-terminals standing in for
serial ports, and the motor controller simulator.

Pty is a pty pair: the daemon opens the slave (or a symlink to it, as a
udev name would be), the test reads and writes the master with deadlines
(select), so a test can see every byte the daemon writes to a port and
feed it frames. set_raw/is_raw are the termios checks (the daemon must set
the port raw itself). MotorSim runs build/sim/prog_motorsim, a device that
answers the DRV/POS/STOP/HOME protocol on its own pty, for end-to-end
tests with a talking device.
"""

import errno
import fcntl
import os
import select
import signal
import subprocess
import termios
import time

from .env import EVENT_TIMEOUT, MOTORSIM, HarnessError
from .fixtures import _register, _seq, tmpdir, tmppath
from .procs import spawn, stop_process
from .wait import tail, wait_until

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
# Motor controller simulator

class MotorSim:
    """build/sim/prog_motorsim --link PATH: a pty whose other end speaks the
    DRV/POS/STOP/HOME protocol. self.path is the port for the daemon."""

    teardown_rank = 3       # after the gateways that talk to it

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


def crc16_modbus(data):
    """CRC-16/MODBUS of data, as the two bytes RTU sends (low byte first)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes([crc & 0xFF, crc >> 8])
