"""
harness/fixtures.py - the per-test registry of live fixtures, and the sweep.

tests/run.py drives it: begin_module()/begin_test() before, end_test()/
end_module() after, pass, fail or timeout. Every fixture (Broker, Sub,
Gateway, Pty, ...) registers itself here when made, and end_test() calls
each one's teardown(), then kills any direct child of the runner nobody
registered. That is why tests never need try/finally for cleanup.

The registry knows fixtures only by what they offer, not by class, so that
it imports none of them: a fixture has teardown(), may have teardown_rank
(lower goes first; default 4) and failure_note() (a line worth printing when
the test fails) and lists_log_tail (True for a Gateway: it is listed by
gateways(), whose log tails the runner prints with a failure). State lives in module-level containers that are
changed in place, never rebound, so `harness._scope` and the like seen
through the package are the same objects.
"""

import itertools
import os
import signal

from .env import HarnessError

_state = {"dir": None, "name": None, "module_dir": None}
_fixtures = []          # the current test's objects with .teardown(), in creation order
_module_fixtures = []   # made by setup_module(): live until teardown_module()
_scope = [_fixtures]    # where new fixtures are registered
_gateways = []          # Gateway objects of the current test (log tails on failure)
_problems = []          # teardown findings that fail the test (sanitizer reports)
_seq = itertools.count(1)


def _register(fx):
    _scope[0].append(fx)
    if getattr(fx, "lists_log_tail", False):
        _gateways.append(fx)


def _unregister(fx):
    for lst in (_fixtures, _module_fixtures):
        if fx in lst:
            lst.remove(fx)


def begin_module(directory):
    """Fixtures made from now on (in setup_module) belong to the module."""
    _state["dir"] = _state["module_dir"] = directory
    _scope[0] = _module_fixtures


def begin_test(directory, name):
    _state["dir"] = directory
    _state["name"] = name
    _scope[0] = _fixtures
    del _fixtures[:]
    del _gateways[:]
    del _problems[:]


def tmpdir():
    """The current test's private temporary directory (in setup_module:
    the module's)."""
    if _state["dir"] is None:
        raise HarnessError("no test is running (harness.begin_test not called)")
    return _state["dir"]


def tmppath(name):
    return os.path.join(tmpdir(), name)


def gateways():
    return list(_gateways)


def _teardown_all(fixtures, problems):
    # Brokers go before gateways: a daemon without a broker shuts down at
    # once, with one it waits for paho's disconnect (about a second), and
    # the connected SIGTERM path has its own test.
    # Sub 0, Broker and PubackProxy 1, Gateway 2, MotorSim 3, the rest 4.
    items = sorted(enumerate(fixtures),
                   key=lambda it: (getattr(it[1], "teardown_rank", 4), -it[0]))
    for _, fx in items:
        try:
            fx.teardown()
        except Exception as e:  # keep going, but say so
            problems.append("teardown of %s failed: %r" % (type(fx).__name__, e))
    del fixtures[:]


def _module_pids():
    return {fx.proc.pid for fx in _module_fixtures
            if getattr(fx, "proc", None) is not None and fx.proc.poll() is None}


def end_test():
    """Stop every fixture of the current test. Returns a list of problems
    (strings) found while tearing down, which fail the test: sanitizer
    reports in a daemon's log, a daemon that does not exit 0 on SIGTERM,
    processes nobody registered."""
    _teardown_all(_fixtures, _problems)
    left = kill_children(keep=_module_pids())
    if left:
        _problems.append("leftover processes killed by the sweep: %s" % ", ".join(left))
    problems = list(_problems)
    del _problems[:]
    _state["dir"] = _state["module_dir"]
    return problems


def end_module():
    """Stop the module's fixtures (after teardown_module); returns problems."""
    problems = []
    _teardown_all(_module_fixtures, problems)
    kill_children()
    _state["dir"] = _state["module_dir"] = None
    _scope[0] = _fixtures
    return problems


def failure_notes():
    """Things worth printing with a failure, gathered before teardown: a
    broker that died without the test stopping it (something else killed
    it: every later connection is refused)."""
    notes = []
    for fx in _fixtures + _module_fixtures:
        note = fx.failure_note() if hasattr(fx, "failure_note") else None
        if note:
            notes.append(note)
    return notes


def _children():
    """(pid, comm, state) of this process's direct children, from /proc."""
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                st = f.read().decode("latin-1")
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parens
        rp = st.rfind(")")
        comm = st[st.find("(") + 1:rp]
        fields = st[rp + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me:
            out.append((int(d), comm, fields[0]))
    return out


def kill_children(keep=()):
    """Kill and reap every live direct child (and its process group) but
    those in keep. Returns descriptions of the ones found alive."""
    found = []
    for pid, comm, st in _children():
        if st != "Z" and pid not in keep:
            found.append("%s[%d]" % (comm, pid))
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    for pid, comm, st in _children():
        if pid in keep:
            continue
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    return found

