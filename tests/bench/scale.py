#!/usr/bin/python3
"""
scale.py - `make bench-scale`: does a frame cost more in a big station?
Instructions (valgrind --tool=callgrind, so the figure does not depend on
what else the machine runs) per uplink frame and per downlink command of the
mapping engine (tests/bench/prog_benchscale.c) with 1, 8 and 64 serial ports
and 10, 100 and 1,000 routes, with the route index (mapping_index.c) and
with the scan of every route it replaced (--scan); and per topic of
republishing 10,000 retained topics on a reconnect (retained.c).

    MQTTGW_BUILD=build /usr/bin/python3 tests/bench/scale.py

Each figure is the difference of two runs (N and N + STEP iterations)
divided by STEP, so config load and regex JIT compilation cancel out.

Then the whole daemon under callgrind (--separate-threads), against a
private mosquitto and ptys as in run.py: instructions per frame of each
thread for QoS 1 frames paced on one port (one frame a loop turn, where a
per-turn cost of every port would show) with 1, 8 and 64 ports and with 8
ports and 1,000 routes; and 10,000 retained topics (one retained route with
a capture in its topic) republished when the broker restarts: instructions
per topic, and how many a fresh subscriber finds retained afterwards.
Writes $MQTTGW_BUILD/bench/scale.md and scale.json.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import world
from profile_run import settle
from report import callgrind_summary

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_build = os.environ.get("MQTTGW_BUILD", "build")
BUILD = _build if os.path.isabs(_build) else os.path.join(ROOT, _build)
PROG = os.path.join(BUILD, "bench", "prog_benchscale")
BASE, STEP = 200, 2000


def ir(args):
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", PROG] + args,
                       capture_output=True, text=True)
    m = re.search(r"refs:\s*([\d,]+)", r.stderr)
    if r.returncode != 0 or not m:
        sys.exit("bench-scale: %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr[-2000:]))
    return int(m.group(1).replace(",", "")), r.stdout.strip()


def per(mode, ports, routes, scan):
    extra = ["--scan"] if scan else []
    a, _ = ir([mode, str(ports), str(routes), str(BASE)] + extra)
    b, out = ir([mode, str(ports), str(routes), str(BASE + STEP)] + extra)
    n = int(re.search(r"(\d+) routes", out).group(1))
    return round((b - a) / STEP), n


PACED_RATE, PACED_S = 200, 5.0


def daemon_config(broker_uri, paths, extra_routes=0, retained=False):
    """run.py's bench config for these ports, with extra command routes before each port's own."""
    L = ['station = "S013";',
         'mqtt = { uri = "%s"; client_id = "mqttgw-scale"; keepalive = 60; clean_session = true; qos = 1; };'
         % broker_uri, "serial = ("]
    L.append(",\n".join('  { name = "MOT%02d"; port = "%s"; baud = 115200; eol = "\\r\\n"; max_frame = 64; }'
                        % (i + 1, p) for i, p in enumerate(paths)))
    L += [");", "routes = ("]
    R, n = [], len(paths)
    for i in range(n):
        m = "MOT%02d" % (i + 1)
        R += ['  { from = "mqtt:${station}/%s/cfg/%d"; to = "serial:%s"; }' % (m, k, m)
              for k in range(i, extra_routes, n)]
        if retained and i == 0:
            R.append('  { from = "serial:%s"; match = "^V([0-9]+)=(.*)$"; to = "mqtt:${station}/%s/V/$1";\n'
                     '    payload = "$2"; retain = true; }' % (m, m))
        R += ['  { from = "mqtt:${station}/%s/RECM"; to = "serial:%s";\n'
              '    accept = "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME|STAT)$"; }' % (m, m),
              '  { from = "serial:%s"; match = "^POS([XYZ])([+-][0-9]+)$";\n'
              '    to = "mqtt:${station}/%s/POS/$1"; payload = "$2"; }' % (m, m),
              '  { from = "serial:%s"; to = "mqtt:${station}/%s/SEND"; }' % (m, m)]
    L += [",\n".join(R), ");"]
    return "\n".join(L) + "\n", len(R)


def thread_ir(base, dump, nthreads, per):
    out = []
    for t in range(1, nthreads + 1):
        path = "%s.%d-%02d" % (base, dump, t)
        out.append(callgrind_summary(path, per, "frame")["per"] if os.path.exists(path) else 0)
    return out


def callgrind_daemon(tmp, broker, cfg_text, tag):
    cfg = os.path.join(tmp, "scale-%s.cfg" % tag)
    with open(cfg, "w") as f:
        f.write(cfg_text)
    base = os.path.join(BUILD, "bench", "callgrind.scale-%s" % tag)	# kept: callgrind_annotate them
    for old in [f for f in os.listdir(os.path.dirname(base)) if f.startswith(os.path.basename(base) + ".")]:
        os.unlink(os.path.join(os.path.dirname(base), old))
    gw = world.spawn(["valgrind", "--tool=callgrind", "--separate-threads=yes", "--callgrind-out-file=" + base,
                    world.MQTTGW, "-f", "--allow-root", "-c", cfg], stdout=subprocess.DEVNULL,
                   stderr=open(os.path.join(tmp, "gw-%s.log" % tag), "wb"))
    broker.wait_status("online", 120)
    time.sleep(1)
    return gw, base


def daemon_paced(tmp, broker, nports, extra):
    ports = world.Ports(nports)
    try:
        text, nroutes = daemon_config(broker.uri, ports.paths, extra)
        gw, base = callgrind_daemon(tmp, broker, text, "p%d-r%d" % (nports, nroutes))
        nthreads = len(world.proc_threads(gw.pid))
        subprocess.run(["callgrind_control", "-z", str(gw.pid)], check=True, capture_output=True)
        sub = world.spawn([world.PROG["benchsub"], "--uri", broker.uri, "--filter", "S013/+/POS/+", "--qos", "1",
                         "--ports", "1", "--idle-ms", "30000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        sub.stdout.readline()
        fd = ports.masters[0]
        w = subprocess.run([world.PROG["benchdev"], "--fd", str(fd), "paced", "--rate", str(PACED_RATE), "--seconds",
                            str(PACED_S), "--times", os.path.join(tmp, "t.bin")], pass_fds=(fd,), check=True,
                           capture_output=True, text=True)
        frames = int(dict(kv.split("=", 1) for kv in w.stdout.split())["frames"])
        sub.stdin.write(("expect %d\n" % frames).encode())
        sub.stdin.flush()
        got = dict(kv.split("=", 1) for kv in sub.stdout.readline().decode().split())
        world.stop(sub)
        settle(gw.pid)
        subprocess.run(["callgrind_control", "-d", "paced", str(gw.pid)], check=True, capture_output=True)
        world.stop(gw, grace=30)
        broker.clear_status()
        per = thread_ir(base, 1, nthreads, frames)
        return dict(ports=nports, routes=nroutes, frames=frames, received=int(got["received"]), threads=per,
                    total=sum(per))
    finally:
        ports.close()


def daemon_retained(tmp, broker, topics):
    ports = world.Ports(1)
    try:
        text, nroutes = daemon_config(broker.uri, ports.paths, 0, retained=True)
        gw, base = callgrind_daemon(tmp, broker, text, "retained")
        nthreads = len(world.proc_threads(gw.pid))
        fd = ports.masters[0]
        os.set_blocking(fd, True)
        data = "".join("V%d=%d\r\n" % (k, k) for k in range(topics)).encode()
        for i in range(0, len(data), 4096):
            os.write(fd, data[i:i + 4096])
        settle(gw.pid)
        # the broker restarts without persistence: the retained values are gone until the gateway republishes
        conf = os.path.join(tmp, "mosquitto.conf")
        world.stop(broker.proc)
        subprocess.run(["callgrind_control", "-z", str(gw.pid)], check=True, capture_output=True)
        broker.proc = world.spawn([world.MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", broker.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not restart")
                time.sleep(0.02)
        broker.wait_status("online", 120)
        settle(gw.pid)
        subprocess.run(["callgrind_control", "-d", "republish", str(gw.pid)], check=True, capture_output=True)
        r = subprocess.run([world.MOSQ_SUB, "-h", "127.0.0.1", "-p", str(broker.port), "-t", "S013/MOT01/V/#",
                            "-C", str(topics), "-W", "60", "--retained-only"], capture_output=True, text=True)
        found = len(r.stdout.splitlines())
        world.stop(gw, grace=30)
        broker.clear_status()
        per = thread_ir(base, 1, nthreads, topics)
        return dict(topics=topics, found_retained=found, threads=per, total=sum(per))
    finally:
        ports.close()


def daemon(res):
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        print("bench-scale: no valgrind: daemon figures skipped")
        return ""
    tmp = tempfile.mkdtemp(prefix="mqttgw-scale-")
    rows = []
    try:
        broker = world.Broker(tmp)
        res["daemon"] = []
        for nports, extra in [(int(a), int(b)) for a, b in
                              (x.split(":") for x in os.environ.get("SCALE_DAEMON", "1:0,8:0,64:0,8:1000").split(","))]:
            d = daemon_paced(tmp, broker, nports, extra)
            res["daemon"].append(d)
            print("bench-scale: daemon, %d ports, %d routes: %s instructions per QoS 1 frame (threads %s), "
                  "%d of %d received" % (nports, d["routes"], "{:,}".format(d["total"]),
                                        " / ".join("{:,}".format(t) for t in d["threads"]), d["received"],
                                        d["frames"]), flush=True)
            rows.append("| %d | %s | %s | %s | %d of %d |" % (nports, "{:,}".format(d["routes"]), " / ".join(
                "{:,}".format(t) for t in d["threads"]), "{:,}".format(d["total"]), d["received"], d["frames"]))
        d = daemon_retained(tmp, broker, 10000)
        res["daemon_retained"] = d
        print("bench-scale: daemon, 10,000 retained topics republished: %s instructions per topic (threads %s), "
              "%d found retained" % ("{:,}".format(d["total"]), " / ".join("{:,}".format(t) for t in d["threads"]),
                                     d["found_retained"]), flush=True)
    finally:
        world.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return ("\nThe whole daemon (callgrind, --separate-threads; threads: event loop / paho's two), QoS 1 frames "
            "paced %d/s on one port (each its own loop turn), instructions per frame:\n\n"
            "| ports | routes | per thread | all threads | received |\n|---:|---:|---|---:|---|\n"
            % PACED_RATE + "\n".join(rows) + "\n\n"
            "10,000 retained topics (QoS 1), broker restarted without persistence: %s instructions per topic "
            "republished (%s); a fresh subscriber then found %s of them retained.\n"
            % ("{:,}".format(d["total"]), " / ".join("{:,}".format(t) for t in d["threads"]),
               "{:,}".format(d["found_retained"])))


def main():
    if not os.path.exists(PROG):
        sys.exit("bench-scale: %s is missing (run it through `make bench-scale`)" % PROG)
    rows, res = [], {"grid": []}
    for ports in (() if "--daemon-only" in sys.argv else (1, 8, 64)):
        for routes in (10, 100, 1000):
            if 3 * ports >= routes and routes != 10:
                continue	# the same config as the row before: every port's three routes, no more
            e = dict(ports=ports)
            for mode in ("up", "down"):
                e[mode], e["routes"] = per(mode, ports, routes, False)
                e[mode + "_scan"], _ = per(mode, ports, routes, True)
            res["grid"].append(e)
            print("bench-scale: %2d ports, %4d routes: uplink %5d (scan %6d), downlink %5d (scan %6d) "
                  "instructions" % (ports, e["routes"], e["up"], e["up_scan"], e["down"], e["down_scan"]),
                  flush=True)
            rows.append("| %d | %s | %s | %s | %s | %s |" % (ports, "{:,}".format(e["routes"]),
                                                            "{:,}".format(e["up"]), "{:,}".format(e["up_scan"]),
                                                            "{:,}".format(e["down"]), "{:,}".format(e["down_scan"])))
    topics = 10000
    if "--daemon-only" in sys.argv:
        print(daemon(res))
        return
    a, _ = ir(["retained", str(topics), "1"])
    b, out = ir(["retained", str(topics), "11"])
    res["retained"] = dict(topics=topics, per_topic=round((b - a) / 10 / topics),
                           returned=int(re.search(r"(\d+) returned", out).group(1)))
    text = ("Instructions per uplink frame (POSX+001000 through the POS route) and per downlink command "
            "(DRVX+1000 on S013/MOTnn/RECM), mapping engine alone (tests/bench/prog_benchscale.c), "
            "callgrind; 'scan' is the scan of every route that the index replaced.\n\n"
            "| ports | routes | uplink, per frame | … scan | downlink, per command | … scan |\n"
            "|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
            "Retained cache, %s topics set: %s returned on a reconnect, %s instructions per topic to walk "
            "(retained_each; the publish itself is mqtt_publish's cost).\n"
            % ("{:,}".format(topics), "{:,}".format(res["retained"]["returned"]),
               "{:,}".format(res["retained"]["per_topic"])))
    if "--no-daemon" not in sys.argv:
        text += daemon(res)
    out_dir = os.path.join(BUILD, "bench")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "scale.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(out_dir, "scale.md"), "w") as f:
        f.write(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
