"""
harness/gateway.py - the daemon under test: Gateway runs it in the
background, run_mqttgw() to completion.

Gateway starts the unmodified $MQTTGW_BUILD/mqttgw -f -v -c FILE (under
valgrind with MQTTGW_VALGRIND=1), its output in a log file that tests wait
on (wait_for_log) and that is printed when a test fails. At teardown it
must exit 0 on SIGTERM, and a sanitizer or valgrind report in its logs
fails the test (what counts as one: leaks.py). As root it adds
--allow-root when the daemon offers it; preload_env() makes the
LD_PRELOAD stand-ins (spshim, gpiosim) work with an ASan build.
"""

import os
import re
import signal
import subprocess
import time

from .config import config_text, write_config
from .env import EVENT_TIMEOUT, MQTTGW, VALGRIND, HarnessError
from .fixtures import _problems, _register, _seq, tmpdir, tmppath
from .leaks import (PAHO_LSAN_SUPP, PAHO_VALGRIND_SUPP, sanitizer_report, sanitizer_start,
                    valgrind_findings)
from .procs import kill_group, run, spawn, stop_process
from .wait import read_text, tail


def run_mqttgw(args, timeout=20.0, cwd=None, env=None):
    """Run the daemon to completion (e.g. --check); returns CompletedProcess
    with str stdout/stderr."""
    if not os.path.exists(MQTTGW):
        raise HarnessError("daemon not built: %s (run make)" % MQTTGW)
    return run([MQTTGW] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               timeout=timeout, cwd=cwd or tmpdir(), env=env,
               encoding="utf-8", errors="replace")


_root_args = None
_asan_lib = None


def asan_runtime():
    """Path of the ASan runtime the daemon is linked with, or "" if none."""
    global _asan_lib
    if _asan_lib is None:
        _asan_lib = ""
        try:
            r = subprocess.run(["ldd", MQTTGW], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, timeout=10)
            for line in r.stdout.decode("utf-8", "replace").splitlines():
                parts = line.split()
                if parts and parts[0].startswith("libasan.so") and len(parts) >= 3:
                    _asan_lib = parts[2]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return _asan_lib


def preload_env(*libs):
    """Environment additions to LD_PRELOAD libs (e.g. BUILD/sim/lib_spshim.so)
    into the daemon. With a sanitizer build the ASan runtime has to come
    first in the link map, so it is preloaded ahead of them."""
    for lib in libs:
        if not os.path.exists(lib):
            raise HarnessError("LD_PRELOAD library not built: %s (run make tests)" % lib)
    first = [asan_runtime()] if asan_runtime() else []
    return {"LD_PRELOAD": ":".join(first + list(libs))}


def root_args():
    """["--allow-root"] when running as root and the daemon has that option
    (it may refuse to run as root without it); else []."""
    global _root_args
    if _root_args is None:
        _root_args = []
        if os.geteuid() == 0 and os.path.exists(MQTTGW):
            try:
                r = subprocess.run([MQTTGW, "--help"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=10,
                                   stdin=subprocess.DEVNULL)
                if b"--allow-root" in r.stdout:
                    _root_args = ["--allow-root"]
            except (OSError, subprocess.TimeoutExpired):
                pass
    return list(_root_args)


class Gateway:
    """The real daemon: mqttgw -f -v -c FILE, stdout+stderr into a log file
    in the test dir. config: dict (rendered), str (verbatim text) or an
    existing file path (path=True). Stopped at teardown (SIGTERM, then
    SIGKILL), and a sanitizer report in its log fails the test."""

    teardown_rank = 2       # after brokers and subscribers (fixtures._teardown_all)
    lists_log_tail = True   # in fixtures.gateways(): its log tail goes with a failure

    def __init__(self, config, start=True, args=(), env=None, name=None):
        if not os.path.exists(MQTTGW):
            raise HarnessError("daemon not built: %s (run make)" % MQTTGW)
        self.n = next(_seq)
        self.name = name or "gw%d" % self.n
        if isinstance(config, str) and os.path.exists(config):
            self.config_path = config
        else:
            self.config_path = write_config(config, "%s.cfg" % self.name)
        self.log = tmppath("%s.log" % self.name)
        self.args = list(args)
        self.env = env
        self.proc = None
        self.vglog = None
        self.exit_time = None
        _register(self)
        if start:
            self.start()

    def start(self):
        logf = open(self.log, "ab")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        # paho 1.3.12's own leak (#1474), and only it: see the file
        env.setdefault("LSAN_OPTIONS", "suppressions=%s:print_suppressions=0" % PAHO_LSAN_SUPP)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "fast_unwind_on_malloc=0"]))
        argv = [MQTTGW, "-f", "-v", "-c", self.config_path] + root_args() + self.args
        if VALGRIND:
            self.vglog = tmppath("%s.valgrind.%d" % (self.name, next(_seq)))
            argv = ["valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite",
                    "--errors-for-leak-kinds=definite", "--num-callers=30",
                    "--suppressions=" + PAHO_VALGRIND_SUPP,
                    "--log-file=" + self.vglog] + argv
        self.proc = spawn(argv, stdout=logf, stderr=logf, cwd=tmpdir(), env=env)
        logf.close()
        return self

    def rewrite_config(self, config):
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(config_text(config))
        os.replace(tmp, self.config_path)

    def reload(self, config, timeout=EVENT_TIMEOUT):
        """Write config and SIGHUP the daemon; returns once it logged
        "reloaded" (the log offset before, for wait_for_log(since=))."""
        mark = self.log_mark()
        self.rewrite_config(config)
        self.signal(signal.SIGHUP)
        self.wait_for_log(r"reloaded ", since=mark, timeout=timeout)
        return mark

    @property
    def pid(self):
        return self.proc.pid

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_running(self):
        rc = self.returncode
        if rc is not None:
            raise AssertionError("mqttgw exited with %d:\n%s" % (rc, tail(self.log)))

    def log_text(self):
        return read_text(self.log)

    def log_mark(self):
        return len(self.log_text())

    def wait_for_log(self, regex, timeout=EVENT_TIMEOUT, since=0, flags=re.M):
        """Wait for regex in the log (from offset since); returns the match.
        Fails early if the daemon exits first."""
        pat = re.compile(regex, flags)
        deadline = time.monotonic() + timeout
        while True:
            m = pat.search(self.log_text(), since)
            if m:
                return m
            if not self.running():
                m = pat.search(self.log_text(), since)
                if m:
                    return m
                raise AssertionError("mqttgw exited (%s) before logging /%s/"
                                     % (self.returncode, regex))
            if time.monotonic() >= deadline:
                raise AssertionError("mqttgw did not log /%s/ within %.1fs"
                                     % (regex, timeout))
            time.sleep(0.02)

    def signal(self, sig):
        self.assert_running()
        os.kill(self.proc.pid, sig)

    def cpu_seconds(self):
        """User + system CPU time the daemon has used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def terminate(self, timeout=10.0):
        """SIGTERM and wait; returns the exit code (None if still running
        after timeout). self.exit_time is the time from signal to exit."""
        if not self.running():
            return self.returncode
        t0 = time.monotonic()
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exit_time = time.monotonic() - t0
        return self.proc.returncode

    def wait(self, timeout=EVENT_TIMEOUT):
        """Wait for the process to exit; returns its code or None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc is not None:
            kill_group(self.proc)
        return self.returncode

    def _sanitizer_start(self, text):
        return sanitizer_start(text)

    def sanitizer_report(self):
        """The first sanitizer report in the log, or None (see leaks.py)."""
        return sanitizer_report(self.log_text())

    def log_tail(self, n=25):
        """The last n lines the daemon logged before any sanitizer report."""
        text = self.log_text()
        i = self._sanitizer_start(text)
        if i >= 0:
            text = text[:i]
        return "\n".join(text.splitlines()[-n:])

    def valgrind_report(self):
        """Errors or definite leaks valgrind reported (all runs), or None."""
        if not VALGRIND:
            return None
        reps = []
        for f in sorted(os.listdir(tmpdir())):
            if f.startswith("%s.valgrind." % self.name):
                with open(os.path.join(tmpdir(), f), errors="replace") as fh:
                    text = valgrind_findings(fh.read())
                if text:
                    reps.append(text[:4000])
        return "\n".join(reps) or None

    def teardown(self):
        if self.proc is None:
            return
        if self.running():
            rc = stop_process(self.proc, signal.SIGTERM, 15.0 if VALGRIND else 2.5)
            # ASan exits 1 after a leak report: paho's own leaks are not ours
            if rc == 1 and self._sanitizer_start(self.log_text()) >= 0 and self.sanitizer_report() is None:
                rc = 0
            if rc != 0:
                _problems.append("mqttgw (%s) did not exit 0 within 2 s of SIGTERM at teardown "
                                 "(exit %s)" % (self.name, rc))
        rep = self.sanitizer_report()
        if rep:
            _problems.append("sanitizer report in %s:\n%s" % (self.log, rep))
        rep = self.valgrind_report()
        if rep:
            _problems.append("valgrind report for %s:\n%s" % (self.name, rep))
