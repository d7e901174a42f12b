"""
harness/procs.py - starting and stopping the processes a test runs.

Every process a fixture starts goes through spawn() (or run() for one that
runs to completion): its own session and process group, and
PR_SET_PDEATHSIG so that it dies with the runner even if the runner is
killed. Stopping is by the leader's pid while it is unreaped, then its
group (stop_process, kill_group). The fixtures' registry (fixtures.py)
decides when; this module only knows how.
"""

import ctypes
import os
import signal
import subprocess

_libc = None


def _pdeathsig():
    # Runs in the child between fork and exec: die with the runner.
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _prepare_libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)


def spawn(argv, **kw):
    """Popen in a new session (own process group) that dies with us."""
    _prepare_libc()
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=_pdeathsig, **kw)


def stop_process(proc, sig=signal.SIGTERM, grace=2.0):
    """Signal a process (not its group), wait up to grace, then SIGKILL its
    group. Returns the exit status (negative: killed by that signal)."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        kill_group(proc)
    return proc.returncode


def kill_group(proc):
    # Only while the leader is unreaped: its pid (= pgid) is still ours.
    # Once reaped, the number may already belong to someone else's process.
    if proc.poll() is None:
        for kill in (os.killpg, os.kill):
            try:
                kill(proc.pid, signal.SIGKILL)
            except OSError:
                pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    return proc.returncode


def run(argv, **kw):
    """subprocess.run in a new session (own process group) that dies with
    us, stdin from /dev/null unless input= is given."""
    _prepare_libc()
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, start_new_session=True, preexec_fn=_pdeathsig, **kw)
