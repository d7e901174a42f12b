"""
harness/gpio.py - driving the libgpiod stand-in (BUILD/sim/lib_gpiosim.so)
from a test.

The stand-in is preloaded into the daemon in place of libgpiod
(gpio_env(): which chips and lines exist, where its control socket and
trace file go; tests/sim/README.md, "GPIO stand-in"). Through Ctl a test
sets input levels, makes a switch bounce and reads or waits for the level
of an output, as a hand on the pins would; the trace file (read_trace)
tells what the daemon did to a line, also after it has exited. gpio_in/
gpio_out are config entries for one line. Shared by test_gpio.py, the
dashboard's and the safety tests.
"""

import os
import socket
import time

from .env import BUILD
from .gateway import preload_env

GPIOSIM = os.path.join(BUILD, "sim", "lib_gpiosim.so")
# A Raspberry Pi 4's first chip, with the five lines the tests name.
PI4 = "gpiochip0:pinctrl-bcm2835:54:GPIO17=17,GPIO27=27,GPIO22=22,GPIO23=23,GPIO24=24"


class Ctl:
    """One connection to the stand-in's control socket (served from inside
    the daemon once it opened its first chip). cmd() sends one command and
    returns the reply line; an "err" reply fails unless allow_err."""

    def __init__(self, path, gw=None, timeout=10.0):
        self.path = path
        self.buf = b""
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                self.sock = s
                return
            except OSError:
                s.close()
            if gw is not None and not gw.running():
                raise AssertionError("mqttgw exited (%s) before serving the GPIO socket:\n%s"
                                     % (gw.returncode, gw.log_tail()))
            if time.monotonic() >= deadline:
                raise AssertionError("no GPIO control socket at %s within %.0fs" % (path, timeout))
            time.sleep(0.02)

    def cmd(self, *args, timeout=10.0, allow_err=False):
        line = " ".join(str(a) for a in args)
        self.sock.settimeout(timeout)
        self.sock.sendall(line.encode() + b"\n")
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise AssertionError("GPIO socket closed while waiting for the reply to %r" % line)
            self.buf += data
        reply, self.buf = self.buf.split(b"\n", 1)
        reply = reply.decode("utf-8", "replace")
        if not allow_err and not reply.startswith("ok"):
            raise AssertionError("gpio control %r -> %r" % (line, reply))
        return reply

    def get(self, chip, line):
        return int(self.cmd("get", chip, line).split()[1])

    def set(self, chip, line, level):
        self.cmd("set", chip, line, level)

    def bounce(self, chip, line, level, n, us):
        self.cmd("bounce", chip, line, level, n, us)

    def wait(self, chip, line, what, ms=5000):
        """Block until the pin is at level what (0/1) or the line is used/free."""
        r = self.cmd("wait", chip, line, what, ms, timeout=ms / 1000.0 + 10, allow_err=True)
        if not r.startswith("ok"):
            raise AssertionError("pin %s %s did not become %s within %d ms: %s"
                                 % (chip, line, what, ms, r))
        return r

    def info(self, chip, line):
        r = self.cmd("info", chip, line)
        return dict(kv.split("=", 1) for kv in r.split()[1:] if "=" in kv)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def read_trace(path):
    """The trace file as (ms, chip, offset, what, level) tuples; what is
    e.g. "value", "release", "request output mqttgw"."""
    out = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for l in lines:
        p = l.split()
        if len(p) >= 5:
            out.append((int(p[0]), p[1], int(p[2]), " ".join(p[3:-1]), p[-1]))
    return out


def trace_of(path, chip, offset):
    return [t for t in read_trace(path) if t[1] == chip and t[2] == offset]


def gpio_env(chips, sock, trace):
    """Environment for Gateway(env=): the stand-in preloaded, with chips
    (e.g. PI4), its control socket at sock and its trace file at trace."""
    env = preload_env(GPIOSIM)
    env.update({"MQTTGW_GPIOSIM": chips, "MQTTGW_GPIOSIM_SOCKET": sock,
                "MQTTGW_GPIOSIM_TRACE": trace})
    return env


def gpio_in(name, line, **kw):
    """A gpio config entry: an input on gpiochip0 (kw adds or overrides)."""
    d = {"name": name, "chip": "gpiochip0", "line": line, "direction": "input"}
    d.update(kw)
    return d


def gpio_out(name, line, **kw):
    """A gpio config entry: an output on gpiochip0 (kw adds or overrides)."""
    d = {"name": name, "chip": "gpiochip0", "line": line, "direction": "output"}
    d.update(kw)
    return d


def state_route(dev, topic="${station}/${name}/state"):
    return {"from": "gpio:%s" % dev, "to": "mqtt:%s" % topic, "retain": True}


def set_route(dev, topic=None):
    return {"from": "mqtt:%s" % (topic or "${station}/%s/set" % dev), "to": "gpio:%s" % dev}
