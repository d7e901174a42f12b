"""
report.py - the soak's per-minute table: printed as it runs, written as
CSV, and read back (plot.py draws the CSV).

One row per minute: what was sent and received in that minute (frames
pty -> MQTT, commands MQTT -> pty, GPIO edges), the gateway's RSS, open
fds and threads at the end of the minute, the CPU seconds it used in the
minute (and as % of one core), error and warning lines it logged, and the
disruptions that finished in the minute. Minute 0 is the start (CPU is
then what start-up cost).
"""

import csv

COLUMNS = ["minute", "t_s", "frames_sent", "frames_recv", "frames_dup", "cmds_sent",
           "cmds_recv", "cmds_dup", "gpio_edges", "rss_kib", "fds", "threads", "cpu_s",
           "cpu_pct", "errors", "warnings", "events"]

_FMT = "%4s %7s %7s %5s %6s %6s %5s %5s %8s %4s %4s %6s %5s %4s %4s  %s"


def table_head():
    return (_FMT % ("min", "frames", "recv", "dup", "cmds", "recv", "dup", "gpio", "RSS KiB",
                    "fds", "thr", "CPU s", "CPU%", "err", "warn", "events"))


def table_row(r):
    return _FMT % (r["minute"], r["frames_sent"], r["frames_recv"], r["frames_dup"],
                   r["cmds_sent"], r["cmds_recv"], r["cmds_dup"], r["gpio_edges"], r["rss_kib"],
                   r["fds"], r["threads"], "%.2f" % r["cpu_s"], "%.1f" % r["cpu_pct"],
                   r["errors"], r["warnings"], r["events"])


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in COLUMNS})


def read_csv(path):
    """Rows as dicts, numbers as int/float (events stays text)."""
    out = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = {}
            for k, v in r.items():
                if k == "events":
                    row[k] = v
                    continue
                try:
                    row[k] = int(v)
                except ValueError:
                    row[k] = float(v)
            out.append(row)
    return out
