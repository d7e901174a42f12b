"""
harness/wait.py - waiting for events with a deadline, and reading the logs
they show up in.

The rule of these tests: no fixed sleeps. Whatever a test waits for (a log
line, a file, a count) it polls with wait_until() against a deadline, and a
timeout names what did not happen. The fixtures' own waits (Sub.expect,
Pty.read_until, Gateway.wait_for_log) follow the same rule with select()
where there is an fd. read_text() and tail() read a log as it is now (a
missing file is empty), for conditions and for failure messages.
"""

import time

def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def read_text(path):
    """The whole file as str (undecodable bytes replaced); "" if missing."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def tail(path, n=25):
    """The last n lines of a log file ("" if it is missing)."""
    return "\n".join(read_text(path).splitlines()[-n:])
