"""
test_hostile_privilege.py - least privilege, end to end: the real daemon,
a real mosquitto, ptys standing in for the serial ports.

The claim under test: nothing on the network (or on a serial line) makes
the gateway crash, leak, hang, or write anything to a device that the
config did not allow, and the daemon needs no privileges. This file holds
what the daemon may do and reach: its own privileges, its secrets, the
topics the broker lets it use, the systemd sandbox (test_hostile_input.py
holds what a message or frame may carry, test_hostile_flood.py the volume;
the three were test_hostile.py, split by concern).

  privilege   refused as root without --allow-root (exit 1, before any
              device or the broker is touched); works as an unprivileged
              user in the dialout group; a password file or credential
              readable by others is refused
  ACL         raspbian/mosquitto-acl.conf on a real mosquitto: station S013's
              gateway can neither read nor write station S014's topics; a
              broker that closes the connection on a denied publish (as
              MQTT 3.1.1 allows) costs one reconnect, not the link for good
  systemd     raspbian/mqttgw.service: systemd-analyze verify, and the
              sandbox settings are there

Readiness is proven, not slept for (the status topic says "online", then a
command is published until it reaches the port). "Never reaches the port"
is proven by ordering: the next good command is the very next line.
"""

import os
import pwd
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

import harness
from harness import (ACCEPT, MQTTGW, ROOT, Broker, Gateway, Pty, Sub, cmd_route, conf_settings,
                     gateway_config, is_raw, pub, root_args, run_mqttgw, secret_file, send_route,
                     serial_dev, spawn, station_acl, sync_out, tmppath, usr1_stats, wait_until,
                     write_config)
from harness import station_stats_wait as wait_stats

TIMEOUT = 60

# Open problems these tests show (tests/run.py lists them as SKIP with the
# reason; MQTTGW_RUN_KNOWN=1 runs them). See issue 6's closing note.
KNOWN_ISSUES = {}

STATUS = "S013/gateway/status"
STATS = "S013/gateway/stats"


# --------------------------------------------------------------------------
# Helpers

def broker_connections(broker):
    """TCP connections the broker has logged so far, once the harness's own
    readiness probe (a bare connect) is among them."""
    wait_until(lambda: "New connection" in broker.log_text(), 5, what="the broker's log")
    return broker.log_text().count("New connection")


def port_lines_until(pty, last, eol=b"\r\n", timeout=5.0):
    """Lines from the port up to and including last (a full line)."""
    lines = []
    while True:
        line = pty.read_until(eol, timeout)
        lines.append(line)
        if line == last:
            return lines


# --------------------------------------------------------------------------
# 5. Least privilege

def test_root_refused_without_allow_root():
    broker = Broker()
    pty = Pty(raw=False)                # cooked: opening it would make it raw
    cfg = write_config(gateway_config(broker, serial=[serial_dev("MOT01", pty.path)],
                                      routes=[cmd_route("MOT01")]))
    conns = broker_connections(broker)
    argv = ["-f", "-c", cfg]
    if os.geteuid() != 0:
        # not root here: be root in a user namespace instead
        r = subprocess.run(["unshare", "--user", "--map-root-user", MQTTGW] + argv,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20,
                           stdin=subprocess.DEVNULL, encoding="utf-8", errors="replace")
    else:
        r = run_mqttgw(argv)
    assert r.returncode == 1, "exit %d as root without --allow-root:\n%s" % (r.returncode, r.stderr)
    msg = r.stderr
    for word in ("root", "dialout", "gpio", "--allow-root"):
        assert word in msg, "the message does not mention %s: %r" % (word, msg)
    assert len(msg.strip().splitlines()) <= 3, "a clear message, not a log: %r" % msg
    # Nothing was touched: no connection to the broker, the port not opened.
    time.sleep(0.2)                     # the broker logs a connection within ms
    assert broker.log_text().count("New connection") == conns, "it connected to the broker first"
    assert is_raw(pty.termios()), "it opened (and set up) the serial port first"


def _unprivileged_ids():
    """(uid, gid) of an unprivileged account: nobody, or a throwaway user."""
    try:
        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", "mqttgw-hx"], check=True)
        pw = pwd.getpwnam("mqttgw-hx")
        return pw.pw_uid, pw.pw_gid


def test_runs_unprivileged_in_dialout_group():
    broker = Broker()
    p1 = Pty()
    p2 = Pty()
    sub = Sub(broker, ["S013/#"])
    dialout = 20
    try:
        import grp
        dialout = grp.getgrnam("dialout").gr_gid
    except KeyError:
        pass
    if os.geteuid() == 0:
        uid, gid = _unprivileged_ids()
        # The port as a udev rule makes it: group dialout, 0660.
        os.fchown(p1.slave, 0, dialout)
        os.fchmod(p1.slave, 0o660)
        # A port it has no right to: root's only.
        os.fchown(p2.slave, 0, 0)
        os.fchmod(p2.slave, 0o600)
        os.chmod(harness.tmpdir(), 0o711)
        prefix = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--groups=%d" % dialout,
                  "--inh-caps=-all", "--no-new-privs", "--"]
    else:
        uid, prefix = os.geteuid(), []
    gw = Gateway(gateway_config(broker, serial=[serial_dev("MOT01", p1.path),
                                                serial_dev("MOT02", p2.path)],
                                routes=[cmd_route("MOT01"), send_route("MOT01")]),
                 start=False, name="gw-unpriv")
    os.chmod(gw.config_path, 0o644)
    logf = open(gw.log, "ab")
    env = dict(os.environ)
    gw.proc = spawn(prefix + [MQTTGW, "-f", "-v", "-c", gw.config_path], stdout=logf,
                    stderr=logf, cwd=harness.tmpdir(), env=env)
    logf.close()
    sub.expect(STATUS, "online", timeout=10)
    with open("/proc/%d/status" % gw.pid) as f:
        status = f.read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert all(int(u) == uid for u in uids), "runs as %s, expected %d" % (uids, uid)
    if uid != 0:
        assert re.search(r"^CapEff:\s+0+$", status, re.M), "has capabilities: %s" % status
    # It works: a command to the port it may open, a frame back.
    sync_out(broker, p1, "S013/MOT01/RECM")
    p1.write(b"HELLO\r\n")
    sub.expect("S013/MOT01/SEND", "HELLO")
    if prefix:
        # The port it may not open is reported and retried, not fatal.
        gw.wait_for_log(r"serial MOT02: .*(Permission denied|EACCES)")
        sub.expect("S013/MOT02/status", "offline")
        assert p2.read_available() == b""
    gw.assert_running()
    assert "--allow-root" not in " ".join(open("/proc/%d/cmdline" % gw.pid).read().split("\0"))
    assert gw.terminate() == 0


def test_password_file_readable_by_others_refused():
    broker = Broker()
    pw = tmppath("password")
    with open(pw, "w") as f:
        f.write("secret\n")
    os.chmod(pw, 0o644)
    pty = Pty()
    cfg = write_config(gateway_config(broker, serial=[serial_dev("MOT01", pty.path)],
                                      routes=[cmd_route("MOT01")],
                                      mqtt={"username": "S013", "password_file": pw}))
    conns = broker_connections(broker)
    r = run_mqttgw(["-f", "-c", cfg] + root_args())
    assert r.returncode == 2, "exit %d with a world-readable password file: %s" \
        % (r.returncode, r.stderr)
    assert "chmod 600" in r.stderr and pw in r.stderr, r.stderr
    assert "secret" not in r.stderr
    time.sleep(0.2)                     # the broker logs a connection within ms
    assert broker.log_text().count("New connection") == conns, "it connected to the broker"


def test_password_as_systemd_credential():
    # LoadCredential=mqtt-password:/etc/mqttgw/password puts the file in
    # $CREDENTIALS_DIRECTORY; systemd 254 and later show it as 0440 (an ACL
    # for the service user). That is no leak and must work; a credential
    # readable by others is still refused.
    broker = Broker()
    creds = tmppath("credentials")
    os.makedirs(creds, mode=0o700)
    pw = os.path.join(creds, "mqtt-password")
    with open(pw, "w") as f:
        f.write("secret\n")
    os.chmod(pw, 0o440)
    pty = Pty()
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", pty.path)], routes=[cmd_route("MOT01")],
                         mqtt={"username": "S013", "password_file": "credential:mqtt-password"})
    sub = Sub(broker, [STATUS])
    gw = Gateway(cfg, env={"CREDENTIALS_DIRECTORY": creds})
    sub.expect(STATUS, "online", timeout=10)
    assert re.search(r"New client connected .* as mqttgw-S013 .*u'S013'", broker.log_text()), \
        "the broker saw no login: %s" % broker.log_text()[-600:]
    gw.terminate()
    os.chmod(pw, 0o444)
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    r = run_mqttgw(["-f", "-c", write_config(cfg)] + root_args(), env=env)
    assert r.returncode == 2, "exit %d with a credential readable by others: %s" % (r.returncode, r.stderr)
    assert "readable by others" in r.stderr and "secret" not in r.stderr, r.stderr


# --------------------------------------------------------------------------
# 6. The per-station ACL (raspbian/mosquitto-acl.conf)

class ClientLogin:
    """mosquitto_pub/mosquitto_sub started inside log in as user (their
    $XDG_CONFIG_HOME default options), so the harness's pub() and Sub work
    against a broker that requires a login."""

    def __init__(self, user, password):
        self.dir = tmppath("xdg-%s" % user)
        os.makedirs(self.dir, exist_ok=True)
        for prog in ("mosquitto_pub", "mosquitto_sub"):
            path = os.path.join(self.dir, prog)
            with open(path, "w") as f:
                f.write("-u %s\n-P %s\n" % (user, password))
            os.chmod(path, 0o600)
        self.saved = None

    def __enter__(self):
        self.saved = os.environ.get("XDG_CONFIG_HOME")
        os.environ["XDG_CONFIG_HOME"] = self.dir
        return self

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = self.saved


def acl_broker_conf(passwd, acl):
    """The mosquitto settings of raspbian/mosquitto-acl.example with the
    test's files (its listener is the harness's own)."""
    out = []
    for line in conf_settings(os.path.join(ROOT, "raspbian", "mosquitto-acl.example")):
        key = line.split()[0]
        if key in ("listener", "certfile", "keyfile", "cafile"):
            continue
        if key == "password_file":
            line = "password_file " + passwd
        elif key == "acl_file":
            line = "acl_file " + acl
        out.append(line)
    assert any(l.startswith("acl_file") for l in out), "the example sets no acl_file"
    assert "allow_anonymous false" in out, "the example allows anonymous clients"
    return "\n".join(out)


def station_gateway(broker, pty, password, mqtt, routes):
    """The gateway of station S013 logged in as S013 (password in a 0600
    password_file), MOT01 on pty, more mqtt settings and routes given."""
    pwfile = secret_file("gw.password", password)
    return Gateway(gateway_config(broker, serial=[serial_dev("MOT01", pty.path)],
                                  mqtt=dict({"username": "S013", "password_file": pwfile}, **mqtt),
                                  routes=routes))


def test_per_station_acl():
    logins = {"admin": "admin-pw-1", "S013": "s013-pw-2", "S014": "s014-pw-3"}
    passwd, acl = station_acl(logins)
    broker = Broker(extra_conf=acl_broker_conf(passwd, acl))
    # Anonymous clients are refused.
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "S013/x",
                        "-m", "anon"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10,
                       env=dict(os.environ, XDG_CONFIG_HOME=tmppath("none")))
    assert r.returncode != 0, "an anonymous client could publish"

    pty = Pty()
    with ClientLogin("admin", logins["admin"]):
        admin = Sub(broker, ["#"])
        gw = station_gateway(
            broker, pty, logins["S013"], {},
            routes=[cmd_route("MOT01"),                                    # its own: works
                    {"from": "mqtt:S014/MOT01/RECM", "to": "serial:MOT01", "accept": ACCEPT},
                    {"from": "mqtt:+/MOT01/CMD", "to": "serial:MOT01", "accept": ACCEPT},
                    {"from": "serial:MOT01", "match": "^FOR14 (.*)$", "to": "mqtt:S014/MOT01/SEND",
                     "payload": "$1"},
                    {"from": "serial:MOT01", "match": "^RET14 (.*)$", "to": "mqtt:S014/MOT01/POS",
                     "payload": "$1", "retain": True},
                    send_route("MOT01")])
        admin.expect(STATUS, "online", timeout=10)
        sync_out(broker, pty, "S013/MOT01/RECM")
        assert broker.subscribed("mqttgw-S013", "S014/MOT01/RECM"), \
            "the gateway did not even try to subscribe to S014 (test broken)"

        # Commands for S014 never reach S013's port, the wildcard route
        # included; its own ones do, in order.
        admin_pubs = [("S014/MOT01/RECM", "HOME"), ("S014/MOT01/CMD", "DRVX+14"),
                      ("S013/MOT01/CMD", "DRVX+13"), ("S014/MOT01/RECM", "DRVY+14"),
                      ("S013/MOT01/RECM", "STOP")]
        for topic, payload in admin_pubs:
            pub(broker, topic, payload)
        lines = port_lines_until(pty, b"STOP\r\n")
        assert lines == [b"DRVX+13\r\n", b"STOP\r\n"], \
            "S013's port got %r (S014's commands must never arrive)" % lines

        # S013's gateway cannot write S014's topics; its own work.
        pty.write(b"FOR14 fake report\r\nRET14 +999\r\nOWN 1\r\n")
        admin.expect("S013/MOT01/SEND", "OWN 1")
        pty.write(b"FOR14 again\r\nOWN 2\r\n")
        admin.expect("S013/MOT01/SEND", "OWN 2")
        ours = set(admin_pubs)
        for m in admin.seen:
            if m.topic.startswith("S014/"):
                assert (m.topic, m.payload) in ours, \
                    "the S013 gateway published on S014's topic %s: %r" % (m.topic, m.raw)
        assert harness.retained_now(broker, "S014/MOT01/POS") is None
        log = broker.log_text()
        assert re.search(r"Denied PUBLISH from mqttgw-S013 .*'S014/MOT01/SEND'", log), \
            "the gateway never tried to publish to S014 (test broken)"
        assert re.search(r"Denied PUBLISH from mqttgw-S013 .*'S014/MOT01/POS'", log)
        assert not re.search(r"Sending PUBLISH to mqttgw-S013 .*'S014/", log), \
            "the broker delivered an S014 message to the S013 gateway"
        gw.assert_running()
        assert "S013/MOT01/SEND" in {m.topic for m in admin.seen}
    st = usr1_stats(gw)
    assert st["connects"] == 1, "the ACL denials cost the gateway its connection: %s" % st



def test_mqtt5_refused_publish_dropped_logged_and_counted():
    # With MQTT 5 the broker says "not authorized" in the PUBACK (reason
    # code 0x87): the gateway drops that message at once (no resend, no
    # reconnect), says which topic, counts it, and the station's own
    # traffic goes on in order.
    logins = {"admin": "admin-pw-1", "S013": "s013-pw-2"}
    passwd, acl = station_acl(logins)
    broker = Broker(extra_conf=acl_broker_conf(passwd, acl))
    pty = Pty()
    with ClientLogin("admin", logins["admin"]):
        admin = Sub(broker, ["#"])
        gw = station_gateway(
            broker, pty, logins["S013"], {"protocol": 5, "stats_topic": STATS, "stats_interval": 1},
            routes=[{"from": "serial:MOT01", "match": "^FOR14 (.*)$", "to": "mqtt:S014/MOT01/SEND",
                     "payload": "$1"},
                    send_route("MOT01")])
        admin.expect(STATUS, "online", timeout=10)
        pty.write(b"OWN 0\r\nFOR14 a\r\nOWN 1\r\nFOR14 b\r\nOWN 2\r\n")
        admin.expect("S013/MOT01/SEND", "OWN 2")
        own = [m.payload for m in admin.seen if m.topic == "S013/MOT01/SEND"]
        assert own == ["OWN 0", "OWN 1", "OWN 2"], own
        logs = gw.wait_for_log(r"the broker refused a publish to S014/MOT01/SEND: Not authorized "
                               r"\(reason code 135\); dropped", timeout=5)
        assert logs
        wait_stats(admin, lambda st: st.get("refused_out") == 2, 5, "refused_out = 2 on the stats topic")
        assert not [m for m in admin.seen if m.topic.startswith("S014/")]
        assert len(re.findall(r"mqtt: connected to", gw.log_text())) == 1, \
            "a refused publish cost the connection"
        gw.assert_running()
    print("# MQTT 5 refusal: 2 publishes refused with reason code 135, dropped and counted; "
          "OWN 0..2 in order, one connection")


class ClosingProxy:
    """A TCP proxy in front of the broker that closes a client's connection
    when the client publishes under a denied prefix: what MQTT 3.1.1 lets a
    broker do with a PUBLISH it does not authorize (3.3.5-2: acknowledge it
    or close the connection), what AWS IoT Core does, and what mosquitto
    2.0.11 does with max_queued_messages 0. .closes counts them."""

    def __init__(self, broker, deny):
        self.broker_port = broker.port
        self.deny = deny
        self.closes = 0
        self.socks = []
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def uri(self):
        return "tcp://127.0.0.1:%d" % self.port

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.broker_port), timeout=5)
            except OSError:
                c.close()
                continue
            b.settimeout(None)
            self.socks += [c, b]
            threading.Thread(target=self._down, args=(b, c), daemon=True).start()
            threading.Thread(target=self._up, args=(c, b), daemon=True).start()

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _down(self, b, c):
        while True:
            try:
                data = b.recv(65536)
                if not data:
                    break
                c.sendall(data)
            except OSError:
                break
        self._close(b, c)

    def _up(self, c, b):
        buf = b""
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                break
            if not data:
                break
            buf += data
            while True:                 # whole packets only
                if len(buf) < 2:
                    break
                n, mult, i = 0, 1, 1
                while i < len(buf) and i <= 4:
                    n += (buf[i] & 0x7f) * mult
                    mult *= 128
                    i += 1
                    if not buf[i - 1] & 0x80:
                        break
                else:
                    break
                if buf[i - 1] & 0x80 or len(buf) < i + n:
                    break
                pkt, buf = buf[:i + n], buf[i + n:]
                if pkt[0] >> 4 == 3:    # PUBLISH
                    tlen = struct.unpack("!H", pkt[i:i + 2])[0]
                    if pkt[i + 2:i + 2 + tlen].startswith(self.deny):
                        self.closes += 1
                        self._close(c, b)
                        return
                try:
                    b.sendall(pkt)
                except OSError:
                    self._close(c, b)
                    return
        self._close(c, b)

    def close(self):
        self._close(self.ls, *self.socks)


def test_denied_publish_closing_the_link_is_not_a_loop():
    # A route whose topic the broker does not authorize (here: another
    # station's) costs at most one reconnect: the station's own traffic
    # must flow again afterwards. The gateway resends an unacknowledged
    # QoS 1 PUBLISH after every reconnect, so a broker that closes the
    # connection on it sees it again, and again.
    _denied_publish_closing_the_link(clean_session=False)


def test_denied_publish_closing_the_link_clean_session():
    # The same with clean_session = true: paho then fails what is in flight
    # before it reports the lost link, and the strike must still go to the
    # message the broker hangs up on (not to none, or to the next one).
    _denied_publish_closing_the_link(clean_session=True)


def _denied_publish_closing_the_link(clean_session):
    broker = Broker()
    proxy = ClosingProxy(broker, b"S014/")
    try:
        pty = Pty()
        sub = Sub(broker, ["S013/#", "S014/#"])
        gw = Gateway(gateway_config(
            proxy.uri, serial=[serial_dev("MOT01", pty.path)],
            mqtt={"reconnect_min_ms": 100, "reconnect_max_ms": 1000, "clean_session": clean_session},
            routes=[{"from": "serial:MOT01", "match": "^FOR14 (.*)$",
                     "to": "mqtt:S014/MOT01/SEND", "payload": "$1"},
                    send_route("MOT01")]))
        sub.expect(STATUS, "online", timeout=10)
        pty.write(b"OWN 0\r\n")
        sub.expect("S013/MOT01/SEND", "OWN 0")
        pty.write(b"FOR14 x\r\n")
        wait_until(lambda: proxy.closes >= 1, 5, what="the proxy to close on the S014 publish")
        pty.write(b"OWN 1\r\n")
        try:
            sub.expect("S013/MOT01/SEND", "OWN 1", timeout=10)
        except AssertionError as e:
            raise AssertionError("%s\nthe S014 publish closed the link %d times; the gateway "
                                 "resends it after every reconnect" % (e, proxy.closes))
        pty.write(b"OWN 2\r\n")
        sub.expect("S013/MOT01/SEND", "OWN 2", timeout=5)
        n = proxy.closes
        time.sleep(1.5)                 # bounded "nothing happens": the link stays up
        assert proxy.closes == n, "the link keeps being closed (%d times)" % proxy.closes
        assert not [m for m in sub.seen if m.topic.startswith("S014/")]
        # dropped, and said so: the user sees which topic the broker refuses
        gw.wait_for_log(r"the connection died within \d+ ms of sending a publish to S014/MOT01/SEND, "
                        r"3 times in a row; dropped", timeout=1)
        assert not re.search(r"publish to S013/", gw.log_text()), \
            "a publish of the station's own was blamed for the hang-ups"
        print("# denied publish closing the link (clean_session %s): closed %d times, then "
              "dropped; the station's own traffic flowed again"
              % (str(clean_session).lower(), proxy.closes))
        gw.assert_running()
    finally:
        proxy.close()


# --------------------------------------------------------------------------
# 7. The systemd unit's sandbox

def test_systemd_unit_sandbox():
    unit = os.path.join(ROOT, "raspbian", "mqttgw.service")
    with open(unit) as f:
        text = f.read()
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        k, _, v = line.partition("=")
        settings.setdefault(k.strip(), []).append(v.strip())

    def one(k):
        assert k in settings, "%s is not set" % k
        return settings[k][-1]

    assert one("ProtectSystem") == "strict"
    assert one("ProtectHome") in ("yes", "true", "read-only", "tmpfs")
    assert one("PrivateTmp") in ("yes", "true")
    assert one("NoNewPrivileges") in ("yes", "true")
    fams = one("RestrictAddressFamilies").split()
    assert fams and not fams[0].startswith("~") and set(fams) <= {"AF_INET", "AF_INET6", "AF_UNIX"}, \
        "RestrictAddressFamilies=%s" % fams
    assert one("CapabilityBoundingSet") == "", "CapabilityBoundingSet is not empty"
    assert settings.get("AmbientCapabilities", [""])[-1] == ""
    assert one("DevicePolicy") in ("closed", "strict")
    assert settings.get("DeviceAllow"), "no DeviceAllow"
    assert one("StateDirectory")
    assert one("User") not in ("", "root", "0")
    exec_start = one("ExecStart")
    assert "--allow-root" not in exec_start
    assert not re.search(r"(?i)passw|secret|token|-P\b|-u\b|@", exec_start), \
        "a secret on the ExecStart line: %r" % exec_start
    assert not any(k == "Environment" and re.search(r"(?i)pass|secret", v)
                   for k, vs in settings.items() for v in vs), "a secret in Environment="

    if shutil.which("systemd-analyze"):
        # The unit as installed, pointing at the binary that exists here;
        # --man=no: the man pages are not installed on a build machine.
        copy = tmppath("mqttgw.service")
        with open(copy, "w") as f:
            f.write(text.replace("/usr/bin/mqttgw", MQTTGW))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", copy],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                           encoding="utf-8", errors="replace")
        out = "\n".join(l for l in r.stdout.splitlines() if l.strip())
        assert r.returncode == 0 and not out, \
            "systemd-analyze verify (exit %d):\n%s" % (r.returncode, out)
