"""
test_walkthrough.py - the README's walkthrough, run as written.

The commands, the config and the mosquitto_sub output are read from
README.md (the blocks after "<!-- walkthrough: KIND -->" markers), so the
README cannot drift from what mqttgw does. They run against a private
broker and the motor simulator, with only what a private run must change:

  * tcp://127.0.0.1:1883 is the private broker's uri, and mosquitto_sub /
    mosquitto_pub get "-p PORT";
  * /tmp/ttyMOT01 is a path in the test's directory;
  * build/ is $MQTTGW_BUILD;
  * `make tests` is checked (`make -n`: the target exists and is up to
    date enough to plan), not run: the build is this test's input.

As root, the daemon line is run as written first (the README says mqttgw
refuses, and names --allow-root), then with --allow-root as the README says.
Commands are published one at a time, as a person types them: the next goes
out once mosquitto_sub has printed what the README shows for the previous.
"""

import os
import re
import signal
import subprocess

import harness
from harness import BUILD, ROOT, Broker, spawn, tmppath, wait_retained, wait_until

TIMEOUT = 60
MARK = re.compile(r"^<!-- walkthrough: (\w+)(?: (\S+))? -->$")


def walkthrough():
    """[(kind, arg, [lines])] from README.md, in order."""
    lines = open(os.path.join(ROOT, "README.md")).read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        i += 1
        if not m:
            continue
        while i < len(lines) and not lines[i].strip():
            i += 1
        block = []
        while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
            block.append(lines[i][4:])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        assert block, "README: empty block after %r" % m.group(0)
        out.append((m.group(1), m.group(2), block))
    kinds = [k for k, _, _ in out]
    assert kinds == ["run", "file", "run", "daemon", "watch", "commands", "output"], kinds
    return out


def private(cmd, broker):
    """A README command line as it runs here."""
    cmd = cmd.replace("/tmp/ttyMOT01", tmppath("ttyMOT01"))
    cmd = re.sub(r"^build/", BUILD + "/", cmd)
    cmd = re.sub(r"^(mosquitto_(?:sub|pub)) ", r"\1 -p %d " % broker.port, cmd)
    return cmd


def sh(cmd, **kw):
    return subprocess.run(["bash", "-c", cmd], cwd=harness.tmpdir(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=30, **kw)


def bg(cmd, name):
    log = open(tmppath(name), "ab")
    p = spawn(["bash", "-c", "exec " + cmd], cwd=harness.tmpdir(), stdout=log, stderr=log)
    log.close()
    harness._register(_Proc(p))
    return p


class _Proc:
    """A background command, stopped at teardown like every fixture."""
    def __init__(self, proc):
        self.proc = proc

    def teardown(self):
        harness.kill_group(self.proc)


def sub_lines(name):
    with open(tmppath(name), "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()


def test_readme_walkthrough_as_written():
    b = Broker()
    steps = walkthrough()
    (_, _, setup), (_, cfg_name, cfg), (_, _, check), (_, _, daemon), (_, _, watch), \
        (_, _, commands), (_, _, expected) = steps

    # make tests; the simulator in the background
    for line in setup:
        if line.startswith("make "):
            target = line.split("#")[0].split()[1:]
            r = subprocess.run(["make", "-n", "-C", ROOT] + target, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=60)
            assert r.returncode == 0, "README: %r: %s" % (line, r.stderr)
        else:
            assert line.endswith(" &"), line
            bg(private(line[:-2], b), "sim.log")
    wait_until(lambda: os.path.exists(tmppath("ttyMOT01")), 10, what="the simulator's port")

    text = "\n".join(cfg) + "\n"
    text = text.replace("tcp://127.0.0.1:1883", b.uri).replace("/tmp/ttyMOT01", tmppath("ttyMOT01"))
    with open(tmppath(cfg_name), "w") as f:
        f.write(text)

    for line in check:
        r = sh(private(line, b))
        out = r.stdout.decode()
        assert r.returncode == 0 and out.startswith("%s: ok" % cfg_name), (line, out)

    (line,) = daemon
    cmd = private(line, b)
    if os.geteuid() == 0:
        r = sh(cmd)
        assert r.returncode == 1 and b"refusing to run as root" in r.stdout and b"--allow-root" in r.stdout, \
            r.stdout
        cmd += " --allow-root"
    gw = bg(cmd, "gw.log")
    wait_retained(b, "S013/MOT01/status", "online", timeout=10)

    (line,) = watch
    bg(private(line, b), "sub.log")
    wait_until(lambda: len(sub_lines("sub.log")) >= 2, 10, what="the retained status lines")

    # one command at a time: the next once the previous one's lines are out
    echoes = [i for i, l in enumerate(expected) if l.startswith("S013/MOT01/RECM ")]
    assert len(echoes) == len(commands), (echoes, commands)
    for k, line in enumerate(commands):
        r = sh(private(line, b))
        assert r.returncode == 0, (line, r.stdout)
        upto = echoes[k + 1] if k + 1 < len(echoes) else echoes[k] + 1
        wait_until(lambda: len(sub_lines("sub.log")) >= upto, 10,
                   what="mosquitto_sub printing %r" % (expected[:upto],))

    # the refusal is logged as the README quotes it (then Ctrl-C, as a person would after seeing it)
    readme = open(os.path.join(ROOT, "README.md")).read()
    quoted = re.search(r"`(command on\s.*?)`", readme, re.S)
    assert quoted, "README no longer quotes the refusal log line"
    quoted = " ".join(quoted.group(1).split())
    wait_until(lambda: quoted in open(tmppath("gw.log")).read(), 10, what="the log line %r" % quoted)

    # Ctrl-C
    os.kill(gw.pid, signal.SIGINT)
    assert gw.wait(10) == 0
    wait_until(lambda: len(sub_lines("sub.log")) >= len(expected), 10, what="the offline lines")
    # the daemon has exited, its messages all acknowledged: nothing more can come
    got = sub_lines("sub.log")
    # the two retained lines come in the broker's order; the rest in publishing order
    assert sorted(got[:2]) == sorted(expected[:2]) and got[2:] == expected[2:], \
        "mosquitto_sub printed:\n%s\nREADME says:\n%s" % ("\n".join(got), "\n".join(expected))

    # the refused command never reached the port
    sim = open(tmppath("sim.log")).read()
    rx = re.findall(r"rx '([^']*)'", sim)
    assert rx == ["DRVZ+1000", "STOP"], sim
