"""
procstat.py - what the gateway process costs, read from /proc, and the
rule that says whether it stayed flat.

sample(pid) reads resident memory (VmRSS), threads, open fds and CPU
seconds (user + system) of one process. flat() judges a run's per-minute
samples from minute `base` on (the 5th for a long run: start-up and the
first broker outage have filled the buffers and malloc's arenas by then):

  RSS      every minute's RSS <= RSS(base) * (1 + RSS_PCT/100) + RSS_KIB
  fds      equal to fds(base) in every minute (samples are taken only
           while no port is unplugged and the broker link is up, so the
           set of fds is the same each time)
  threads  equal to threads(base) in every minute
  CPU      every minute's CPU seconds <= median * CPU_FACTOR + CPU_SLACK_S
           (CPU time, not wall time: other load on the machine does not
           count, but a minute with a broker restart does more work)

The constants are what "within noise" means here; they are printed with
the verdict.
"""

import os
import statistics

RSS_PCT = 5.0
RSS_KIB = 512
CPU_FACTOR = 1.5
CPU_SLACK_S = 0.5

_TICK = os.sysconf("SC_CLK_TCK")


def sample(pid):
    """{rss_kib, threads, fds, cpu_s} of process pid."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_kib"] = int(line.split()[1])
            elif line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    out["cpu_s"] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


def base_minute(minutes):
    """The minute from which a run must be flat: the 5th for runs of 10
    minutes or more, else the 1st (the 3-minute round of make check)."""
    return 5 if minutes >= 10 else 1


def flat(rows, base, judge_rss=True):
    """rows: per-minute dicts with minute, rss_kib, fds, threads, cpu_s
    (CPU seconds used in that minute). Returns [(name, ok, text)].
    judge_rss=False reports RSS without a verdict (an ASan build: its
    quarantine keeps freed memory, so RSS climbs by design)."""
    use = [r for r in rows if r["minute"] >= base]
    if len(use) < 2:
        return [("flat", False, "fewer than 2 samples from minute %d on" % base)]
    b = use[0]
    out = []
    lim = b["rss_kib"] * (1 + RSS_PCT / 100.0) + RSS_KIB
    top = max(use, key=lambda r: r["rss_kib"])
    out.append(("rss_flat", top["rss_kib"] <= lim or not judge_rss,
                "RSS minute %d..%d: %d KiB at minute %d, max %d KiB at minute %d, limit %d KiB "
                "(+%.0f%% +%d KiB)%s" % (base, use[-1]["minute"], b["rss_kib"], b["minute"],
                                         top["rss_kib"], top["minute"], lim, RSS_PCT, RSS_KIB,
                                         "" if judge_rss else "; not judged: ASan build "
                                         "(its quarantine holds freed memory)")))
    for key in ("fds", "threads"):
        vals = [r[key] for r in use]
        out.append(("%s_flat" % key, all(v == b[key] for v in vals),
                    "%s minute %d..%d: %s" % (key, base, use[-1]["minute"],
                                              " ".join(str(v) for v in vals))))
    cpus = [r["cpu_s"] for r in use]
    med = statistics.median(cpus)
    lim = med * CPU_FACTOR + CPU_SLACK_S
    out.append(("cpu_flat", max(cpus) <= lim,
                "CPU s/minute %d..%d: median %.2f, max %.2f, limit %.2f (median x %.1f + %.1f s)"
                % (base, use[-1]["minute"], med, max(cpus), lim, CPU_FACTOR, CPU_SLACK_S)))
    return out
