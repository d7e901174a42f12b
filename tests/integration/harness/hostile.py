"""
harness/hostile.py - what the hostile-input suites (test_hostile_input,
test_hostile_flood, test_hostile_privilege) share: the routes they give a
station's motors, and the gateway's counters read two ways.

cmd_route() is a motor's command route (S013/DEV/LEAF -> serial:DEV, with
the stock ACCEPT unless told otherwise), send_route() everything a port
reads to S013/DEV/SEND. usr1_stats() sends SIGUSR1 and parses the counters
the daemon logs; station_stats_next()/station_stats_wait() read the JSON
counters on S013's stats topic (stats.py, with the topic bound). Here
because the three files were one (test_hostile.py) and split by concern;
each needs them.
"""

import re
import signal

from .config import ACCEPT
from .stats import next_stats, wait_stats

STATION_STATS = "S013/gateway/stats"

USR1_RE = (r"stats: up (?P<up_frames>\d+) frames \((?P<up_unrouted>\d+) unrouted, "
           r"(?P<up_refused>\d+) refused\); down (?P<down_messages>\d+) messages "
           r"\((?P<down_written>\d+) written, (?P<down_refused>\d+) refused, "
           r"(?P<down_unrouted>\d+) unrouted, (?P<down_retained>\d+) retained ignored\); "
           r"mqtt (?P<published>\d+) published, (?P<publish_failed>\d+) failed, "
           r"(?P<dropped_in>\d+) dropped in, (?P<connects>\d+) connects")


def cmd_route(dev, leaf="RECM", accept=ACCEPT, **kw):
    r = {"from": "mqtt:${station}/%s/%s" % (dev, leaf), "to": "serial:%s" % dev}
    if accept is not None:
        r["accept"] = accept
    r.update(kw)
    return r


def send_route(dev):
    return {"from": "serial:%s" % dev, "to": "mqtt:${station}/%s/SEND" % dev}


def usr1_stats(gw, devices=()):
    """SIGUSR1, then the counters the daemon logs: {"up_frames": ..., ...,
    "dev": {name: {"in", "out", "overlong", "refused"}}}."""
    mark = gw.log_mark()
    gw.signal(signal.SIGUSR1)
    m = gw.wait_for_log(USR1_RE, since=mark)
    st = {k: int(v) for k, v in m.groupdict().items()}
    st["dev"] = {}
    for name in devices:
        d = gw.wait_for_log(r"stats: %s \w+: in (\d+) frames, out (\d+), over-long (\d+), "
                            r"refused (\d+)" % re.escape(name), since=mark)
        st["dev"][name] = dict(zip(("in", "out", "overlong", "refused"),
                                   (int(x) for x in d.groups())))
    return st


def station_stats_next(sub, timeout=5.0):
    """The next JSON counters on the stats topic."""
    return next_stats(sub, STATION_STATS, timeout)


def station_stats_wait(sub, pred, timeout, what):
    """Read the stats topic until pred(counters) holds; returns them."""
    return wait_stats(sub, STATION_STATS, pred, timeout, what)
