#!/usr/bin/python3
"""
plot.py - the soak's curves as one small SVG, from its CSV (report.py).

    /usr/bin/python3 tests/soak/plot.py build/soak/soak-30min.csv OUT.svg

Four panels over the minutes of the run, each on its own axis: the
gateway's RSS (KiB), its open fds, its CPU (% of one core, per minute) and
the frames received per minute; broker restarts and unplugs are marked as
vertical lines (R, U) so a step in a curve can be matched to its cause.
Hand-written SVG (stdlib only): no plotting library to install for a
picture this simple.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report   # noqa: E402

W, PH = 640, 130            # width, height of one panel
ML, MR, MT, MB = 70, 20, 24, 22


def _nice(lo, hi):
    """An axis range around [lo, hi] that does not exaggerate noise."""
    if hi == lo:
        pad = max(1.0, abs(hi) * 0.05)
        return lo - pad, hi + pad
    pad = max((hi - lo) * 0.15, abs(hi) * 0.05)
    return max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad


def panel(rows, key, title, y0, fmt, zero=False):
    xs = [r["minute"] for r in rows]
    ys = [float(r[key]) for r in rows]
    lo, hi = _nice(0.0 if zero else min(ys), max(ys))
    if zero:
        lo = 0.0
    xmax = max(xs) or 1
    pw, ph = W - ML - MR, PH - MT - MB

    def X(x):
        return ML + pw * x / xmax

    def Y(y):
        return y0 + MT + ph * (1 - (y - lo) / (hi - lo))

    out = ['<text x="%d" y="%d" class="t">%s</text>' % (ML, y0 + 15, title),
           '<rect x="%d" y="%d" width="%d" height="%d" class="box"/>' % (ML, y0 + MT, pw, ph)]
    for v in (lo, (lo + hi) / 2, hi):
        out.append('<text x="%d" y="%.1f" class="a" text-anchor="end">%s</text>'
                   % (ML - 4, Y(v) + 4, fmt % v))
    step = 1 if xmax <= 10 else 5
    for m in range(0, xmax + 1, step):
        out.append('<text x="%.1f" y="%d" class="a" text-anchor="middle">%d</text>'
                   % (X(m), y0 + PH - 6, m))
    for r in rows:
        ev = r.get("events", "") or ""
        for tag, word in (("R", "restart"), ("U", "unplug")):
            if word in ev:
                x = X(r["minute"] - 0.5)
                out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="ev"/>'
                           % (x, y0 + MT, x, y0 + MT + ph))
                out.append('<text x="%.1f" y="%d" class="e" text-anchor="middle">%s</text>'
                           % (x + (4 if tag == "U" else -4), y0 + MT + 10, tag))
    pts = " ".join("%.1f,%.1f" % (X(x), Y(y)) for x, y in zip(xs, ys))
    out.append('<polyline points="%s" class="c"/>' % pts)
    for x, y in zip(xs, ys):
        out.append('<circle cx="%.1f" cy="%.1f" r="2"/>' % (X(x), Y(y)))
    return out


def svg(rows, title):
    rows_m = [r for r in rows if r["minute"] >= 1]      # minute 0 is the start, no per-minute figures
    panels = [("rss_kib", "RSS (KiB), end of each minute", "%.0f", False, rows),
              ("fds", "open fds, end of each minute", "%.0f", False, rows),
              ("cpu_pct", "CPU (% of one core) in each minute", "%.1f", True, rows_m),
              ("frames_recv", "frames received per minute", "%.0f", True, rows_m)]
    h = PH * len(panels) + 30
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="11">' % (W, h),
           '<style>.t{font-weight:bold}.a{fill:#555}.box{fill:none;stroke:#bbb}'
           '.c{fill:none;stroke:#1f5fa8;stroke-width:1.5}.ev{stroke:#d08;stroke-dasharray:2,3}'
           '.e{fill:#d08;font-size:9px}circle{fill:#1f5fa8}</style>',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>' % (ML, title)]
    for i, (key, t, fmt, zero, rs) in enumerate(panels):
        out += panel(rs, key, t, 24 + i * PH, fmt, zero)
    out.append('<text x="%d" y="%d" class="a">minute of the run; R = broker restart, '
               'U = port unplugged and replugged (in that minute)</text>' % (ML, h - 4))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py SOAK.csv OUT.svg")
    rows = report.read_csv(sys.argv[1])
    if len(rows) < 2:
        sys.exit("plot.py: %s has fewer than 2 rows" % sys.argv[1])
    title = "mqttgw soak, %d minutes: the gateway per minute" % rows[-1]["minute"]
    with open(sys.argv[2], "w") as f:
        f.write(svg(rows, title))
    print("soak: plot in %s" % sys.argv[2])


if __name__ == "__main__":
    main()
