"""
profile_run.py - `make bench-profile` (run.py --profile): mqttgw under
valgrind --tool=callgrind on the bench config, uplink, downlink and idle at
QoS 0 and 1, and the QoS 0 uplink once more through a JSON route with two
typed fields (issue 15), dumped per phase and per thread with
callgrind_control, and summarised into profile.md (report.render_profile).
MQTTGW_BENCH=PATH profiles another build; one that does not take the JSON
route (--check refuses it) has that run skipped, with the reason. Instructions do not
depend on the machine's load, so these are the figures to compare builds by.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from report import callgrind_summary, render_profile
from peers import mqttgw_config
from world import (GPIOSIM, MQTTGW, NGPIO, NPORTS, OUT, PROG, ROOT, STATION, Broker, Ports, log,
                   proc_runtime_ns, proc_threads, spawn, stop, stop_all)

PROFILE_FRAMES = 20000
PROFILE_COMMANDS = 2000


def settle(pid, quiet_ns=20000000, step=0.5, limit=120):
    """Wait until pid has used less than quiet_ns of CPU in `step` seconds (its backlog is done)."""
    deadline = time.monotonic() + limit
    last = proc_runtime_ns(pid)
    while time.monotonic() < deadline:
        time.sleep(step)
        now = proc_runtime_ns(pid)
        if now - last < quiet_ns:
            return
        last = now


def profile_one(broker, ports, tmp, key, qos, json_route=False):
    """One mqttgw under callgrind: uplink (PROFILE_FRAMES on one port), and unless json_route also
    downlink (PROFILE_COMMANDS QoS 1 commands) and 10 s idle, each dumped apart; the summaries by
    phase and thread. json_route: the POS routes publish JSON (peers.JSON_FIELDS), uplink only."""
    cfg = os.path.join(tmp, "prof-%s.cfg" % key)
    with open(cfg, "w") as f:
        f.write(mqttgw_config(broker, ports, qos, os.path.exists(GPIOSIM), json_route))
    env = dict(os.environ)
    if os.path.exists(GPIOSIM):
        env.update(LD_PRELOAD=GPIOSIM, MQTTGW_GPIOSIM="gpiochip0:pinctrl-bcm2835:54")
    if json_route:
        chk = subprocess.run([MQTTGW, "--check", "-c", cfg], capture_output=True, text=True)
        if chk.returncode != 0:	# an older build (MQTTGW_BENCH) without json routes
            why = (chk.stderr.strip().splitlines() or ["exit %d" % chk.returncode])[0]
            log("profile %s: skipped, %s does not take the JSON route: %s" % (key, MQTTGW, why))
            return {"skipped": why}
    base = os.path.join(OUT, "callgrind." + key)
    for old in [f for f in os.listdir(OUT) if f.startswith("callgrind.%s." % key)]:
        os.unlink(os.path.join(OUT, old))
    log("profile %s: mqttgw under callgrind" % key)
    gw = spawn(["valgrind", "--tool=callgrind", "--separate-threads=yes", "--callgrind-out-file=" + base,
                MQTTGW, "-f", "--allow-root", "-c", cfg], env=env,
               stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "gw-%s.log" % key), "wb"))
    broker.wait_status("online", 120)
    time.sleep(2)
    names = [proc_threads(gw.pid)[t][0] for t in sorted(proc_threads(gw.pid))]
    subprocess.run(["callgrind_control", "-z", str(gw.pid)], check=True, capture_output=True)
    ports.drain()
    sub = spawn([PROG["benchsub"], "--uri", broker.uri, "--filter", STATION + "/+/POS/+", "--qos", str(qos),
                 "--ports", "1", "--idle-ms", "30000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    sub.stdout.readline()
    fd = ports.masters[0]
    log("profile %s: uplink, %d frames on one port" % (key, PROFILE_FRAMES))
    subprocess.run([PROG["benchdev"], "--fd", str(fd), "burst", "--seconds", "600", "--frames",
                    str(PROFILE_FRAMES)], pass_fds=(fd,), check=True, capture_output=True)
    sub.stdin.write(("expect %d\n" % PROFILE_FRAMES).encode())
    sub.stdin.flush()
    sres = sub.stdout.readline().decode()
    stop(sub)
    settle(gw.pid)	# paho may still be working off acks: that is the uplink's cost too
    subprocess.run(["callgrind_control", "-d", "uplink", str(gw.pid)], check=True, capture_output=True)
    phases = [("uplink", PROFILE_FRAMES, "frame")]
    if not json_route:
        log("profile %s: downlink, %d commands" % (key, PROFILE_COMMANDS))
        subprocess.run([PROG["benchlat"], "--uri", broker.uri, "--topic", STATION + "/MOT01/RECM", "--fd", str(fd),
                        "--count", str(PROFILE_COMMANDS), "--warmup", "0", "--qos", "1",
                        "--times", os.path.join(tmp, "lat.bin")], pass_fds=(fd,), check=True, capture_output=True)
        settle(gw.pid)
        subprocess.run(["callgrind_control", "-d", "downlink", str(gw.pid)], check=True, capture_output=True)
        log("profile %s: idle 10 s" % key)
        time.sleep(10)
        subprocess.run(["callgrind_control", "-d", "idle", str(gw.pid)], check=True, capture_output=True)
        phases += [("downlink", PROFILE_COMMANDS, "command"), ("idle", 1, "10 s")]
    stop(gw, grace=30)
    broker.clear_status()
    res = {"subscriber": sres.strip(), "threads": names, "qos": qos,
           "label": "QoS %d%s" % (qos, ", JSON route" if json_route else "")}
    for n, (phase, per, what) in enumerate(phases, start=1):
        for t in range(1, len(names) + 1):
            path = "%s.%d-%02d" % (base, n, t)
            if os.path.exists(path):
                res["%s/%d" % (phase, t)] = callgrind_summary(path, per, what)
    return res


def run_profile(args):
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        sys.exit("bench: --profile needs valgrind (apt install valgrind)")
    tmp = tempfile.mkdtemp(prefix="mqttgw-prof-")
    out = {}
    try:
        broker = Broker(tmp)
        ports = Ports(NPORTS)
        for qos in (0, 1):
            out["q%d" % qos] = profile_one(broker, ports, tmp, "q%d" % qos, qos)
        # issue 15: what a frame costs through a JSON route with two typed fields, against q0's uplink
        out["q0-json"] = profile_one(broker, ports, tmp, "q0-json", 0, json_route=True)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(OUT, "profile.json"), "w") as f:
        json.dump(out, f, indent=1)
    text = render_profile(out, NPORTS, NGPIO if os.path.exists(GPIOSIM) else 0, PROFILE_FRAMES, PROFILE_COMMANDS,
                          os.path.relpath(OUT, ROOT))
    with open(os.path.join(OUT, "profile.md"), "w") as f:
        f.write(text)
    print(text)
    log("profile in %s/profile.md" % os.path.relpath(OUT, ROOT))
