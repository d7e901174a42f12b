"""
stats - reading the gateway's counters (mqtt.stats_topic) in tests.

The stats topic is JSON published every stats_interval seconds; tests wait
for a condition on it with a deadline instead of sleeping. Shared here
because the hostile-input and polling suites both read it the same way.
"""
import json
import time


def next_stats(sub, topic, timeout=5.0):
    """The next JSON counters on the stats topic."""
    m = sub.expect(topic, timeout=timeout)
    return json.loads(m.raw.decode())


def wait_stats(sub, topic, pred, timeout, what):
    """Read the stats topic until pred(counters) holds; returns them."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("stats never showed %s within %.0fs; last: %s"
                                 % (what, timeout, last))
        try:
            last = next_stats(sub, topic, min(left, 3.0))
        except AssertionError:
            continue
        if pred(last):
            return last
