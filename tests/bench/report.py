"""
report.py - the tables of the benchmark (results.md, the body of
BENCHMARKS.md) and of the callgrind profile (profile.md), from the results
run.py collected. Pure formatting, no processes: kept apart so run.py stays
about starting, stopping and measuring things, and so a results.json can be
re-rendered without running anything again.
"""

import os
import re
import subprocess


def find_up(R, qos, nports, sources=None):
    """The run for (qos, nports); for the ceiling, the best of its publishers (or of `sources`)."""
    best = None
    for u in R["uplink"]:
        if u["qos"] == qos and u["ports"] == nports and (sources is None or u.get("source") in sources) \
                and (best is None or u["rate"] > best["rate"]):
            best = u
    return best


PUBLISHERS = {"rawpub": "raw MQTT, 64 KiB writes (prog_rawpub)", "pahopub-sync": "paho MQTTClient_publish",
              "pahopub": "paho MQTTAsync_send, window 256", "dev": "device writer"}


def fmt(v, nd=0):
    if v is None:
        return "-"
    if isinstance(v, float) and nd:
        return "%.*f" % (nd, v)
    return "{:,}".format(int(round(v)))


def ratio(a, b, nd=1):
    try:
        return "%.*f×" % (nd, a / b)
    except (TypeError, ZeroDivisionError):
        return "-"


def report(res, T, nports, idle_s):
    """The markdown tables of results.md / BENCHMARKS.md from run.py's results: mqttgw, Node-RED and the
    Python tutorial bridge side by side (a peer that did not run shows "-"), mqttgw's factor against each."""
    NPORTS = nports
    g, n, p, c = res.get("mqttgw"), res.get("nodered"), res.get("python"), res.get("ceiling")
    rows = []

    def row(name, gv, nv, pv, rn, rp, target="", met=""):
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (name, gv, nv, pv, rn, rp, target, met))

    def trio(get, f=fmt, better_low=True):
        """One measure of the three peers, formatted, and mqttgw's factor against Node-RED and Python."""
        gv, nv, pv = (get(x) if x else None for x in (g, n, p))
        r = (lambda o: ratio(o, gv)) if better_low else (lambda o: ratio(gv, o))
        return f(gv), f(nv), f(pv), r(nv), r(pv)

    def yes(ok):
        return "" if ok is None else ("yes" if ok else "**no**")

    def json_rows(runs, plain):
        """mqttgw only: the same frames through a JSON route with two typed fields (issue 15); CPU per
        frame is the best of the JSON bursts against the best of the plain ones (the 1-port QoS 0 run
        and the one after the JSON bursts)."""
        js = [u for u in runs if u["label"] == "JSON route"]
        pl = [u for u in [plain] + [u for u in runs if u["label"] != "JSON route"] if u]
        if not js:
            return
        row("uplink QoS 0, 1 port, **JSON route** (two typed fields), frames/s delivered, %d runs"
            % len(js), " / ".join(fmt(u["rate"]) for u in js), "-", "-", "", "", "", "")
        row("… lost / duplicated (of frames sent)", "; ".join("%s / %s (of %s)" % (
            fmt(u["lost"]), fmt(u["dup"]), fmt(u["frames"])) for u in js), "-", "-", "", "", "", "")
        jb = min((u for u in js if u.get("peer_cpu_us_per_frame")), key=lambda u: u["peer_cpu_us_per_frame"],
                 default=None)
        pb = min((u for u in pl if u.get("peer_cpu_us_per_frame")), key=lambda u: u["peer_cpu_us_per_frame"],
                 default=None)
        x = jb["peer_cpu_us_per_frame"] / pb["peer_cpu_us_per_frame"] if jb and pb else None
        row("… CPU µs per frame, best of %d (%% of a core); plain route, best of %d (%s); JSON ÷ plain"
            % (len(js), len(pl), ", ".join("%.2f" % u["peer_cpu_us_per_frame"] for u in pl)),
            "%.2f (%d%%); %.2f; %s" % (jb["peer_cpu_us_per_frame"], jb["peer_cpu_pct"], pb["peer_cpu_us_per_frame"],
                                       "%.2f×" % x) if x else "-",
            "-", "-", "", "", "≤ 1.5× plain", yes(x <= 1.5) if x else "")

    if g or n or p:
        gd = (g or {}).get("downlink", {})
        fl = (c or {}).get("downlink", {})
        for k, name in (("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"), ("max_us", "max")):
            row("downlink latency %s, µs (floor: %s)" % (name, fmt(fl.get(k))),
                *trio(lambda R: R.get("downlink", {}).get(k)),
                "< 1,000" if k == "p99_us" else "",
                yes(gd.get(k) < T["down_p99_us"]) if k == "p99_us" and gd else "")
        row("downlink commands lost", *trio(lambda R: R.get("downlink", {}).get("lost"))[:3], "", "", "0",
            yes(gd.get("lost") == 0) if gd else "")
        for qos, nports in ((0, 1), (0, NPORTS), (1, 1), (1, NPORTS)):
            gu = find_up(g, qos, nports) if g else None
            cu = find_up(c, qos, nports) if c else None
            cp = find_up(c, qos, nports, ("pahopub", "pahopub-sync")) if c else None
            nu = find_up(n, qos, nports) if n else None
            tgt, met = "", ""
            if (qos, nports) == (0, 1):
                tgt = "≥ 100,000, ≥ 80% of ceiling, 0 lost"
                if gu and cu:
                    met = yes(gu["rate"] >= T["up_q0_1p"] and gu["rate"] >= T["up_q0_share"] * cu["rate"]
                              and gu["lost"] == 0)
            elif qos == 1:
                tgt = "≥ 80% of ceiling, 0 lost"
                met = yes(gu["rate"] >= T["up_q1_share"] * cu["rate"] and gu["lost"] == 0) if gu and cu else ""
            share = " (%d%% of the broker ceiling %s; %d%% of the best paho publisher's %s)" % (
                round(100.0 * gu["rate"] / cu["rate"]), fmt(cu["rate"]), round(100.0 * gu["rate"] / cp["rate"]),
                fmt(cp["rate"])) if gu and cu and cp else ""
            row("uplink QoS %d, %d port%s, frames/s delivered%s" % (qos, nports, "s" if nports > 1 else "", share),
                *trio(lambda R: (find_up(R, qos, nports) or {}).get("rate"), better_low=False), tgt, met)

            def lost(R):
                u = find_up(R, qos, nports) if R else None
                return "%s / %s (of %s)" % (fmt(u["lost"]), fmt(u["dup"]), fmt(u["frames"])) if u else "-"
            row("… lost / duplicated (of frames sent)", lost(g), lost(n), lost(p), "", "", "", "")

            def cpu(R):
                u = find_up(R, qos, nports) if R else None
                return "%.2f (%d%%)" % (u["peer_cpu_us_per_frame"], u["peer_cpu_pct"]) if u else "-"
            t, m = "", ""
            if qos == 1:
                t = "≤ 1/3 of Node-RED's"
                m = yes(gu["peer_cpu_us_per_frame"] * 3 <= nu["peer_cpu_us_per_frame"]) if gu and nu else ""
            row("… CPU µs per frame (% of a core)", cpu(g), cpu(n), cpu(p),
                *trio(lambda R: (find_up(R, qos, nports) or {}).get("peer_cpu_us_per_frame"))[3:], t, m)
            if (qos, nports) == (0, 1) and (g or {}).get("uplink_json"):
                json_rows(g["uplink_json"], gu)
        gp = (g or {}).get("paced", {})
        row("paced 1,000 frames/s × 10 s, QoS 1: lost", *trio(lambda R: R.get("paced", {}).get("lost"))[:3],
            "", "", "0", yes(gp.get("lost") == 0) if gp else "")
        for k in ("p50_us", "p99_us", "max_us"):
            row("… frame → subscriber latency %s, µs" % k[:-3], *trio(lambda R: R.get("paced", {}).get(k)), "", "")
        ghwm = (g or {}).get("hwm_kb")
        row("peak RSS (VmHWM), MiB, %d ports (mqttgw: + %d GPIO lines)" % (NPORTS, (g or {}).get("gpio_lines", 0)),
            *trio(lambda R: R.get("hwm_kb") and R["hwm_kb"] / 1024.0, lambda v: fmt(v, 2)),
            "< 4 MiB", yes(ghwm < T["rss_kb"]) if ghwm else "")
        row("RSS after start-up and 5,000 commands, MiB",
            *trio(lambda R: R.get("rss_idle_kb") and R["rss_idle_kb"] / 1024.0, lambda v: fmt(v, 2)), "", "")
        gi = (g or {}).get("idle", {})
        row("idle %d s: CPU time, µs" % idle_s, *trio(lambda R: R.get("idle", {}).get("cpu_us")), "", "")
        row("idle: wake-ups (context switches, all threads)", *trio(lambda R: R.get("idle", {}).get("wakeups")),
            "keepalive only (0 in 10 s at keepalive 60)", yes(gi.get("wakeups") == 0) if gi else "")
        row("… of which the main thread", *trio(lambda R: R.get("idle", {}).get("main_wakeups"))[:3], "", "", "", "")
        gn = (g or {}).get("idle_nolink")
        if gn:
            row("… mqttgw with `link_timeout_ms = 0` (no link-check probe): wake-ups, all threads / main thread",
                "%s / %s" % (fmt(gn["wakeups"]), fmt(gn["main_wakeups"])), "", "", "", "", "", "")
        row("… `perf stat -e context-switches`",
            *trio(lambda R: R.get("idle", {}).get("perf_context_switches"))[:3], "", "", "", "")
    head = ["| measure | mqttgw | Node-RED | Python tutorial | mqttgw better than Node-RED by "
            "| than Python by | target | met |", "|---|---:|---:|---:|---:|---:|---|---|"]
    out = "\n".join(head + rows) + "\n"
    if (g or {}).get("uplink_json_skipped"):
        out += "\nJSON route: not measured, this mqttgw refuses it: %s.\n" % g["uplink_json_skipped"]
    if res.get("nodered_skipped"):
        out += "\nNode-RED: not measured in this run: %s.\n" % res["nodered_skipped"]
    if c:
        fl = c.get("downlink", {})
        out += "\nNo-gateway latency floor (publisher → broker → subscriber, QoS 1, sequential): p50 %s µs, " \
               "p90 %s, p99 %s, max %s.\n" % (fmt(fl.get("p50_us")), fmt(fl.get("p90_us")), fmt(fl.get("p99_us")),
                                             fmt(fl.get("max_us")))
        out += "\n| broker ceiling: publisher → same subscriber | frames/s | lost | " \
               "publisher CPU | broker CPU | subscriber CPU |\n|---|---:|---:|---:|---:|---:|\n"
        for u in c["uplink"] + ([c["paho_sub"]] if c.get("paho_sub") else []):
            out += "| %s, QoS %d, %d topic%s%s | %s | %s | %d%% | %d%% | %d%% |\n" % (
                PUBLISHERS.get(u["source"], u["source"]),
                u["qos"], u["ports"], "s" if u["ports"] > 1 else "",
                ", **paho subscriber**" if u["sub"] == "paho" else "", fmt(u["rate"]), fmt(u["lost"]),
                u["writer_cpu_pct"], u["broker_cpu_pct"], u["sub_cpu_pct"])
    for kind in ("mqttgw", "nodered", "python"):
        R = res.get(kind)
        if not R:
            continue
        out += "\n%s, CPU share of each process during the uplink runs:\n\n" % kind
        out += "| run | frames/s | lost | gateway CPU | its threads: CPU, context switches | broker CPU " \
               "| subscriber CPU | device writer CPU |\n|---|---:|---:|---:|---|---:|---:|---:|\n"
        persist = R.get("uplink_persist") or []
        if isinstance(persist, dict):
            persist = [dict(persist, label="buffer.dir")]
        runs = R["uplink"] + (R.get("uplink_json") or []) + persist
        for u in runs:
            busy = sorted(u.get("threads", []), key=lambda t: -t["cpu_pct"])
            th = "; ".join("%s%s %d%%, %s" % (t["name"], " (loop)" if t["main"] else "", t["cpu_pct"],
                                              fmt(t["voluntary"] + t["nonvoluntary"]))
                           for t in busy if t["cpu_pct"] >= 1 or t["main"])
            out += "| QoS %d, %d port%s%s | %s | %s | %d%% | %s | %d%% | %d%% | %d%% |\n" % (
                u["qos"], u["ports"], "s" if u["ports"] > 1 else "",
                ", " + u["label"] if u.get("label") else "", fmt(u["rate"]), fmt(u["lost"]), u["peer_cpu_pct"],
                th, u["broker_cpu_pct"], u["sub_cpu_pct"], u["writer_cpu_pct"])
        for key, what in (("idle", ""), ("idle_nolink", ", link_timeout_ms = 0")):
            if not R.get(key):
                continue
            th = R[key]["threads"]
            if kind == "nodered":	# a dozen idle libuv/V8 threads: only those that woke
                th = [t for t in th if t["main"] or t["voluntary"] + t["nonvoluntary"]]
            out += "\n%s, idle %d s%s, per thread: %s\n" % (kind, R[key]["seconds"], what, ", ".join(
                "%s%s %d+%d switches, %d µs" % (t["name"], " (main)" if t["main"] else "", t["voluntary"],
                                                  t["nonvoluntary"], t["cpu_us"]) for t in th))
    persist = [u for u in (res.get("mqttgw") or {}).get("uplink_persist") or [] if isinstance(u, dict) and "sync" in u]
    if persist:
        out += "\nmqttgw, QoS 1 burst, 1 port, buffer.dir set: what each buffer.sync costs " \
               "(fsync/fdatasync and writes to files counted by tests/sim/lib_synccount.so, " \
               "bytes to the disk from /proc/PID/io, write_bytes less cancelled_write_bytes):\n\n"
        out += "| buffer.sync | frames/s | lost | fdatasync+fsync/s | per frame | file writes/s " \
               "| KiB/s to the disk | gateway CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
        for u in persist:
            out += "| %s | %s | %s | %s | %s | %s | %s | %d%% |\n" % (
                u["sync"], fmt(u["rate"]), fmt(u["lost"]), fmt(u["fsyncs_per_s"]), u["fsyncs_per_frame"],
                fmt(u["file_writes_per_s"]), fmt(u["disk_kib_per_s"]), u["peer_cpu_pct"])
    return out


def callgrind_summary(path, per, what):
    """Total Ir of one dump and its heaviest functions, inclusive, per frame/command."""
    r = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                       capture_output=True, text=True)
    total, rows = 0, []
    skip = ("(below main)", "__libc_start_main", "libc_start_call_main", "main.c:main", "bridge_run",
            "start_thread", "clone.S:clone", "0x000000000001ab70")
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*)$", line)
        if not m:
            continue
        ir, name = int(m.group(1).replace(",", "")), m.group(3)
        if name == "PROGRAM TOTALS":
            total = ir
            continue
        if any(k in name for k in skip):
            continue
        fn = name.split(" [")[0].split(":", 1)[-1]
        obj = os.path.basename(name.split(" [")[1].rstrip("]")) if " [" in name else ""
        rows.append((ir, fn, obj))
    return dict(total=total, per=round(total / per) if per else None, what=what,
                top=[dict(ir_per=round(ir / per), pct=round(100.0 * ir / total, 1) if total else 0, fn=fn, obj=obj)
                     for ir, fn, obj in rows[:25]])


def render_profile(out, nports, ngpio, frames, commands, where):
    """profile.md from the summaries run_profile collected (keys q0, q1 and q0-json)."""
    runs = [k for k in ("q0", "q1", "q0-json") if k in out and "skipped" not in out[k]]
    runs += sorted(k for k in out if k not in runs and "skipped" not in out[k])
    L = ["# mqttgw instruction profile (valgrind --tool=callgrind; Ir = instructions executed)", "",
         "Config: %d serial ports, %d GPIO lines, the bench routes (POS regex with two captures, catch-all, accept "
         "regex on commands). Uplink: %s frames written on one port; downlink: %s sequential QoS 1 commands; "
         "idle: 10 s. \"JSON route\": the same frames, QoS 0, through a POS route that publishes "
         "`{\"pos\":42,\"mm\":4.2}` (two typed fields, `${2|int}` and `${2|float|scale:0.1}`) instead of "
         "`payload = \"$2\"`. Counts are inclusive of callees, per frame or command. Thread 1 is the event loop; "
         "the others are paho's. Raw files: %s/callgrind.q*; browse with callgrind_annotate or kcachegrind."
         % (nports, ngpio, fmt(frames), fmt(commands), where), ""]

    def tname(res, t):
        return "event loop" if t == 1 else (res["threads"][t - 1] if t <= len(res["threads"]) else "?")

    def total(res, phase):
        per = [res.get("%s/%d" % (phase, t), {}).get("per") for t in (1, 2, 3)]
        return per, sum(v for v in per if v)

    L += ["| route | phase | unit | " + " | ".join("thread %d" % t for t in (1, 2, 3)) + " | all threads |",
          "|---|---|---|---:|---:|---:|---:|"]
    for q in runs:
        res = out[q]
        for phase in ("uplink", "downlink", "idle"):
            if not any("%s/%d" % (phase, t) in res for t in (1, 2, 3)):
                continue
            per, tot = total(res, phase)
            what = next(res["%s/%d" % (phase, t)]["what"] for t in (1, 2, 3) if "%s/%d" % (phase, t) in res)
            L.append("| %s | %s | Ir per %s | %s | %s |" % (res.get("label", q), phase, what,
                                                         " | ".join(fmt(v) for v in per), fmt(tot)))
    L.append("")
    if "q0" in runs and "q0-json" in runs:
        (p1, pt), (j1, jt) = total(out["q0"], "uplink"), total(out["q0-json"], "uplink")
        L += ["QoS 0 uplink, instructions per frame, plain route against JSON route (issue 15: at most 1.5×): "
              "all threads %s against %s (%s, +%s); event loop %s against %s (%s)."
              % (fmt(pt), fmt(jt), ratio(jt, pt, 2), fmt(jt - pt), fmt(p1[0]), fmt(j1[0]), ratio(j1[0], p1[0], 2)),
              ""]
    for q in sorted(k for k in out if "skipped" in out[k]):
        L += ["%s: not run, the binary refused its config: %s" % (q, out[q]["skipped"]), ""]
    L += ["Threads: " + ", ".join("%d = %s" % (t, tname(out[runs[0]], t)) for t in (1, 2, 3)), ""] if runs else []
    for q in runs:
        res = out[q]
        for key in [k for k in res if "/" in k]:
            sm = res[key]
            phase, t = key.split("/")
            if phase == "idle" or not sm["total"]:
                continue
            seen, rows = set(), []
            for row in sm["top"]:
                if row["fn"] in seen or not row["obj"]:
                    continue
                seen.add(row["fn"])
                rows.append(row)
            L += ["### %s, %s, thread %s (%s): %s Ir per %s" % (res.get("label", q), phase, t, tname(res, int(t)),
                                                               fmt(sm["per"]), sm["what"]), "",
                  "| Ir per %s | %% of thread | function (inclusive) | object |" % sm["what"], "|---:|---:|---|---|"]
            L += ["| %s | %.1f | %s | %s |" % (fmt(r["ir_per"]), r["pct"], r["fn"], r["obj"]) for r in rows[:14]]
            L.append("")
    L.append("Unnamed 0x... functions are paho internals: Debian ships libpaho-mqtt without symbols "
             "and its -dbgsym package was not reachable here.")
    return "\n".join(L) + "\n"
