"""
profile_run.py - `make bench-profile` (run.py --profile): mqttgw under
valgrind --tool=callgrind on the bench config, uplink, downlink and idle at
QoS 0 and 1, dumped per phase and per thread with callgrind_control, and
summarised into profile.md (report.render_profile). Instructions do not
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


def run_profile(args):
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        sys.exit("bench: --profile needs valgrind (apt install valgrind)")
    tmp = tempfile.mkdtemp(prefix="mqttgw-prof-")
    out = {}
    try:
        broker = Broker(tmp)
        ports = Ports(NPORTS)
        gpio = os.path.exists(GPIOSIM)
        for qos in (0, 1):
            cfg = os.path.join(tmp, "prof-q%d.cfg" % qos)
            with open(cfg, "w") as f:
                f.write(mqttgw_config(broker, ports, qos, gpio))
            env = dict(os.environ)
            if gpio:
                env.update(LD_PRELOAD=GPIOSIM, MQTTGW_GPIOSIM="gpiochip0:pinctrl-bcm2835:54")
            base = os.path.join(OUT, "callgrind.q%d" % qos)
            for old in [f for f in os.listdir(OUT) if f.startswith("callgrind.q%d" % qos)]:
                os.unlink(os.path.join(OUT, old))
            log("profile QoS %d: mqttgw under callgrind" % qos)
            gw = spawn(["valgrind", "--tool=callgrind", "--separate-threads=yes", "--callgrind-out-file=" + base,
                        MQTTGW, "-f", "--allow-root", "-c", cfg], env=env,
                       stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "gw.log"), "wb"))
            broker.wait_status("online", 120)
            time.sleep(2)
            names = [proc_threads(gw.pid)[t][0] for t in sorted(proc_threads(gw.pid))]
            subprocess.run(["callgrind_control", "-z", str(gw.pid)], check=True, capture_output=True)
            ports.drain()
            sub = spawn([PROG["benchsub"], "--uri", broker.uri, "--filter", STATION + "/+/POS/+", "--qos", str(qos),
                         "--ports", "1", "--idle-ms", "30000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            sub.stdout.readline()
            fd = ports.masters[0]
            log("profile QoS %d: uplink, %d frames on one port" % (qos, PROFILE_FRAMES))
            subprocess.run([PROG["benchdev"], "--fd", str(fd), "burst", "--seconds", "600", "--frames",
                            str(PROFILE_FRAMES)], pass_fds=(fd,), check=True, capture_output=True)
            sub.stdin.write(("expect %d\n" % PROFILE_FRAMES).encode())
            sub.stdin.flush()
            sres = sub.stdout.readline().decode()
            stop(sub)
            settle(gw.pid)	# paho may still be working off acks: that is the uplink's cost too
            subprocess.run(["callgrind_control", "-d", "uplink", str(gw.pid)], check=True, capture_output=True)
            log("profile QoS %d: downlink, %d commands" % (qos, PROFILE_COMMANDS))
            subprocess.run([PROG["benchlat"], "--uri", broker.uri, "--topic", STATION + "/MOT01/RECM", "--fd", str(fd),
                            "--count", str(PROFILE_COMMANDS), "--warmup", "0", "--qos", "1",
                            "--times", os.path.join(tmp, "lat.bin")], pass_fds=(fd,), check=True, capture_output=True)
            settle(gw.pid)
            subprocess.run(["callgrind_control", "-d", "downlink", str(gw.pid)], check=True, capture_output=True)
            log("profile QoS %d: idle 10 s" % qos)
            time.sleep(10)
            subprocess.run(["callgrind_control", "-d", "idle", str(gw.pid)], check=True, capture_output=True)
            stop(gw, grace=30)
            broker.clear_status()
            res = {"subscriber": sres.strip(), "threads": names}
            for n, (phase, per, what) in enumerate((("uplink", PROFILE_FRAMES, "frame"),
                                                    ("downlink", PROFILE_COMMANDS, "command"),
                                                    ("idle", 1, "10 s")), start=1):
                for t in range(1, len(names) + 1):
                    path = "%s.%d-%02d" % (base, n, t)
                    if os.path.exists(path):
                        res["%s/%d" % (phase, t)] = callgrind_summary(path, per, what)
            out["q%d" % qos] = res
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
