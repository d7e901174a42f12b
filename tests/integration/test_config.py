"""
test_config.py - the config contract seen from outside: every shipped
config passes --check; each kind of config error exits 2 with
"FILE:LINE: what is wrong" naming the right line, in --check mode and when
starting for real, before any device or the broker is touched; --version
and --help.

Error cases are the valid BASE config with one line changed or added; the
offending line carries the marker "#<--" (a libconfig comment), so the
expected line number is computed, never hard-coded.
"""

import glob
import os
import re
import termios

from harness import (ROOT, Broker, Pty, free_port, retained_now, root_args, run_mqttgw,
                     write_config)

TIMEOUT = 60

BASE = r'''# A valid config; the error tests change one line of it.
station = "S013";
mqtt = {
  uri = "tcp://127.0.0.1:@PORT@";
  client_id = "mqttgw-${station}";
  keepalive = 60;
  qos = 1;
  status_topic = "${station}/gateway/status";
};
serial = (
  {
    name = "MOT01";
    port = "@TTY@";
    baud = 115200;
    parity = "none";
    eol = "\r\n";
    max_frame = 256;
  }
);
routes = (
  { from = "mqtt:${station}/MOT01/RECM"; to = "serial:MOT01"; accept = "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$"; },
  { from = "serial:MOT01"; match = "^POS([XYZ])([+-][0-9]+)$"; to = "mqtt:${station}/MOT01/POS/$1"; payload = "$2"; retain = true; qos = 0; },
  { from = "serial:MOT01"; to = "mqtt:${station}/MOT01/SEND"; }
);
'''

ROUTE1 = '  { from = "mqtt:${station}/MOT01/RECM"; to = "serial:MOT01"; ' \
         'accept = "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$"; },'


def base(port=None, tty="/dev/ttyMQTTGW-TEST-NOPE"):
    return BASE.replace("@PORT@", str(port or free_port())).replace("@TTY@", tty)


def mutate(text, old, new):
    """Replace the line containing old by new (new may add lines)."""
    lines = text.split("\n")
    hits = [i for i, l in enumerate(lines) if old in l]
    assert len(hits) == 1, "test bug: %r matches %d lines" % (old, len(hits))
    lines[hits[0]] = new
    return "\n".join(lines)


def route_added(route):
    """base() with route added after ROUTE1, on the marked line."""
    return mutate(base(), ROUTE1.strip(), ROUTE1 + "\n  " + route + ",  #<--")


def send_route_with(setting):
    """base() with one more setting in the route serial:MOT01 -> SEND, on
    the marked line."""
    return mutate(base(), '"serial:MOT01"; to = "mqtt:${station}/MOT01/SEND"',
                  '  { from = "serial:MOT01"; to = "mqtt:${station}/MOT01/SEND"; %s }  #<--'
                  % setting)


def marked_line(text):
    hits = [i + 1 for i, l in enumerate(text.split("\n")) if "#<--" in l]
    assert len(hits) == 1, "test bug: %d markers" % len(hits)
    return hits[0]


def expect_config_error(text, mentions=None):
    """Both `--check -c bad.cfg` and `-f -c bad.cfg` exit 2 with
    bad.cfg:LINE: on stderr (LINE = the marked line)."""
    line = marked_line(text)
    write_config(text, "bad.cfg")
    pat = re.compile(r"^(?:\S*/)?bad\.cfg:%d: \S" % line, re.M)
    for args in (["--check", "-c", "bad.cfg"], ["-f", "-c", "bad.cfg"] + root_args()):
        r = run_mqttgw(args, timeout=10)
        cmd = "mqttgw " + " ".join(args)
        assert r.returncode == 2, "%s: exit %d, expected 2; stderr:\n%s" % (cmd, r.returncode, r.stderr)
        assert pat.search(r.stderr), "%s: expected 'bad.cfg:%d: ...' on stderr, got:\n%s" \
            % (cmd, line, r.stderr)
        if mentions:
            msg = pat.search(r.stderr)
            rest = r.stderr[msg.start():].split("\n", 1)[0]
            assert mentions in rest, "%s: the message should name %r: %s" % (cmd, mentions, rest)


# --------------------------------------------------------------------------

def test_shipped_configs_pass_check():
    files = sorted(glob.glob(os.path.join(ROOT, "config", "*.cfg")))
    assert files, "no config/*.cfg files to check"
    bad = []
    for f in files:
        r = run_mqttgw(["--check", "-c", f], timeout=10, cwd=ROOT)
        rel = os.path.relpath(f, ROOT)
        if r.returncode != 0:
            bad.append("%s: exit %d\n%s" % (rel, r.returncode, r.stderr.strip()))
        elif not r.stdout.strip():
            bad.append("%s: --check printed no summary on stdout" % rel)
    assert not bad, "\n".join(bad)


def test_base_config_is_valid():
    # The error cases below are this config with one line broken.
    write_config(base(), "good.cfg")
    r = run_mqttgw(["--check", "-c", "good.cfg"], timeout=10)
    assert r.returncode == 0, "exit %d:\n%s" % (r.returncode, r.stderr)
    assert r.stdout.strip(), "--check printed no summary"


def test_check_prints_every_setting_not_at_its_default():
    # The "settings" lines of --check come from the config schema: a
    # setting changed from its default shows, as it will be used (the
    # station substituted, the eol escaped), and one left alone does not.
    text = mutate(base(), "baud = 115200;", "    baud = 9600;")
    text = mutate(text, "keepalive = 60;", "  keepalive = 30;\n  protocol = 5;")
    write_config(text, "good.cfg")
    r = run_mqttgw(["--check", "-c", "good.cfg"], timeout=10)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    top = [l for l in lines if l.startswith("settings: ")]
    assert len(top) == 1, r.stdout
    assert "mqtt.keepalive = 30" in top[0] and "mqtt.protocol = 5" in top[0], top[0]
    assert 'mqtt.status_topic = "S013/gateway/status"' in top[0], top[0]
    assert "mqtt.qos" not in top[0], "mqtt.qos = 1 is the default: " + top[0]
    dev = [l for l in lines if l.startswith("    settings: ")]
    assert len(dev) == 1 and "baud = 9600" in dev[0], r.stdout
    assert "eol" not in dev[0] and "max_frame" not in dev[0], "defaults shown: " + dev[0]
    route = [l for l in lines if l.startswith("  2: ")]
    assert len(route) == 1, r.stdout
    assert 'payload = "$2"' in route[0] and "retain = true" in route[0] and "qos = 0" in route[0], route[0]


def test_check_does_not_touch_devices_or_broker():
    # A missing port and no broker: --check still validates fine.
    write_config(base(), "good.cfg")
    r = run_mqttgw(["--check", "-c", "good.cfg"], timeout=10)
    assert r.returncode == 0, r.stderr
    # A real (cooked, 9600 baud) pty is left exactly as it was.
    broker = Broker()
    pty = Pty(raw=False)
    attrs = pty.termios()
    attrs[4] = attrs[5] = termios.B9600
    termios.tcsetattr(pty.slave, termios.TCSANOW, attrs)
    before = pty.termios()
    write_config(base(broker.port, pty.path), "pty.cfg")
    r = run_mqttgw(["--check", "-c", "pty.cfg"], timeout=10)
    assert r.returncode == 0, r.stderr
    assert pty.termios() == before, "--check changed the port's termios"
    assert pty.read_available() == b""
    assert broker.foreign_clients() == [], "--check connected to the broker: %s" \
        % broker.foreign_clients()


# The error cases: one test function per broken line, on purpose. Each is
# a call of expect_config_error() with base() changed at one line (the
# helpers mutate, route_added, send_route_with, with_gpio), so neighbours
# look alike to `duplicates`; a table would be shorter, but the runner
# names, filters and reports test functions, and a failure must say which
# mistake the daemon let through.

def test_error_syntax():
    expect_config_error(mutate(base(), "keepalive = 60;", "  keepalive = = 60;  #<--"))


def test_error_syntax_garbage_token():
    expect_config_error(mutate(base(), "max_frame = 256;",
                               "    max_frame = 256;\n    @@@ ;  #<--"))


def test_error_unknown_key_in_group():
    expect_config_error(mutate(base(), "keepalive = 60;", "  keepalive = 60;\n  bogus = 1;  #<--"),
                        mentions="bogus")


def test_error_unknown_key_inline_group():
    # The example: the whole group on one line.
    text = re.sub(r"(?ms)^mqtt = \{.*?^\};$",
                  'mqtt = { uri = "tcp://127.0.0.1:1"; bogus = 1; };  #<--', base())
    expect_config_error(text, mentions="bogus")


def test_error_unknown_top_level_key():
    expect_config_error(mutate(base(), 'station = "S013";',
                               'station = "S013";\nbogus_top = 1;  #<--'), mentions="bogus_top")


def test_error_unknown_key_in_serial_device():
    expect_config_error(mutate(base(), "baud = 115200;", "    baud = 115200;\n    speed = 9600;  #<--"),
                        mentions="speed")


def test_error_unknown_key_in_route():
    expect_config_error(send_route_with('acept = "x";'), mentions="acept")


def test_error_wrong_type_keepalive():
    expect_config_error(mutate(base(), "keepalive = 60;", '  keepalive = "sixty";  #<--'))


def test_error_wrong_type_baud():
    expect_config_error(mutate(base(), "baud = 115200;", '    baud = "fast";  #<--'))


def test_error_wrong_type_retain():
    expect_config_error(send_route_with('retain = "yes";'))


def test_error_out_of_range_qos():
    expect_config_error(mutate(base(), "qos = 1;", "  qos = 3;  #<--"))


def test_error_out_of_range_route_qos():
    expect_config_error(send_route_with('qos = 3;'))


def test_error_out_of_range_baud():
    expect_config_error(mutate(base(), "baud = 115200;", "    baud = -5;  #<--"))


def test_error_bad_enum_parity():
    expect_config_error(mutate(base(), 'parity = "none";', '    parity = "sometimes";  #<--'))


def test_error_route_to_unknown_device():
    expect_config_error(route_added('{ from = "mqtt:${station}/X"; to = "serial:NOPE"; }'),
                        mentions="NOPE")


def test_error_route_from_unknown_device():
    expect_config_error(route_added('{ from = "serial:NOPE"; to = "mqtt:${station}/X"; }'),
                        mentions="NOPE")


def test_error_bad_regex_in_match():
    expect_config_error(mutate(base(), "match = ",
                               '  { from = "serial:MOT01"; match = "^POS([XYZ"; '
                               'to = "mqtt:${station}/MOT01/POS/$1"; },  #<--'))


def test_error_bad_regex_in_accept():
    expect_config_error(mutate(base(), ROUTE1.strip(),
                               '  { from = "mqtt:${station}/MOT01/RECM"; to = "serial:MOT01"; '
                               'accept = "[z-a]"; },  #<--'))


def test_config_error_reported_before_broker_and_devices():
    broker = Broker()
    pty = Pty(raw=False)
    attrs = pty.termios()
    attrs[4] = attrs[5] = termios.B9600
    termios.tcsetattr(pty.slave, termios.TCSANOW, attrs)
    before = pty.termios()
    # Broker and port are valid; a route at the end of the file is not.
    text = mutate(base(broker.port, pty.path), '"serial:MOT01"; to = "mqtt:${station}/MOT01/SEND"',
                  '  { from = "serial:MOT01"; to = "mqtt:${station}/MOT01/SEND"; },\n'
                  '  { from = "mqtt:${station}/X"; to = "serial:NOPE"; }  #<--')
    line = marked_line(text)
    write_config(text, "bad.cfg")
    r = run_mqttgw(["-f", "-v", "-c", "bad.cfg"] + root_args(), timeout=10)
    assert r.returncode == 2, "exit %d, expected 2:\n%s" % (r.returncode, r.stderr)
    assert re.search(r"^(?:\S*/)?bad\.cfg:%d: \S" % line, r.stderr, re.M), r.stderr
    assert broker.foreign_clients() == [], "connected to the broker before failing: %s" \
        % broker.foreign_clients()
    assert retained_now(broker, "S013/gateway/status") is None
    assert pty.termios() == before, "the serial port was configured before failing"
    assert pty.read_available() == b""


def test_version_and_help():
    with open(os.path.join(ROOT, "Makefile")) as f:
        m = re.search(r"^VERSION\s*:?=\s*(\S+)", f.read(), re.M)
    r = run_mqttgw(["--version"], timeout=10)
    assert r.returncode == 0, "--version exit %d: %s" % (r.returncode, r.stderr)
    assert r.stdout.strip(), "--version printed nothing on stdout"
    if m:
        assert m.group(1) in r.stdout, "--version %r does not show %s" % (r.stdout, m.group(1))
    r = run_mqttgw(["--help"], timeout=10)
    assert r.returncode == 0, "--help exit %d: %s" % (r.returncode, r.stderr)
    for opt in ("-c", "--check", "--foreground", "--version"):
        assert opt in r.stdout, "--help does not mention %s:\n%s" % (opt, r.stdout)


def test_missing_config_file_is_an_error():
    r = run_mqttgw(["--check", "-c", "does-not-exist.cfg"], timeout=10)
    assert r.returncode in (1, 2), "exit %d" % r.returncode
    assert "does-not-exist.cfg" in r.stderr, r.stderr


# --------------------------------------------------------------------------
# Mistakes that used to pass --check and fail only at run time

ROUTE_SEND = '  { from = "serial:MOT01"; to = "mqtt:${station}/MOT01/SEND"; }'


def test_error_topic_with_a_control_byte():
    # a broker hangs up on it: every frame would cost a reconnect
    expect_config_error(mutate(base(), ROUTE_SEND.strip(),
                               '  { from = "serial:MOT01"; to = "mqtt:${station}/A\\x01B"; }  #<--'),
                        mentions="control")


def test_error_status_topic_not_utf8():
    expect_config_error(mutate(base(), 'status_topic = "${station}/gateway/status";',
                               '  status_topic = "${station}/gateway/\\xff";  #<--'))


def test_error_publish_to_a_dollar_topic():
    expect_config_error(mutate(base(), ROUTE_SEND.strip(),
                               '  { from = "serial:MOT01"; to = "mqtt:$$SYS/x"; }  #<--'), mentions="$")


def test_error_topic_longer_than_1023_bytes():
    expect_config_error(mutate(base(), ROUTE_SEND.strip(),
                               '  { from = "serial:MOT01"; to = "mqtt:${station}/%s"; }  #<--' % ("a" * 1100)),
                        mentions="1023")


def test_error_tls_group_with_a_plain_uri():
    # the TLS settings would be ignored and the link plain text
    expect_config_error(mutate(base(), 'uri = "tcp://',
                               '  uri = "tcp://127.0.0.1:1883";  #<--\n  tls = { ca_file = "/etc/ssl/ca.pem"; };'),
                        mentions="plain text")


def test_error_password_file_without_username():
    expect_config_error(mutate(base(), "keepalive = 60;",
                               '  keepalive = 60;\n  password_file = "/etc/mqttgw/password";  #<--'),
                        mentions="username")


def test_error_empty_client_id():
    expect_config_error(mutate(base(), 'client_id = "mqttgw-${station}";', '  client_id = "";  #<--'))


def test_error_same_port_twice():
    expect_config_error(mutate(base(), "max_frame = 256;",
                               '    max_frame = 256;\n  },\n  {\n    name = "MOT02";\n'
                               '    port = "/dev/ttyMQTTGW-TEST-NOPE";  #<--'), mentions="MOT01")


GPIO = '''gpio = (
  { name = "LIMZ"; chip = "gpiochip0"; line = 17; },
@MORE@
);
'''


def with_gpio(more):
    return base() + GPIO.replace("@MORE@", more)


def test_error_same_gpio_line_twice():
    expect_config_error(with_gpio('  { name = "LIM2"; chip = "gpiochip0"; line = 17; }  #<--'),
                        mentions="LIMZ")


def test_error_output_setting_on_an_input():
    # a brake written without direction = "output" is an input: it would never fail safe
    expect_config_error(with_gpio('  { name = "BRAKE"; line = 27;\n    failsafe = 1;  #<--\n  }'),
                        mentions="output")


def test_error_input_setting_on_an_output():
    expect_config_error(with_gpio('  { name = "LAMP"; line = 22; direction = "output";\n'
                                  '    debounce_ms = 20;  #<--\n  }'), mentions="input")


def test_error_rs485_delay_without_rs485():
    expect_config_error(mutate(base(), "max_frame = 256;",
                               "    max_frame = 256;\n    rs485_delay_before_ms = 5;  #<--"),
                        mentions="rs485")


def test_error_route_behind_a_catch_all():
    # uplink takes the first route that matches: this one could never be used
    text = mutate(base(), ROUTE_SEND.strip(),
                  ROUTE_SEND + ',\n  { from = "serial:MOT01"; match = "^ERR"; to = "mqtt:${station}/MOT01/ERR"; }  #<--')
    expect_config_error(text, mentions="never")


def test_error_command_filter_matching_the_gateways_own_topics():
    # the device would be sent "online", its own frames, ...
    expect_config_error(route_added('{ from = "mqtt:${station}/#"; to = "serial:MOT01"; }'),
                        mentions="publishes itself")


def test_error_device_fed_its_own_frames():
    expect_config_error(route_added('{ from = "mqtt:${station}/MOT01/SEND"; to = "serial:MOT01"; }'),
                        mentions="MOT01/SEND")


def test_one_device_may_listen_to_another():
    # MOT01's frames to MOT02 through the broker: how two devices talk, not a loop
    text = mutate(base(), "max_frame = 256;",
                  '    max_frame = 256;\n  },\n  {\n    name = "MOT02";\n    port = "/dev/ttyMQTTGW-TEST-NOPE2";')
    text = mutate(text, ROUTE1.strip(),
                  ROUTE1 + '\n  { from = "mqtt:${station}/MOT01/SEND"; to = "serial:MOT02"; },')
    write_config(text, "ok.cfg")
    r = run_mqttgw(["--check", "-c", "ok.cfg"], timeout=10)
    assert r.returncode == 0, r.stderr
