"""
test_firsthour.py - the mistakes a new user makes in the first hour
(issue 21), each seen from outside with the real daemon, broker and ptys:
the regex syntax people know from Python and JavaScript, availability that
tells the truth on a clean stop, two gateways on one config, messages that
say what to do, --check warnings.

Each test failed on the code before issue 21 and asserts what the user
sees: a byte on the port (or its absence, proven by ordering), a message
on the broker, a line in the log, an exit code.
"""

import os
import re
import signal
import time

import harness
from harness import (Broker, Gateway, PubackProxy, Pty, Sub, free_port, gateway_config, pub, retained_now,
                     run_mqttgw, serial_dev, write_config)
from test_bridge import sync_in, sync_out

TIMEOUT = 60
STATUS = "S013/gateway/status"


# -- 1. regex syntax --------------------------------------------------------

def test_perl_style_accept_takes_digits_and_refuses_a_letter():
    """accept = "^DRVZ[+-]\\d{1,6}$": ERE read \\d as the letter d, refused
    DRVZ+1000 and wrote DRVZ+d to the motor."""
    b = Broker()
    p = Pty()
    cfg = gateway_config(b, serial=[serial_dev("MOT01", p.path)], routes=[
        {"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01", "accept": r"^DRVZ[+-]\d{1,6}$"},
        {"from": "mqtt:${station}/MOT01/RAW", "to": "serial:MOT01"},
        {"from": "serial:MOT01", "match": r"^POS(?:ITION)?\s*(\w)=(-?\d+?)0*$",
         "to": "mqtt:${station}/MOT01/POS/$1", "payload": "$2"},
        {"from": "serial:MOT01", "match": "^(A|AB)", "to": "mqtt:${station}/MOT01/ALT", "payload": "$1"},
        {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND"}])
    s = Sub(b, ["S013/#"])
    gw = Gateway(cfg)
    s.expect(STATUS, "online", timeout=10)
    sync_out(b, p, topic="S013/MOT01/RAW")
    pub(b, "S013/MOT01/RECM", "DRVZ+d")
    pub(b, "S013/MOT01/RECM", "DRVZ+1000")
    line = p.read_line()
    assert line == b"DRVZ+1000\r\n", "first bytes on the port: %r (DRVZ+d must be refused)" % line
    gw.wait_for_log(r"refused by accept")
    # \s, \w, (?:...) and a lazy quantifier in a match
    p.write(b"POSITION Z=12000\r\n")
    s.expect("S013/MOT01/POS/Z", "12")
    # leftmost-first alternation: PCRE2 takes "A" of "ABC" (POSIX took "AB")
    p.write(b"ABC\r\n")
    s.expect("S013/MOT01/ALT", "A")


def test_invalid_pattern_names_file_line_message_and_offset():
    b = Broker()
    text = ('mqtt = { uri = "%s"; };\n'
            'serial = ( { name = "MOT01"; port = "/dev/ttyNOPE"; } );\n'
            'routes = (\n'
            '  { from = "serial:MOT01"; to = "mqtt:x/y";\n'
            '    match = "^POS(?<axis[XYZ])"; } );\n' % b.uri)
    path = write_config(text, "bad.cfg")
    r = run_mqttgw(["--check", "-c", path])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert re.search(r"bad\.cfg:5: match \"\^POS\(\?<axis\[XYZ\]\)\" is not a valid regex: "
                     r"[a-z].* at offset \d+", r.stderr), r.stderr


# -- 2. availability that tells the truth ------------------------------------

def _until(s, topic, payload, timeout=10.0):
    """Read s until (topic, payload) arrives; the status messages seen up to
    and including it, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = s.next(max(0.0, deadline - time.monotonic()))
        if m is None:
            break
        if m.topic.endswith("/status"):
            seen.append((m.topic, m.payload))
        if m.topic == topic and m.payload == payload:
            return seen
    raise AssertionError("no %r on %s within %.0fs; status messages: %r" % (payload, topic, timeout, seen))


def test_device_online_once_and_offline_before_the_gateway_on_a_clean_stop():
    for sig in (signal.SIGTERM, signal.SIGINT):
        b = Broker()
        p = Pty()
        watch = Sub(b, ["S013/#"])  # sees everything, in order
        sync = Sub(b, ["S013/#"])
        cfg = gateway_config(b, serial=[serial_dev("MOT01", p.path)], routes=[
            {"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01"},
            {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND"}])
        gw = Gateway(cfg)
        sync.expect(STATUS, "online", timeout=10)
        sync_out(b, p)
        sync_in(p, sync)
        # everything the start published comes before this frame
        p.write(b"MARK\r\n")
        start = _until(watch, "S013/MOT01/SEND", "MARK")
        assert sorted(start) == [("S013/MOT01/status", "online"), (STATUS, "online")], \
            "status messages at start (each state once): %r" % (start,)
        gw.signal(sig)
        assert gw.wait(10) == 0, gw.returncode
        stop = _until(watch, STATUS, "offline")
        assert stop == [("S013/MOT01/status", "offline"), (STATUS, "offline")], \
            "status messages on %s (each device offline, then the gateway): %r" % (sig.name, stop)
        assert retained_now(b, "S013/MOT01/status").payload == "offline"
        assert "not acknowledged" not in gw.log_text(), gw.log_text()[-2000:]


# -- 3. two gateways with one config ----------------------------------------

def test_second_gateway_on_the_same_config_is_told_who_holds_the_port_and_the_client_id():
    b = Broker()
    p = Pty()
    s = Sub(b, ["S013/#"])
    cfg = gateway_config(b, serial=[serial_dev("MOT01", p.path, reopen_ms=200)], routes=[
        {"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01"},
        {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND"}],
        mqtt={"reconnect_min_ms": 200, "reconnect_max_ms": 400})
    first = Gateway(cfg)
    s.expect(STATUS, "online", timeout=10)
    sync_out(b, p)
    second = Gateway(first.config_path)
    second.wait_for_log(r"serial MOT01: %s: in use by another program \(pid %d, mqttgw; "
                        r"a second mqttgw with this config\?\); retrying" % (re.escape(p.path), first.proc.pid))
    # mosquitto closes the older connection of a client_id without a word (3.1.1, and 2.0.11 for 5 too)
    pat = (r"mqtt: the broker closed the connection right after connecting 3 times in a row: "
           r"another client probably uses the same client_id \"mqttgw-S013\"")
    deadline = time.monotonic() + 20
    while not any(re.search(pat, g.log_text()) for g in (first, second)):
        assert time.monotonic() < deadline, "no client_id hint in either log:\n%s\n%s" % (
            first.log_text()[-1500:], second.log_text()[-1500:])
        time.sleep(0.1)
    # the port stays the first one's; the second takes it once the first is gone
    assert "MOT01: %s open at" % p.path not in second.log_text()
    assert first.terminate() == 0
    second.wait_for_log(r"serial MOT01: %s open at" % re.escape(p.path), timeout=10)
    assert second.terminate() == 0


def test_mqtt5_session_taken_over_names_the_client_id():
    b = Broker()
    px = PubackProxy(b)
    cfg = gateway_config(px, mqtt={"protocol": 5})
    gw = Gateway(cfg)
    gw.wait_for_log(r"mqtt: connected to")
    px.kick(0x8E)
    gw.wait_for_log(r"mqtt: session taken over: another client connected with our client_id "
                    r"\"mqttgw-S013\" \(a second mqttgw with this config\?\)")
    gw.wait_for_log(r"mqtt: connected to", since=gw.log_text().index("session taken over"))


# -- 4. messages that say what to do ------------------------------------------

def test_permission_denied_names_the_configured_port_and_the_group():
    import grp
    from test_hostile_privilege import _unprivileged_ids
    if os.geteuid() != 0:
        return  # needs root to make a port the daemon may not open
    dialout = grp.getgrnam("dialout").gr_gid
    b = Broker()
    p = Pty(link="ttyMOTPERM")
    os.fchown(p.slave, 0, dialout)      # as udev makes a serial port: root:dialout 0660
    os.fchmod(p.slave, 0o660)
    os.chmod(harness.tmpdir(), 0o711)
    uid, gid = _unprivileged_ids()
    gw = Gateway(gateway_config(b, serial=[serial_dev("MOT01", p.path)], routes=[
        {"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01"}]), start=False, name="gw-perm")
    os.chmod(gw.config_path, 0o644)
    with open(gw.log, "ab") as logf:
        gw.proc = harness.spawn(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
                                 "--inh-caps=-all", "--no-new-privs", "--", harness.MQTTGW, "-f", "-v", "-c",
                                 gw.config_path], stdout=logf, stderr=logf, cwd=harness.tmpdir())
    gw.wait_for_log(r"serial MOT01: %s \(/dev/pts/\d+\): Permission denied: add the user mqttgw runs as to "
                    r"the group \"dialout\" that owns it \(sudo usermod -aG dialout USER; log in again\)"
                    % re.escape(p.path))


def test_default_config_missing_says_to_pass_c():
    if os.path.exists("/etc/mqttgw/mqttgw.cfg"):
        return  # installed here: the default is there
    r = run_mqttgw(["--check"])
    assert r.returncode == 2, r
    assert r.stderr == ("mqttgw: no config file: the default /etc/mqttgw/mqttgw.cfg does not exist; pass -c FILE "
                        "(config/minimal.cfg in the source, /usr/share/doc/mqttgw/examples/ when installed, "
                        "are a start)\n"), r.stderr
    r = run_mqttgw(["--check", "-c", "nope.cfg"])
    assert r.returncode == 2 and r.stderr == "nope.cfg: cannot open: No such file or directory\n", r.stderr


def test_no_unacknowledged_warning_for_a_status_the_will_covers():
    """Broker unreachable the whole time: a device's "online" used to wait
    in the queue and be reported as a lost message at exit."""
    p = Pty()
    gw = Gateway(gateway_config("tcp://127.0.0.1:%d" % free_port(), serial=[serial_dev("MOT01", p.path)],
                                routes=[{"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01"}]))
    gw.wait_for_log(r"serial MOT01: .* open at")
    gw.wait_for_log(r"mqtt: cannot connect")
    assert gw.terminate() == 0
    assert "not acknowledged" not in gw.log_text(), gw.log_text()[-1500:]


def test_verbose_logs_every_routed_frame_with_its_route():
    b = Broker()
    p = Pty()
    s = Sub(b, ["S013/#"])
    gw = Gateway(gateway_config(b, serial=[serial_dev("MOT01", p.path)], routes=[
        {"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01"},
        {"from": "serial:MOT01", "match": "^POS([XYZ])([+-][0-9]+)$", "to": "mqtt:${station}/MOT01/POS/$1",
         "payload": "$2"},
        {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND"}]))
    s.expect(STATUS, "online", timeout=10)
    sync_out(b, p)
    lines = open(gw.config_path).read().split("\n")
    line_of = [i + 1 for i, l in enumerate(lines) if "from = " in l]
    p.write(b"POSZ+001000\r\nHELLO\r\n")
    s.expect("S013/MOT01/SEND", "HELLO")
    gw.wait_for_log(r"MOT01 -> S013/MOT01/POS/Z \+001000 \(route 2, line %d\)" % line_of[1])
    gw.wait_for_log(r"MOT01 -> S013/MOT01/SEND HELLO \(route 3, line %d\)" % line_of[2])
    gw.wait_for_log(r"MOT01 <- DRVX\+1 \(from S013/MOT01/RECM, route 1, line %d\)" % line_of[0])


# -- 5. --check warnings ------------------------------------------------------

LINT = r'''station = "S013";
mqtt = { uri = "tcp://127.0.0.1:1883"; };
serial = (
  { name = "MOT01"; port = "/dev/ttyUSB0"; },
  { name = "MOT02"; port = "/dev/ttyUSB1"; }
);
routes = (
  { from = "mqtt:${station}/MOT01/RECM"; to = "serial:MOT01"; },
  { from = "serial:MOT01"; match = "^POS(.*)$"; to = "mqtt:${station}/MOT01/POS"; payload = "$1"; },
  { from = "serial:MOT01"; match = "^POS(.*)$"; to = "mqtt:${station}/MOT01/POS2"; },
  { from = "serial:MOT01"; match = ".*"; to = "mqtt:${station}/MOT01/ANY"; },
  { from = "serial:MOT01"; match = "^ERR"; to = "mqtt:${station}/MOT01/ERR"; }
);
'''


def _line_of(text, needle):
    return [i + 1 for i, l in enumerate(text.split("\n")) if needle in l][0]


def test_check_warns_and_strict_refuses():
    path = write_config(LINT, "lint.cfg")
    r = run_mqttgw(["--check", "-c", path])
    assert r.returncode == 0, (r.returncode, r.stderr)
    want = [
        "%s:%d: warning: serial device MOT02 is used by no route (its frames go nowhere, nothing is written "
        "to it): add a route from or to serial:MOT02, or remove it" % (path, _line_of(LINT, '"MOT02"')),
        "%s:%d: warning: route from serial:MOT01 can never match: the route at line %d has the same match "
        "\"^POS(.*)$\" and takes every such frame first" % (path, _line_of(LINT, "POS2"), _line_of(LINT, "POS\"")),
        "%s:%d: warning: route from serial:MOT01 can never match: the route at line %d (match \".*\") takes "
        "every frame first" % (path, _line_of(LINT, "ERR"), _line_of(LINT, "ANY")),
    ]
    assert r.stderr.splitlines() == want, r.stderr
    assert r.stdout.startswith("%s: ok" % path), r.stdout
    r = run_mqttgw(["--check", "--strict", "-c", path])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.splitlines()[:3] == want and \
        r.stderr.splitlines()[3] == "%s: 3 warnings, an error with --strict" % path, r.stderr


def test_check_suggests_the_setting_and_the_syntax_fix():
    text = LINT.replace('port = "/dev/ttyUSB1"; }', 'port = "/dev/ttyUSB1"; baudrate = 9600; }')
    path = write_config(text, "typo.cfg")
    r = run_mqttgw(["--check", "-c", path])
    assert r.returncode == 2 and r.stderr == (
        "%s:5: unknown setting \"baudrate\" in serial[1] (did you mean baud?)\n" % path), r.stderr
    # libconfig's scanner leaks a token buffer when a parse fails (tests/fuzz/lsan.supp says which)
    env = dict(os.environ, LSAN_OPTIONS="suppressions=%s:print_suppressions=0"
               % os.path.join(harness.ROOT, "tests", "fuzz", "lsan.supp"))
    text = LINT.replace('port = "/dev/ttyUSB0"; },', 'port = "/dev/ttyUSB0"; }')
    path = write_config(text, "comma.cfg")
    r = run_mqttgw(["--check", "-c", path], env=env)
    assert r.returncode == 2 and r.stderr == (
        "%s:4: syntax error: missing comma between list items (add \",\" at the end of this line, "
        "before line 5)\n" % path), r.stderr
    text = LINT.replace('port = "/dev/ttyUSB0"; },', 'port = "/dev/ttyUSB0; },')
    path = write_config(text, "quote.cfg")
    r = run_mqttgw(["--check", "-c", path], env=env)
    assert r.returncode == 2 and r.stderr == (
        "%s:4: syntax error: unclosed string (the \" opened on this line has no closing \")\n" % path), r.stderr


def test_check_warns_when_accept_lets_control_bytes_through_to_a_text_device():
    text = LINT.replace('{ from = "mqtt:${station}/MOT01/RECM"; to = "serial:MOT01"; },',
                        '{ from = "mqtt:${station}/MOT01/RECM"; to = "serial:MOT01"; accept = "^E(.*)$"; },\n'
                        '  { from = "mqtt:${station}/MOT01/SET"; to = "serial:MOT01"; accept = "^SET \\\\d+$"; },')
    path = write_config(text, "bytes.cfg")
    r = run_mqttgw(["--check", "-c", path])
    assert r.returncode == 0, r.stderr
    want = ("%s:%d: warning: accept \"^E(.*)$\" lets bytes outside printable ASCII through to serial:MOT01, a "
            "text device (it takes \\x1b (ESC)): match printable characters only, e.g. [ -~] or \\w, not . or "
            "[^...]" % (path, _line_of(text, "^E(.*)$")))
    hits = [l for l in r.stderr.splitlines() if ": warning: accept " in l]
    assert hits == [want], r.stderr
