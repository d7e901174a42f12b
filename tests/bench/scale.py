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
Writes $MQTTGW_BUILD/bench/scale.md and scale.json.
"""

import json
import os
import re
import subprocess
import sys

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


def main():
    if not os.path.exists(PROG):
        sys.exit("bench-scale: %s is missing (run it through `make bench-scale`)" % PROG)
    rows, res = [], {"grid": []}
    for ports in (1, 8, 64):
        for routes in (10, 100, 1000):
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
