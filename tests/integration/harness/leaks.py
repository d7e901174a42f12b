"""
harness/leaks.py - reading sanitizer and valgrind reports out of a daemon's
log, and telling apart the leaks that are not ours.

A sanitizer report in a daemon's log, or an error or definite leak in its
valgrind log, fails the test (Gateway.teardown). Two things are not
findings and are filtered here, each narrowly: paho 1.3.12's own leak of
a destroyed client's queued commands (eclipse-paho #1474; also suppressed
by tests/paho-leak.*.supp, which Gateway passes to the tools), and
valgrind's note that it does not model an ioctl. Pure functions on text,
so the filters can be read and checked apart from any process.
"""

import os
import re

from .env import ROOT

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:", "ERROR: ThreadSanitizer",
                      "WARNING: ThreadSanitizer")
PAHO_LSAN_SUPP = os.path.join(ROOT, "tests", "paho-leak.lsan.supp")
PAHO_VALGRIND_SUPP = os.path.join(ROOT, "tests", "paho-leak.valgrind.supp")


def sanitizer_start(text):
    """Offset of the line where the first sanitizer report begins, or -1."""
    hits = [text.find(p) for p in SANITIZER_PATTERNS]
    hits = [i for i in hits if i >= 0]
    if not hits:
        return -1
    return max(0, text.rfind("\n", 0, min(hits)))


def paho_only_leaks(rep):
    """True if rep is a LeakSanitizer report all of whose leaks were
    allocated by paho on its own: every frame below the allocator is in
    libpaho-mqtt3as or the thread start, none in mqttgw. paho 1.3.12
    leaks the commands still queued in a client destroyed after a lost
    link (eclipse-paho #1474, see tests/paho-leak.lsan.supp), with the
    list entries its own threads made for them, whose stacks name no
    function LSan could match. Also paho's own bookkeeping made on our
    thread: a block whose three innermost callers above malloc are all in
    libpaho (its heap tracker's tree nodes and internal lists; Debian
    builds paho with Heap.c). Destroying the last client terminates paho
    (MQTTAsync_terminate), which drops that tree without freeing it, and
    gateway/mqtt.c destroys the client on every lost link (mqtt_link_lost):
    seen under MQTTAsync_createWithOptions from mqtt_link_lost (CI, the
    sanitizer round, test_reload). The valgrind file matches the same
    shape. A leak our code allocates (our frame calls malloc), or an
    object we asked paho for (its frames end within two calls: malloc <-
    paho's wrapper <- the API call <- ours), still fails."""
    if "ERROR: LeakSanitizer" not in rep or "ERROR: AddressSanitizer" in rep or "runtime error:" in rep:
        return False
    blocks = re.split(r"(?m)^(?=(?:Direct|Indirect) leak of )", rep)[1:]
    if not blocks:
        return False
    for blk in blocks:
        frames = re.findall(r"(?m)^\s*#(\d+) 0x[0-9a-f]+ (.*)$", blk)
        rest = [f for n, f in frames if n != "0"]
        if not rest or not any("libpaho-mqtt3as" in f for f in rest):
            return False
        if len(rest) >= 3 and all("libpaho-mqtt3as" in f for f in rest[:3]):
            continue        # paho's own bookkeeping, dropped at its terminate
        for f in rest:
            if not ("libpaho-mqtt3as" in f or re.match(r"in (start_thread|clone3?) ", f)):
                return False
    return True


def sanitizer_report(text):
    """The first sanitizer report in a log's text (without the shadow-byte
    dump), or None. A report of paho's own leaks only (paho_only_leaks) is
    none."""
    i = sanitizer_start(text)
    if i < 0:
        return None
    rep = text[i:]
    if paho_only_leaks(rep):
        return None
    j = rep.find("Shadow bytes around")
    if j > 0:
        rep = rep[:j]
    return rep.strip("\n")[:4000]


def valgrind_findings(text):
    """A valgrind log (run with --quiet) less valgrind's own note that it
    does not model an ioctl (TIOCSRS485 on a pty): a limit of the tool,
    not a finding. What is left (stripped of blank space) is errors and
    leak records; "" if none."""
    text = re.sub(r"(?m)^==\d+== (Warning: noted but unhandled ioctl.*|   This could cause "
                  r"spurious value errors to appear\.|   See README_MISSING_SYSCALL_OR_IOCTL.*)\n",
                  "", text)
    return text if text.strip() else ""
