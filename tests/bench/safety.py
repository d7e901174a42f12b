#!/usr/bin/python3
"""
safety.py - `make safety`: how long a motor keeps running after each kind
of failure, as a distribution (issue 20, SAFETY.md).

    MQTTGW_BUILD=build /usr/bin/python3 tests/bench/safety.py [--trials N] [--only NAME]...

Every trigger is repeated N times (default 20) against the real daemon, a
real mosquitto and a pty standing in for the motor's port; the figure of a
trial is

    (time STOP reached the port) - (time of the trigger) - (configured wait)

where the configured wait is failsafe_grace_ms for a lost broker,
command_timeout_ms for the deadman, and nothing for SIGTERM and a replugged
port. Triggers:

  sigstop   the broker frozen (SIGSTOP): a silent loss, no RST, no FIN
  netcut    a real link cut: the gateway and the broker in two network
            namespaces made here, joined by a veth pair (private addresses
            10.231.0.1/30 and .2, inside those namespaces only); the
            gateway's end is set down (`ip link set down`): silent too
  sigkill   the broker killed: the gateway's socket is reset at once
  deadman   no command for command_timeout_ms
  sigterm   the gateway stopped with SIGTERM
  unplug    the port unplugged (pty closed, symlink removed) and plugged
            back 150 ms later: the fail-safe is the first thing written

Targets: p99 <= link_timeout_ms + 100 ms for the silent losses (sigstop,
netcut), <= 100 ms for the others. The gateway runs the reference
config's link check (link_timeout_ms 3000, a probe a second); grace is
500 ms to keep the run short (it is subtracted). Also measured: what the
link check costs on the wire (bytes/s on the veth, idle).

Results: a table on stdout and $MQTTGW_BUILD/bench/safety.{json,md}.
Needs root for the namespaces (netcut is skipped without them).
Takes about 6 minutes with 20 trials.
"""

import argparse
import json
import math
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
from harness import (MOSQUITTO, MQTTGW, Broker, Gateway, Pty, gateway_config, pub, render_config,  # noqa: E402
                     root_args, serial_dev, spawn, stop_process, tail)

LINK_MS = 3000
GRACE_MS = 500
DEADMAN_MS = 1500
REOPEN_MS = 100
CLIENT_ID = "mqttgw-S013"
TOPIC = "S013/M/RECM"
NS_GW, NS_BR = "mqttgw-safety-gw-%d" % os.getpid(), "mqttgw-safety-br-%d" % os.getpid()
ADDR_GW, ADDR_BR = "10.231.0.1", "10.231.0.2"
VETH_GW, VETH_BR = "vmgwsf%d" % (os.getpid() % 10000), "vmbrsf%d" % (os.getpid() % 10000)


def routes():
    return [{"from": "mqtt:" + TOPIC, "to": "serial:M"}]


def mqtt_settings(extra=None):
    m = {"reconnect_min_ms": 100, "reconnect_max_ms": 1000, "link_timeout_ms": LINK_MS, "keepalive": 60}
    m.update(extra or {})
    return m


def read_stop(pty, timeout):
    """Wait for STOP\\r\\n on the port; its arrival time (monotonic)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no STOP within %.1f s (got %r)" % (timeout, buf))
        r, _, _ = select.select([pty.master], [], [], left)
        if not r:
            continue
        try:
            data = os.read(pty.master, 4096)
        except (BlockingIOError, OSError):
            time.sleep(0.005)
            continue
        t = time.monotonic()
        buf += data
        if b"STOP\r\n" in buf:
            return t


def random_phase():
    """A random wait (stimulus) so that a trigger falls anywhere in the link
    check's period, not always right after a (re)connect."""
    time.sleep(random.uniform(0, 1.5 * LINK_MS / 3 / 1000.0))


def command_through(pub_fn, pty, payload="RUN", timeout=30.0):
    """Publish until the command reaches the port (the link is back); its arrival time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pub_fn(payload)
        except Exception:
            time.sleep(0.1)
            continue
        try:
            line = pty.read_until(b"\r\n", timeout=min(3.0, max(0.1, deadline - time.monotonic())))
        except AssertionError:
            continue
        t = time.monotonic()
        if payload.encode() in line:
            return t
    raise AssertionError("%s never reached the port" % payload)


class Trial:
    def __init__(self, name, figures_ms, bound_ms, note):
        self.name, self.figures, self.bound, self.note = name, figures_ms, bound_ms, note


def pct(v, p):
    s = sorted(v)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


# ---------------------------------------------------------------- triggers

def rig(extra_serial=None, extra_mqtt=None):
    broker = Broker()
    pty = Pty(link="ttySAFE")
    dev = {"on_disconnect": "STOP", "failsafe_grace_ms": GRACE_MS, "reopen_ms": REOPEN_MS}
    dev.update(extra_serial or {})
    gw = Gateway(gateway_config(broker, mqtt=mqtt_settings(extra_mqtt), serial=[serial_dev("M", pty.path, **dev)],
                                routes=routes()))
    return broker, pty, gw


def run_sigstop(n):
    broker, pty, gw = rig()
    p = lambda s: pub(broker, TOPIC, s)  # noqa: E731
    out = []
    for _ in range(n):
        command_through(p, pty)
        random_phase()
        t0 = time.monotonic()
        os.kill(broker.proc.pid, signal.SIGSTOP)
        try:
            t = read_stop(pty, LINK_MS / 1000.0 + GRACE_MS / 1000.0 + 10)
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        out.append((t - t0) * 1000 - GRACE_MS)
    gw.assert_running()
    return out


def run_sigkill(n):
    broker, pty, gw = rig()
    port = broker.port
    out = []
    for _ in range(n):
        command_through(lambda s: pub(broker, TOPIC, s), pty)
        random_phase()
        t0 = time.monotonic()
        broker.kill()
        t = read_stop(pty, GRACE_MS / 1000.0 + 10)
        out.append((t - t0) * 1000 - GRACE_MS)
        broker = Broker(port=port)
    gw.assert_running()
    return out


def run_deadman(n):
    broker, pty, gw = rig({"command_timeout_ms": DEADMAN_MS, "failsafe_grace_ms": 60000})
    out = []
    for _ in range(n):
        t0 = command_through(lambda s: pub(broker, TOPIC, s), pty)
        t = read_stop(pty, DEADMAN_MS / 1000.0 + 5)
        out.append((t - t0) * 1000 - DEADMAN_MS)
    gw.assert_running()
    return out


def run_sigterm(n):
    broker = Broker()
    pty = Pty(link="ttySAFE")
    cfg = gateway_config(broker, mqtt=mqtt_settings(), routes=routes(),
                         serial=[serial_dev("M", pty.path, on_disconnect="STOP", failsafe_grace_ms=60000)])
    out = []
    for _ in range(n):
        gw = Gateway(cfg)
        command_through(lambda s: pub(broker, TOPIC, s), pty)
        random_phase()
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        t = read_stop(pty, 5)
        out.append((t - t0) * 1000)
        assert gw.wait(10) == 0
    return out


def run_unplug(n):
    broker, pty, gw = rig({"failsafe_grace_ms": 60000})
    out = []
    for _ in range(n):
        command_through(lambda s: pub(broker, TOPIC, s), pty)
        mark = gw.log_mark()
        pty.close()
        gw.wait_for_log(r"serial M: port lost", since=mark)
        time.sleep(0.15)  # the unplugged time (stimulus, not a wait for an event)
        pty = Pty(link="ttySAFE")
        t0 = time.monotonic()
        t = read_stop(pty, 5)
        out.append((t - t0) * 1000)
    gw.assert_running()
    return out


# ------------------------------------------------------------- namespaces

def sh(*argv, check=True):
    return subprocess.run(argv, check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout


def ns_up():
    ns_down()
    sh("ip", "netns", "add", NS_GW)
    sh("ip", "netns", "add", NS_BR)
    sh("ip", "link", "add", VETH_GW, "type", "veth", "peer", "name", VETH_BR)
    sh("ip", "link", "set", VETH_GW, "netns", NS_GW)
    sh("ip", "link", "set", VETH_BR, "netns", NS_BR)
    for ns, dev, addr in ((NS_GW, VETH_GW, ADDR_GW), (NS_BR, VETH_BR, ADDR_BR)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", addr + "/30", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")


def ns_down():
    for ns in (NS_GW, NS_BR):
        sh("ip", "netns", "del", ns, check=False)


def veth_bytes():
    tx = int(sh("ip", "netns", "exec", NS_GW, "cat", "/sys/class/net/%s/statistics/tx_bytes" % VETH_GW))
    rx = int(sh("ip", "netns", "exec", NS_GW, "cat", "/sys/class/net/%s/statistics/rx_bytes" % VETH_GW))
    return tx + rx


def run_netcut(n, cost):
    d = harness.tmpdir()
    port = 1883
    conf = os.path.join(d, "mosquitto-ns.conf")
    with open(conf, "w") as f:
        f.write("listener %d %s\nallow_anonymous true\nuser root\nmax_queued_messages 0\npersistence false\n"
                "log_dest stderr\nlog_type error\n" % (port, ADDR_BR))
    blog = open(os.path.join(d, "mosquitto-ns.log"), "wb")
    broker = spawn(["ip", "netns", "exec", NS_BR, MOSQUITTO, "-c", conf], stdout=blog, stderr=subprocess.STDOUT)
    pty = Pty(link="ttySAFE")
    cfg = gateway_config("tcp://%s:%d" % (ADDR_BR, port), mqtt=mqtt_settings(), routes=routes(),
                         serial=[serial_dev("M", pty.path, on_disconnect="STOP", failsafe_grace_ms=GRACE_MS)])
    path = os.path.join(d, "mqttgw-ns.cfg")
    with open(path, "w") as f:
        f.write(render_config(cfg))
    glog_path = os.path.join(d, "mqttgw-ns.log")
    glog = open(glog_path, "wb")
    gw = spawn(["ip", "netns", "exec", NS_GW, MQTTGW, "-f", "-v", "-c", path] + root_args(),
               stdout=glog, stderr=subprocess.STDOUT)

    def p(s):
        r = subprocess.run(["ip", "netns", "exec", NS_BR, "mosquitto_pub", "-h", ADDR_BR, "-p", str(port),
                            "-q", "1", "-t", TOPIC, "-m", s], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=10)
        if r.returncode:
            raise RuntimeError(r.stdout)

    out = []
    try:
        command_through(p, pty)
        # what the link check costs: 10 s idle, both directions, everything on the wire
        b0, t0 = veth_bytes(), time.monotonic()
        time.sleep(10)
        cost["bytes_per_s"] = (veth_bytes() - b0) / (time.monotonic() - t0)
        for _ in range(n):
            command_through(p, pty)
            random_phase()
            t0 = time.monotonic()
            sh("ip", "-n", NS_GW, "link", "set", VETH_GW, "down")
            try:
                t = read_stop(pty, LINK_MS / 1000.0 + GRACE_MS / 1000.0 + 10)
            finally:
                sh("ip", "-n", NS_GW, "link", "set", VETH_GW, "up")
            out.append((t - t0) * 1000 - GRACE_MS)
        assert gw.poll() is None, tail(glog_path)
    finally:
        stop_process(gw)
        stop_process(broker)
        glog.close()
        blog.close()
    return out


# ------------------------------------------------------------------- main

TRIGGERS = [
    ("sigstop", "broker frozen (SIGSTOP)", LINK_MS + 100, "silent: link_timeout_ms %d" % LINK_MS),
    ("netcut", "link cut (veth down, netns)", LINK_MS + 100, "silent: link_timeout_ms %d" % LINK_MS),
    ("sigkill", "broker killed (SIGKILL)", 100, "TCP reset"),
    ("deadman", "deadman (command_timeout_ms)", 100, "command_timeout_ms %d" % DEADMAN_MS),
    ("sigterm", "gateway SIGTERM", 100, ""),
    ("unplug", "USB unplug, replugged", 100, "reopen_ms %d" % REOPEN_MS),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    out_dir = os.path.join(harness.BUILD, "bench")
    os.makedirs(out_dir, exist_ok=True)
    results, cost = [], {}
    have_ns = os.geteuid() == 0 and shutil.which("ip")
    started = time.monotonic()
    for key, label, bound, note in TRIGGERS:
        if args.only and key not in args.only:
            continue
        if key == "netcut" and not have_ns:
            print("%-32s skipped: needs root and ip(8) for network namespaces" % label)
            continue
        d = tempfile.mkdtemp(prefix="mqttgw-safety-%s-" % key)
        harness.begin_test(d, key)
        t0 = time.monotonic()
        try:
            if key == "netcut":
                ns_up()
                figs = run_netcut(args.trials, cost)
            else:
                figs = globals()["run_" + key](args.trials)
            error = None
        except Exception as e:  # report and go on with the next trigger
            figs, error = [], "%s: %s" % (type(e).__name__, e)
        finally:
            problems = harness.end_test()
            if key == "netcut":
                ns_down()
        if error or problems:
            print("%-32s FAILED: %s %s (logs kept in %s)" % (label, error or "", "; ".join(problems), d))
            results.append({"trigger": key, "label": label, "error": error or "; ".join(problems)})
            continue
        shutil.rmtree(d, ignore_errors=True)
        r = {"trigger": key, "label": label, "note": note, "bound_ms": bound, "trials": len(figs),
             "p50": pct(figs, 50), "p99": pct(figs, 99), "max": max(figs), "min": min(figs),
             "figures_ms": [round(f, 1) for f in figs], "seconds": round(time.monotonic() - t0, 1)}
        r["ok"] = r["p99"] <= bound
        results.append(r)
        print("%-32s p50 %7.1f  p99 %7.1f  max %7.1f ms  (target p99 <= %d: %s; %d trials, %.0f s)"
              % (label, r["p50"], r["p99"], r["max"], bound, "ok" if r["ok"] else "MISSED", len(figs), r["seconds"]),
              flush=True)
    md = ["| trigger | what is subtracted | trials | p50 ms | p99 ms | max ms | target p99 |",
          "|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            md.append("| %s | | | failed: %s | | | |" % (r["label"], r["error"][:80]))
            continue
        sub = {"sigstop": "grace %d" % GRACE_MS, "netcut": "grace %d" % GRACE_MS, "sigkill": "grace %d" % GRACE_MS,
               "deadman": "command_timeout_ms %d" % DEADMAN_MS}.get(r["trigger"], "nothing")
        md.append("| %s | %s | %d | %.1f | %.1f | %.1f | <= %d %s |" % (
            r["label"], sub, r["trials"], r["p50"], r["p99"], r["max"], r["bound_ms"], "ok" if r["ok"] else "MISSED"))
    if cost:
        md.append("")
        md.append("Link check on the wire, idle, both directions (IP and TCP headers included): %.0f bytes/s"
                  % cost["bytes_per_s"])
    with open(os.path.join(out_dir, "safety.json"), "w") as f:
        json.dump({"results": results, "link_check_cost": cost, "link_timeout_ms": LINK_MS,
                   "grace_ms": GRACE_MS}, f, indent=1)
    with open(os.path.join(out_dir, "safety.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    print("%.0f s in all; results in %s/safety.{json,md}" % (time.monotonic() - started, out_dir))
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
