#!/usr/bin/python3
"""
run.py - the mqttgw benchmark harness (`make bench`). Stdlib only.

    MQTTGW_BUILD=build /usr/bin/python3 tests/bench/run.py [--quick] [--publish]
                                                           [--only mqttgw|nodered|python|ceiling]...
    MQTTGW_BUILD=build /usr/bin/python3 tests/bench/run.py --profile

Starts, all on loopback and all private to this run: a mosquitto on a free
127.0.0.1 port (user root, persistence false, max_queued_messages 0,
max_inflight_messages 0), eight pseudo-terminal pairs standing in for serial
ports, and then each peer in turn -- mqttgw (with 16 GPIO lines through the
libgpiod stand-in when tests/sim has it), Node-RED 4 with
node-red-node-serialport on tests/bench/nodered/flows.json (installed into
$MQTTGW_BUILD/bench/nodered by nodered.py; skipped, with the reason in the
report, when npm cannot install it) and tests/bench/tutorial_gateway.py
(Python, paho-mqtt + pyserial, the way tutorials do it) -- and measures:

  a) downlink latency: 5,000 sequential QoS 1 commands, publish -> line on
     the port (prog_benchlat); p50/p90/p99/max. Also the same trip with no
     gateway at all (publisher -> broker -> subscriber), the floor.
  b) uplink throughput: frames written on the ports as fast as they are
     taken (prog_benchdev burst) -> received by prog_benchsub, zero loss
     checked, QoS 0 and 1, 1 port and 8 ports at once; for mqttgw also
     QoS 0, 1 port through a JSON route with two typed fields (issue 15:
     two bursts, and the plain route once more after them).
  c) paced uplink: 1,000 frames/s for 10 s on one port, QoS 1: loss and
     frame -> subscriber latency.
  d) peak RSS (VmHWM), CPU time (utime+stime) under load; CPU time and
     wake-ups (context switches per thread, and `perf stat` when it works)
     over 10 s of idle.
  e) the broker ceiling: prog_pahopub (MQTTAsync) and prog_pahopub-sync
     (MQTTClient), bare paho publishers, and prog_rawpub, a publisher that
     costs next to nothing, feeding the same subscriber; gateway throughput
     is given as a share of the best of them (what the broker can take) and
     of the best paho one. Once more with a paho subscriber, to show that
     the measuring side is not the limit.

mqttgw also runs QoS 1 with buffer.dir set (its outbound journal), the cost
config/mqttgw.cfg points to. --profile instead runs mqttgw under valgrind
--tool=callgrind (uplink, downlink, idle, QoS 0 and 1) and writes
profile.md: instructions per frame and per command, by thread and function.

Results go to $MQTTGW_BUILD/bench/: results.json, results.md (the table for
BENCHMARKS.md), the latency CDF data and latency.png (tests/bench/plot.gp).
--publish also copies the plot to BENCHMARKS-latency.png at the repo root.

The harness is split by concern: world.py (paths, processes, /proc, the
broker and the ptys), peers.py (the gateways under test and mqttgw's bench
config), profile_run.py (--profile), report.py (the tables), nodered.py
(installing and starting Node-RED); this file holds the measurements and
the run itself.

Why it is shaped so:
  * The harness owns the ptys (os.openpty) and keeps both ends open for the
    whole run, so ports survive peers being started and stopped, and hands
    the master fds to the C programs (pass_fds). Everything timed is timed
    in C with CLOCK_MONOTONIC; Python here only starts things, waits and
    does arithmetic afterwards, never sits in a measured path.
  * The clients that time and count (prog_benchsub, prog_benchlat) speak
    MQTT themselves (rawmqtt.h), so paho's costs and stalls are charged to
    the gateways under test, never to the measurement.
  * Writers run for a fixed time and the subscriber is told afterwards how
    many frames to expect, so a slow peer makes a run smaller, not longer,
    and `make bench` stays under 5 minutes whatever the peer does.
  * Cleans up after itself whatever happens: every process is started in
    its own session with PR_SET_PDEATHSIG, is stopped in a finally block
    (SIGTERM, then SIGKILL of its group), and the temp dir is removed.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from report import report
import nodered
from peers import Peer, mqttgw_config, mqttgw_refuses
from profile_run import run_profile
from world import (BUILD, FULL, GPIOSIM, MOSQ_PUB, MOSQ_SUB, MOSQUITTO, MQTTGW, NGPIO, NODERED, NPORTS, OUT,
                   PLOT, PROG, PYTHON, QUICK, ROOT, STATION, SYNCCOUNT, TARGETS, Broker, Ports, _procs, disk_bytes,
                   log, proc_cpu, proc_io, proc_kb, proc_runtime_ns, proc_threads, spawn, stop, stop_all,
                   sync_counts, wait_rusage)


# --------------------------------------------------------------------------
# measurements

def read_times(path):
    import array
    a = array.array("q")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return a


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def lat_summary(ns_list):
    ok = sorted(v for v in ns_list if v >= 0)
    lost = sum(1 for v in ns_list if v < 0)
    us = [v / 1000.0 for v in ok]
    return dict(count=len(ns_list), lost=lost, p50_us=pct(us, 50), p90_us=pct(us, 90), p99_us=pct(us, 99),
                max_us=us[-1] if us else None, mean_us=sum(us) / len(us) if us else None), us


def write_cdf(path, us):
    n = len(us)
    with open(path, "w") as f:
        for i, v in enumerate(us):
            f.write("%.3f %.6f\n" % (v, (i + 1) / n))


class Bench:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.cfg = QUICK if args.quick else FULL
        self.broker = Broker(tmp)
        self.ports = Ports(NPORTS)
        self.results = {}
        self.cdf = {}

    def parse_kv(self, line):
        return dict(kv.split("=", 1) for kv in line.split())

    # a) downlink
    def downlink(self, label, fd=None):
        times = os.path.join(self.tmp, "lat-%s.bin" % label)
        argv = [PROG["benchlat"], "--uri", self.broker.uri, "--count", str(self.cfg["latency_count"]),
                "--qos", "1", "--warmup", str(self.cfg["warmup"]), "--times", times]
        if fd is None:
            argv += ["--floor", "--topic", "bench/floor"]
            kw = {}
        else:
            self.ports.drain()
            argv += ["--topic", STATION + "/MOT01/RECM", "--fd", str(fd)]
            kw = dict(pass_fds=(fd,))
        p = spawn(argv, stdout=subprocess.PIPE, **kw)
        out = p.communicate(timeout=120)[0].decode()
        if p.returncode != 0:
            raise RuntimeError("benchlat failed for %s: %s" % (label, out))
        _procs.remove(p) if p in _procs else None
        summ, us = lat_summary(read_times(times))
        self.cdf["down-" + label] = us
        return summ

    # b) uplink burst
    def uplink(self, peer_pid, qos, nports, source="dev", paho_sub=False):
        ports = self.ports
        ports.drain()
        sub = spawn([PROG["benchsub"], "--uri", self.broker.uri, "--filter", STATION + "/+/POS/+",
                     "--qos", str(qos), "--ports", str(nports), "--idle-ms", "3000",
                     "--id", "benchsub-%d" % time.monotonic_ns()] + (["--paho"] if paho_sub else []),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if sub.stdout.readline().strip() != b"ready":
            raise RuntimeError("benchsub did not get ready")
        b0 = proc_cpu(self.broker.proc.pid)
        c0 = proc_runtime_ns(peer_pid) if peer_pid else 0
        th0 = proc_threads(peer_pid) if peer_pid else {}
        if source == "dev":
            fds = ports.masters[:nports]
            w = spawn([PROG["benchdev"], "--fd", ",".join(map(str, fds)), "burst",
                       "--seconds", str(self.cfg["burst_s"])], stdout=subprocess.PIPE, pass_fds=fds)
        else:
            w = spawn([PROG[source], "--uri", self.broker.uri, "--qos", str(qos), "--ports", str(nports),
                       "--seconds", str(self.cfg["burst_s"]), "--id", "pahopub-%d" % time.monotonic_ns()],
                      stdout=subprocess.PIPE)
        wout = w.stdout.readline().decode()
        w_cpu = wait_rusage(w, 120)
        w.stdout.close()
        wr = self.parse_kv(wout)
        frames = [int(x) for x in wr["frames"].split(",")]
        sub.stdin.write(("expect " + ",".join(map(str, frames)) + "\n").encode())
        sub.stdin.flush()
        sout = sub.stdout.readline().decode()
        s_cpu = wait_rusage(sub, 600)
        sub.stdout.close()
        sub.stdin.close()
        sr = self.parse_kv(sout)
        c1 = proc_runtime_ns(peer_pid) if peer_pid else 0
        th1 = proc_threads(peer_pid) if peer_pid else {}
        b1 = proc_cpu(self.broker.proc.pid)
        total = sum(frames)
        start = int(wr["start_ns"])
        last = int(sr["t_last"]) if int(sr["t_last"]) else int(sr["t_end"])
        secs = (last - start) / 1e9
        r = dict(qos=qos, ports=nports, source=source, sub=sr["client"], frames=total, received=int(sr["received"]), lost=int(sr["lost"]),
                 dup=int(sr["dup"]), gaps=int(sr["gaps"]), seconds=round(secs, 3),
                 # delivered frames per second; what was written is offered_rate
                 rate=round((total - int(sr["lost"])) / secs) if secs > 0 else 0,
                 offered_rate=round(total / secs) if secs > 0 else 0,
                 write_seconds=round((int(wr["end_ns"]) - start) / 1e9, 3),
                 writer_cpu_pct=round(100 * w_cpu / secs, 1), sub_cpu_pct=round(100 * s_cpu / secs, 1),
                 broker_cpu_pct=round(100 * (b1 - b0) / secs, 1))
        if peer_pid:
            r["threads"] = [dict(name=name, main=(tid == peer_pid),
                                 cpu_pct=round(100 * (rt - th0.get(tid, (0, 0, 0, 0))[3]) / 1e9 / secs, 1),
                                 voluntary=v - th0.get(tid, (0, 0, 0, 0))[1],
                                 nonvoluntary=nv - th0.get(tid, (0, 0, 0, 0))[2])
                            for tid, (name, v, nv, rt) in sorted(th1.items())]
            r["peer_cpu_pct"] = round(100 * (c1 - c0) / 1e9 / secs, 1)
            r["peer_cpu_us_per_frame"] = round((c1 - c0) / 1e3 / total, 2) if total else None
        return r

    # c) paced
    def paced(self, label, qos):
        self.ports.drain()
        n = int(self.cfg["paced_rate"] * self.cfg["paced_s"])
        st = os.path.join(self.tmp, "paced-send-%s.bin" % label)
        rt = os.path.join(self.tmp, "paced-recv-%s.bin" % label)
        sub = spawn([PROG["benchsub"], "--uri", self.broker.uri, "--filter", STATION + "/+/POS/+",
                     "--qos", str(qos), "--ports", "1", "--idle-ms", "3000", "--times-max", str(n),
                     "--times", rt, "--id", "benchsub-paced", "--quickack"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if sub.stdout.readline().strip() != b"ready":
            raise RuntimeError("benchsub did not get ready")
        fd = self.ports.masters[0]
        w = spawn([PROG["benchdev"], "--fd", str(fd), "paced", "--rate", str(self.cfg["paced_rate"]),
                   "--seconds", str(self.cfg["paced_s"]), "--times", st], stdout=subprocess.PIPE, pass_fds=(fd,))
        wr = self.parse_kv(w.stdout.readline().decode())
        wait_rusage(w, 120)
        w.stdout.close()
        sub.stdin.write(("expect %s\n" % wr["frames"]).encode())
        sub.stdin.flush()
        sr = self.parse_kv(sub.stdout.readline().decode())
        wait_rusage(sub, 60)
        sub.stdout.close()
        sub.stdin.close()
        send, recv = read_times(st), read_times(rt)
        lat = [(r - s) if r else -1 for s, r in zip(send, recv)]
        summ, us = lat_summary(lat)
        summ.update(frames=len(send), lost_sub=int(sr["lost"]), dup=int(sr["dup"]))
        self.cdf["paced-" + label] = us
        return summ

    # d) idle
    def idle(self, pid):
        secs = self.cfg["idle_s"]
        perf_out = os.path.join(self.tmp, "perf-idle.txt")
        perf = None
        if shutil.which("perf"):
            perf = spawn(["perf", "stat", "-x", ",", "-e", "context-switches,task-clock", "--per-thread",
                          "-p", str(pid), "-o", perf_out, "--", "sleep", str(secs)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = proc_threads(pid)
        c0 = proc_cpu(pid)
        time.sleep(secs)
        t1 = proc_threads(pid)
        c1 = proc_cpu(pid)
        threads = []
        for tid, (name, v, nv, rt) in sorted(t1.items()):
            a = t0.get(tid, (name, 0, 0, 0))
            threads.append(dict(tid=tid, name=name, main=(tid == pid), voluntary=v - a[1],
                                nonvoluntary=nv - a[2], cpu_us=round((rt - a[3]) / 1e3)))
        r = dict(seconds=secs, cpu_ms_ticks=round((c1 - c0) * 1000),
                 cpu_us=sum(t["cpu_us"] for t in threads),
                 wakeups=sum(t["voluntary"] + t["nonvoluntary"] for t in threads),
                 main_wakeups=sum(t["voluntary"] + t["nonvoluntary"] for t in threads if t["main"]),
                 threads=threads)
        if perf:
            try:
                perf.wait(secs + 10)
                cs = 0
                with open(perf_out) as f:
                    for line in f:
                        parts = line.strip().split(",")
                        if len(parts) > 3 and parts[3] == "context-switches" and parts[1].isdigit():
                            cs += int(parts[1])
                r["perf_context_switches"] = cs
            except (subprocess.TimeoutExpired, OSError, ValueError) as e:
                r["perf_error"] = str(e)
            stop(perf)
        return r

    # the whole sequence for one peer
    def run_peer(self, kind):
        gpio = kind == "mqttgw" and os.path.exists(GPIOSIM)
        peer = Peer(kind, self.broker, self.ports, self.tmp, gpio)
        R = dict(gpio_lines=NGPIO if gpio else 0, ports=NPORTS)
        log("%s: start (QoS 1 routes, %d ports, %d gpio lines)" % (kind, NPORTS, R["gpio_lines"]))
        peer.start(1)
        R["rss_start_kb"] = proc_kb(peer.pid, "VmRSS")
        log("%s: downlink latency, %d sequential QoS 1 commands" % (kind, self.cfg["latency_count"]))
        R["downlink"] = self.downlink(kind, self.ports.masters[0])
        time.sleep(1.0)
        log("%s: idle %.0f s" % (kind, self.cfg["idle_s"]))
        R["idle"] = self.idle(peer.pid)
        R["rss_idle_kb"] = proc_kb(peer.pid, "VmRSS")
        log("%s: paced %d frames/s for %.0f s, QoS 1" % (kind, self.cfg["paced_rate"], self.cfg["paced_s"]))
        R["paced"] = self.paced(kind, 1)
        R["uplink"] = []
        for nports in (1, NPORTS):
            log("%s: uplink burst QoS 1, %d port(s)" % (kind, nports))
            R["uplink"].append(self.uplink(peer.pid, 1, nports))
        R["hwm_q1_kb"] = proc_kb(peer.pid, "VmHWM")
        if not peer.alive():
            raise RuntimeError("%s died:\n%s" % (kind, peer.log_tail(1)))
        peer.stop()
        peer.start(0)
        for nports in (1, NPORTS):
            log("%s: uplink burst QoS 0, %d port(s)" % (kind, nports))
            R["uplink"].append(self.uplink(peer.pid, 0, nports))
        R["hwm_q0_kb"] = proc_kb(peer.pid, "VmHWM")
        if not peer.alive():
            raise RuntimeError("%s died:\n%s" % (kind, peer.log_tail(0)))
        peer.stop()
        why = mqttgw_refuses(self.tmp, mqttgw_config(self.broker, self.ports, 0, gpio, json=True)) \
            if kind == "mqttgw" else None
        if why:
            log("%s: JSON route SKIPPED, %s refuses it: %s" % (kind, MQTTGW, why))
            R["uplink_json_skipped"] = why
        elif kind == "mqttgw":
            # issue 15: the same frames through a JSON route with two typed fields (peers.JSON_FIELDS),
            # right after the plain QoS 0 runs so both see the same load; one port, QoS 0. Two bursts,
            # then the plain route once more: the report takes the best CPU per frame of each pair, so
            # one burst that another process on the machine disturbed does not decide the factor
            R["uplink_json"], running = [], None
            for label, json_route in (("JSON route", True), ("JSON route", True), ("plain route again", False)):
                if running != json_route:
                    if running is not None:
                        peer.stop()
                    peer.start(0, json=json_route)
                    running = json_route
                log("%s: uplink burst QoS 0, 1 port, %s" % (kind, label))
                u = self.uplink(peer.pid, 0, 1)
                u["label"] = label
                R["uplink_json"].append(u)
                if not peer.alive():
                    raise RuntimeError("%s died:\n%s" % (kind, peer.log_tail(0)))
            peer.stop()
        R["hwm_kb"] = max(R["hwm_q0_kb"], R["hwm_q1_kb"])
        if kind == "mqttgw":
            # idle without the link check's probe (mqtt.link_timeout_ms = 0; by default one round trip a
            # second, which wakes every thread): what is left is paho's own timed waits
            peer.start(1, mqtt_opts="link_timeout_ms = 0;")
            time.sleep(1.0)
            log("%s: idle %.0f s, link_timeout_ms = 0" % (kind, self.cfg["idle_s"]))
            R["idle_nolink"] = self.idle(peer.pid)
            peer.stop()
            # the store-and-forward buffer on disk (gateway/outq.c, drivers/serial_journal.c), and
            # what each buffer.sync costs: fdatasync calls counted by lib_synccount.so, bytes the
            # kernel sent to the disk from /proc/PID/io (write_bytes less cancelled_write_bytes: what
            # an SD card would wear by; pages dirtied then truncated before writeback do not count)
            R["uplink_persist"] = []
            for sync in ("none", "batch", "always"):
                store = os.path.join(self.tmp, "store-" + sync)
                os.makedirs(store, exist_ok=True)
                counts = os.path.join(self.tmp, "synccount-" + sync)
                peer.start(1, 'buffer = { dir = "%s"; sync = "%s"; };\n' % (store, sync),
                           env_extra={"LD_PRELOAD": SYNCCOUNT, "MQTTGW_SYNCCOUNT": counts})
                log("%s: uplink burst QoS 1, 1 port, buffer.dir set, buffer.sync = %s" % (kind, sync))
                c0, io0 = sync_counts(counts), proc_io(peer.pid)
                u = self.uplink(peer.pid, 1, 1)
                c1, io1 = sync_counts(counts), proc_io(peer.pid)
                secs = u["seconds"] or 1
                u.update(label="buffer.dir, sync = %s" % sync, sync=sync,
                         fsyncs_per_s=round((c1[0] - c0[0]) / secs), file_writes_per_s=round((c1[2] - c0[2]) / secs),
                         disk_kib_per_s=round((disk_bytes(io1) - disk_bytes(io0)) / 1024 / secs),
                         fsyncs_per_frame=round((c1[0] - c0[0]) / u["frames"], 3) if u["frames"] else None)
                R["uplink_persist"].append(u)
                peer.stop()
        return R

    def run_ceiling(self):
        R = dict(uplink=[])
        log("ceiling: latency floor (no gateway), %d QoS 1 messages" % self.cfg["latency_count"])
        R["downlink"] = self.downlink("floor")
        names = {"rawpub": "raw MQTT publisher", "pahopub-sync": "bare paho publisher (MQTTClient)",
                 "pahopub": "bare paho publisher (MQTTAsync)"}
        for qos, nports, src in [(q, n, p) for p in ("rawpub", "pahopub-sync", "pahopub") for q in (0, 1)
                                 for n in (1, NPORTS)]:
            log("ceiling: %s, QoS %d, %d topic(s)" % (names[src], qos, nports))
            R["uplink"].append(self.uplink(None, qos, nports, source=src))
        log("ceiling: the same, QoS 0, 1 topic, measured by a paho MQTTAsync subscriber")
        R["paho_sub"] = self.uplink(None, 0, 1, source="pahopub-sync", paho_sub=True)
        return R


# --------------------------------------------------------------------------
# report

def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()

    def pkg(name):
        for n in (name + ":" + arch, name):
            r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", n], capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip():
                return r.stdout.strip()
        return "?"
    pyv = subprocess.run([PYTHON, "-c", "import paho.mqtt, serial, platform; "
                          "print(platform.python_version(), paho.mqtt.__version__, serial.__version__)"],
                         capture_output=True, text=True).stdout.split()
    git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip()
    return dict(cpu=cpu, cores=os.cpu_count(), kernel=platform.release(), tree=git or "?", mqttgw=MQTTGW,
                mosquitto=pkg("mosquitto"), paho_c=pkg("libpaho-mqtt1.3"),
                python=pyv[0] if pyv else "?", paho_python=pyv[1] if len(pyv) > 1 else "?",
                pyserial=pyv[2] if len(pyv) > 2 else "?",
                gcc=subprocess.run(["cc", "-dumpfullversion"], capture_output=True, text=True).stdout.strip())


def plot(res, out_png):
    files = {}
    for key, us in res["_cdf"].items():
        path = os.path.join(OUT, "cdf-%s.dat" % key)
        write_cdf(path, us)
        files[key] = path
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plot")
        return None
    env = dict(os.environ)
    args = "outfile='%s'; dir='%s'" % (out_png, OUT)
    r = subprocess.run(["gnuplot", "-e", args, PLOT], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr.strip())
        return None
    return out_png


def main():
    ap = argparse.ArgumentParser(description="mqttgw benchmark (make bench)")
    ap.add_argument("--quick", action="store_true", help="short runs: test the harness, not the daemon")
    ap.add_argument("--publish", action="store_true", help="copy the plot to BENCHMARKS-latency.png")
    ap.add_argument("--only", choices=("mqttgw", "nodered", "python", "ceiling"), action="append")
    ap.add_argument("--profile", action="store_true", help="callgrind profile of mqttgw instead of the benchmark")
    args = ap.parse_args()
    for path in [MQTTGW, MOSQUITTO, MOSQ_SUB, MOSQ_PUB] + list(PROG.values()):
        if not os.path.exists(path):
            sys.exit("bench: %s is missing (run it through `make bench`)" % path)
    os.makedirs(OUT, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.profile:
        return run_profile(args)
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="mqttgw-bench-")
    res = {"machine": machine(), "quick": args.quick, "load_start": os.getloadavg()}
    bench = None
    try:
        bench = Bench(args, tmp)
        which = args.only or ["mqttgw", "nodered", "python", "ceiling"]
        if "nodered" in which:
            NODERED["dir"], why = nodered.install(BUILD, log)
            if NODERED["dir"]:
                res["machine"]["nodered"] = nodered.version(NODERED["dir"])
            else:
                log("nodered: SKIPPED, %s" % why)
                res["nodered_skipped"] = why
        for kind in ("mqttgw", "nodered", "python"):
            if kind in which and (kind != "nodered" or NODERED["dir"]):
                res[kind] = bench.run_peer(kind)
        if "ceiling" in which:
            res["ceiling"] = bench.run_ceiling()
        res["_cdf"] = bench.cdf
    finally:
        stop_all()
        if bench:
            bench.ports.close()
        shutil.rmtree(tmp, ignore_errors=True)
    res["load_end"] = os.getloadavg()
    res["seconds"] = round(time.monotonic() - t_start, 1)
    png = plot(res, os.path.join(OUT, "latency.png"))
    cdf = res.pop("_cdf")
    res["latency_samples"] = {k: len(v) for k, v in cdf.items()}
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    table = report(res, TARGETS, NPORTS, FULL["idle_s"])
    m = res["machine"]
    head = ("Machine: %s, %d cores, Linux %s; mosquitto %s, paho.mqtt.c %s, Python %s with paho-mqtt %s and "
            "pyserial %s; %s; cc %s.\nmqttgw: %s (tree %s).\nLoad average at start %.2f, at end %.2f; run took %.0f s.%s\n\n"
            % (m["cpu"], m["cores"], m["kernel"], m["mosquitto"], m["paho_c"], m["python"], m["paho_python"],
               m["pyserial"], m.get("nodered", "Node-RED not run"), m["gcc"], os.path.relpath(m["mqttgw"], ROOT) if m["mqttgw"].startswith(ROOT) else m["mqttgw"], m["tree"], res["load_start"][0],
               res["load_end"][0], res["seconds"], " (--quick: smoke run, figures not comparable)" if args.quick else ""))
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(head + table)
    print()
    print(head + table)
    if png and args.publish:
        shutil.copy(png, os.path.join(ROOT, "BENCHMARKS-latency.png"))
        log("plot copied to BENCHMARKS-latency.png")
    log("results in %s (results.md, results.json%s)" % (os.path.relpath(OUT, ROOT), ", latency.png" if png else ""))


if __name__ == "__main__":
    main()
