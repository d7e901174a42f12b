"""
test_mqtt_connection.py - the gateway's broker connection, end to end: the
real daemon, real mosquitto brokers (killed, refusing, behind TLS, frozen),
ptys.

What a user sees, case by case:
  * failover across mqtt.uris: the first broker killed, the gateway online
    on the second, and it stays there;
  * TLS (ssl:// and mqtts://, client certificates, verification on by
    default, verify = false); username + password_file (a wrong password is
    retried with backoff, a password file readable by others is refused);
  * MQTT 5 round trip and reason codes in words;
  * a link that dies without a TCP error: an MQTT 5 DISCONNECT from the
    broker, or acknowledgements that stop coming (mqtt.ack_timeout_ms), is
    a lost link, and the queue goes out again in order on a new one.

The streams that must lose nothing across broker kills, network cuts and
gateway kills are test_mqtt_reliability.py: the two were one file, split by
concern; their shared rig (rel_config, session_sync_in, SessionSub, ...) is
harness/reliability.py and harness/session.py.

Figures (time to fail over, connect attempts, what the log says) are
printed as "# " lines; tests/run.py passes a test's stdout through.
"""

import os
import re
import signal
import subprocess
import time

import harness
from harness import (Broker, Gateway, Pty, SessionSub, Sub, connect_attempts, connected_count,
                     figure, free_port, gateway_config, mosquitto_passwd, pub, rel_config,
                     retained_now, secret_file, serial_dev, session_sync_in, sync_out, tmppath,
                     wait_retained, wait_until)
from harness import rel_routes as routes

TIMEOUT = 60

# Open problems these tests show (tests/run.py lists them as SKIP with the
# reason; MQTTGW_RUN_KNOWN=1 runs them). See issue 4's closing note.
KNOWN_ISSUES = {}


# --------------------------------------------------------------------------
# Rig

def session_sync_in_sub(pty, sub, topic, timeout=15.0):
    """session_sync_in for a harness Sub (mosquitto_sub)."""
    deadline = time.monotonic() + timeout
    k = 0
    while True:
        k += 1
        pty.write(b"SYNC %d\r\n" % k)
        try:
            while True:
                m = sub.expect(topic, timeout=min(1.0, max(0.05, deadline - time.monotonic())))
                if m.payload == "SYNC %d" % k:
                    return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise AssertionError("no SYNC line written to %s reached %s within %.0fs"
                                     % (pty.path, topic, timeout))


def both_ways(broker, pty, sub, k):
    """A command reaches the port (DRVZ+k), a frame (HELLO k) and a position
    (POSZ, k) from the port are published: the link works both ways."""
    pub(broker, "S013/MOT01/RECM", "DRVZ+%d" % k)
    assert pty.read_line() == b"DRVZ+%d\r\n" % k
    pty.write(b"HELLO %d\r\n" % k)
    sub.expect("S013/MOT01/SEND", "HELLO %d" % k)
    pty.write(b"POSZ+%06d\r\n" % k)
    sub.expect("S013/MOT01/POS/Z", "+%06d" % k)


# --------------------------------------------------------------------------
# 3. failover across uris

def test_failover_to_second_uri():
    b1 = Broker()
    b2 = Broker()
    pty = Pty()
    sub2 = Sub(b2, ["S013/#"])
    gw = Gateway(rel_config(b1, pty.path, mqtt={"uri": None, "uris": [b1.uri, b2.uri]}))
    gw.wait_for_log(r"mqtt: connected to", timeout=10)
    wait_retained(b1, "S013/gateway/status", "online")
    sync_out(b1, pty)
    attempts0 = connect_attempts(gw)
    on_b2_before = b2.foreign_clients().count("mqttgw-S013")

    b1.kill()
    t_kill = time.monotonic()
    sub2.expect("S013/gateway/status", "online", timeout=15)
    t_online = time.monotonic()
    wait_until(lambda: connected_count(gw) >= 2, 5, what="the daemon to log the reconnect")
    attempts = connect_attempts(gw) - attempts0
    # Traffic continues on the second broker, both ways.
    sync_out(b2, pty)
    both_ways(b2, pty, sub2, 2)
    wait_retained(b2, "S013/gateway/status", "online")
    # And it stays there: no more connection attempts once connected.
    window0 = connect_attempts(gw)
    sub2.expect_none(1.5, topic="S013/gateway/status")
    extra = connect_attempts(gw) - window0
    on_b2 = b2.foreign_clients().count("mqttgw-S013") - on_b2_before
    said = re.findall(r"mqtt: connected to (\S+)", gw.log_text())
    figure("failover: online on the second broker %.2fs after the first was killed; "
           "%d connect attempt(s) by the daemon, %d connection(s) at the second broker; "
           "the log says connected to %s", t_online - t_kill, attempts, on_b2, said)
    problems = []
    if on_b2_before:
        problems.append("the gateway was on the second broker before the failover")
    if not 1 <= attempts <= 3:
        problems.append("%d connection attempts to fail over (expected 1..3)" % attempts)
    if on_b2 != 1:
        problems.append("%d connections at the second broker (expected 1)" % on_b2)
    if extra:
        problems.append("%d more connection attempts while connected to the second broker"
                        % extra)
    if said[-1] != b2.uri:
        problems.append("after the failover the log says \"connected to %s\" (the dead "
                        "broker); it is connected to %s" % (said[-1], b2.uri))
    assert not problems, "\n".join(problems)
    gw.assert_running()


# --------------------------------------------------------------------------
# 5. TLS

_tls = {}


def _openssl(*args):
    r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    if r.returncode != 0:
        raise harness.HarnessError("openssl %s failed: %s" % (" ".join(args),
                                                              r.stdout.decode()[-500:]))


def make_pki(d):
    """CA, a second unrelated CA, a server cert for 127.0.0.1 and a client
    cert, all EC P-256 (fast), in d."""
    p = {k: os.path.join(d, k) for k in ("ca.crt", "ca.key", "ca2.crt", "ca2.key", "server.crt",
                                         "server.key", "client.crt", "client.key")}
    for ca, cn in (("ca", "mqttgw test CA"), ("ca2", "some other CA")):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", p[ca + ".key"], "-out", p[ca + ".crt"], "-days", "2",
                 "-subj", "/CN=" + cn)
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                "extendedKeyUsage = serverAuth\n")
    cext = os.path.join(d, "client.ext")
    with open(cext, "w") as f:
        f.write("extendedKeyUsage = clientAuth\n")
    for who, cn, e in (("server", "127.0.0.1", ext), ("client", "mqttgw-client", cext)):
        csr = os.path.join(d, who + ".csr")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", p[who + ".key"], "-out", csr, "-subj", "/CN=" + cn)
        _openssl("x509", "-req", "-in", csr, "-CA", p["ca.crt"], "-CAkey", p["ca.key"],
                 "-CAcreateserial", "-out", p[who + ".crt"], "-days", "2", "-extfile", e)
    for k in p:
        os.chmod(p[k], 0o600 if k.endswith(".key") else 0o644)
    return p


def setup_module():
    _tls.clear()
    _tls.update(make_pki(harness.tmpdir()))


def tls_broker():
    """A broker with the harness's plain listener plus two TLS listeners:
    tls_port (server cert only) and mtls_port (client cert required)."""
    tls_port, mtls_port = free_port(), free_port()
    while mtls_port == tls_port:
        mtls_port = free_port()
    conf = ("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
            "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
            "require_certificate true\n"
            % (tls_port, _tls["ca.crt"], _tls["server.crt"], _tls["server.key"],
               mtls_port, _tls["ca.crt"], _tls["server.crt"], _tls["server.key"]))
    b = Broker(extra_conf=conf)
    for p in (tls_port, mtls_port):
        wait_until(lambda: harness._can_connect(p), 5, what="TLS listener %d" % p)
    return b, tls_port, mtls_port


def test_tls_connects_verifies_and_refuses():
    broker, tls_port, mtls_port = tls_broker()
    sub = Sub(broker, ["+/gateway/status"])
    ca, ca2 = _tls["ca.crt"], _tls["ca2.crt"]
    client = {"cert_file": _tls["client.crt"], "key_file": _tls["client.key"]}
    cases = [  # station, uri, tls group, expected to come online
        ("SSL", "ssl://127.0.0.1:%d" % tls_port, {"ca_file": ca}, True),
        ("MQTTS", "mqtts://127.0.0.1:%d" % tls_port, {"ca_file": ca}, True),
        ("MTLS", "ssl://127.0.0.1:%d" % mtls_port, dict(client, ca_file=ca), True),
        ("NOCERT", "ssl://127.0.0.1:%d" % mtls_port, {"ca_file": ca}, False),
        ("OTHERCA", "ssl://127.0.0.1:%d" % tls_port, {"ca_file": ca2}, False),
        ("NOVERIFY", "ssl://127.0.0.1:%d" % tls_port, {"ca_file": ca2, "verify": False}, True),
    ]
    gws, ptys = {}, {}
    for st, uri, tls, _ in cases:
        pty = ptys[st] = Pty()
        gws[st] = Gateway(rel_config(uri, pty.path, station=st, mqtt={"tls": tls}),
                          name="gw-" + st)
    t0 = time.monotonic()
    online = {}
    for st, uri, tls, ok in cases:
        if ok:
            try:
                sub.expect("%s/gateway/status" % st, "online", timeout=max(0.5, 10 - (
                    time.monotonic() - t0)))
                online[st] = True
            except AssertionError:
                online[st] = False
    # Traffic over TLS, both schemes.
    sub2 = Sub(broker, ["SSL/MOT01/SEND", "MQTTS/MOT01/SEND"])
    for st in ("SSL", "MQTTS"):
        if online.get(st):
            session_sync_in_sub(ptys[st], sub2, "%s/MOT01/SEND" % st)
    # The refused ones (OTHERCA: the broker's certificate is signed by a CA
    # the gateway does not trust, verification left at its default; NOCERT:
    # no client certificate where one is required): never online during a
    # bounded window, and the log says why.
    sub.expect_none(max(0.0, 3.0 - (time.monotonic() - t0)), topic="OTHERCA/gateway/status")
    sub.drain()
    for st in ("OTHERCA", "NOCERT"):
        seen = [m for m in sub.seen if m.topic == "%s/gateway/status" % st]
        assert not seen, "%s came online: %r" % (st, seen)
        assert retained_now(broker, "%s/gateway/status" % st) is None
    msgs = {}
    for st, uri, tls, ok in cases:
        if not ok:
            m = gws[st].wait_for_log(r"mqtt: cannot connect to .*", timeout=5)
            msgs[st] = m.group(0)
            gws[st].assert_running()
    figure("TLS: online %s; refused: %s", sorted(k for k, v in online.items() if v),
           "; ".join("%s: %s" % kv for kv in sorted(msgs.items())))
    problems = []
    for st, uri, tls, ok in cases:
        if ok and not online[st]:
            problems.append("%s (%s, tls %s) never came online; log: %s" % (
                st, uri, tls, gws[st].log_tail(4).replace("\n", " | ")))
    if not re.search(r"certificate|verif", msgs["OTHERCA"], re.I):
        problems.append("a broker signed by another CA was refused without saying why: %r"
                        % msgs["OTHERCA"])
    for st in ("OTHERCA", "NOCERT"):
        if "mqttgw-%s" % st in broker.foreign_clients():
            problems.append("%s completed an MQTT CONNECT on the broker" % st)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# 6. username + password_file

def password_broker(user="gwuser", password="s3cret"):
    pwfile = mosquitto_passwd(tmppath("mosquitto.passwd"), {user: password})
    return Broker(extra_conf="allow_anonymous false\npassword_file %s" % pwfile)


def attempt_times(gw, window):
    """Poll the daemon's log for "connecting to" lines for window seconds;
    returns the times (relative to the start) they were first seen."""
    seen = []
    base = connect_attempts(gw)
    t0 = time.monotonic()
    while time.monotonic() - t0 < window:
        k = connect_attempts(gw) - base
        while len(seen) < k:
            seen.append(time.monotonic() - t0)
        time.sleep(0.01)
    return seen


def test_wrong_password_backoff_and_password_file_mode():
    broker = password_broker()
    good = secret_file("good.pw", "s3cret", 0o600)
    bad = secret_file("bad.pw", "wrong", 0o600)
    loose = secret_file("loose.pw", "s3cret", 0o644)
    problems = []

    # Mode 0644: refused at start, exit 2, FILE:LINE and the fix in the message.
    cfg = rel_config(broker, "/dev/null", station="LOOSE",
                     mqtt={"username": "gwuser", "password_file": loose})
    gl = Gateway(cfg, name="gw-loose")
    rc = gl.wait(10)
    text = gl.log_text()
    assert rc == 2, "mqttgw with a 0644 password file: exit %r\n%s" % (rc, text)
    cfgname = re.escape(os.path.basename(gl.config_path))
    m = re.search(r"%s:(\d+): .*" % cfgname, text)
    assert m, "no FILE:LINE in %r" % text
    lines = open(gl.config_path).read().splitlines()
    lineno = int(m.group(1))
    assert 1 <= lineno <= len(lines) and re.search(r"mqtt|password_file", lines[lineno - 1]), \
        "line %d of the config is %r, not the mqtt group or its password_file" % (
            lineno, lines[lineno - 1] if 1 <= lineno <= len(lines) else None)
    assert "chmod 600" in m.group(0) and "loose.pw" in m.group(0), m.group(0)
    assert "mqttgw-LOOSE" not in broker.clients(), "it connected to the broker anyway"
    figure("password_file mode 0644: exit %d, %s", rc, m.group(0).split(": ", 1)[1])

    # Wrong password: a clear error, retried with backoff (500 ms doubling to 2 s).
    pty = Pty()
    gb = Gateway(rel_config(broker, pty.path, station="BAD",
                            mqtt={"username": "gwuser", "password_file": bad,
                                  "reconnect_min_ms": 500, "reconnect_max_ms": 2000}),
                 name="gw-bad")
    m = gb.wait_for_log(r"mqtt: cannot connect to .*", timeout=10)
    refused0 = len(re.findall(r"Sending CONNACK to \S+ \(0, 5\)", broker.log_text()))
    times = attempt_times(gb, 5.0)
    refused = len(re.findall(r"Sending CONNACK to \S+ \(0, 5\)", broker.log_text())) - refused0
    gaps = [b - a for a, b in zip(times, times[1:])]
    figure("wrong password: %d connect attempts by the daemon and %d refused CONNECTs at the "
           "broker in the 5.0 s after the first refusal, gaps %s s; log: %s",
           len(times), refused, ["%.2f" % g for g in gaps], m.group(0))
    if not re.search(r"not authori[sz]ed|bad user ?name or password", m.group(0), re.I):
        problems.append("the refusal does not say why in words: %r" % m.group(0))
    # 500, 1000, 2000, 2000 ms: 3..4 attempts in 5 s; a tight loop makes dozens.
    if not 2 <= len(times) <= 6:
        problems.append("%d connection attempts in 5 s: %s" % (len(times), times))
    if refused > 6:
        problems.append("%d refused CONNECTs at the broker in 5 s" % refused)
    if not all(g >= 0.4 for g in gaps):
        problems.append("attempts closer than reconnect_min_ms: %s" % gaps)
    if not all(b >= a - 0.2 for a, b in zip(gaps, gaps[1:])):
        problems.append("the backoff shrinks: %s" % gaps)
    if "mqttgw-BAD" in broker.clients():
        problems.append("connected with a wrong password")
    gb.assert_running()

    # Mode 0600 and the right password: it connects.
    pty2 = Pty()
    Gateway(rel_config(broker, pty2.path, station="GOOD",
                       mqtt={"username": "gwuser", "password_file": good}), name="gw-good")
    sub = SessionSub(broker.port, ["GOOD/#"], "rel-auth-sub", clean=True, username="gwuser",
                     password="s3cret")
    sub.wait_payload("GOOD/gateway/status", "online", timeout=10)
    session_sync_in(pty2, sub, "GOOD/MOT01/SEND")
    assert "mqttgw-GOOD" in broker.clients()
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# 7. MQTT 5

def test_mqtt5_round_trip_and_reason_codes():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    gw = Gateway(rel_config(broker, pty.path, mqtt={"protocol": 5}))
    sub.expect("S013/gateway/status", "online", timeout=10)
    sync_out(broker, pty)
    both_ways(broker, pty, sub, 5)
    assert re.search(r"New client connected from \S+ as mqttgw-S013 \(p5,", broker.log_text()), \
        "the broker did not see an MQTT 5 connection"
    gw.assert_running()

    # A broker that refuses: the reason code, in words, in the log.
    pb = password_broker()
    bad = secret_file("bad5.pw", "wrong", 0o600)
    pty2 = Pty()
    g5 = Gateway(rel_config(pb, pty2.path, station="V5",
                            mqtt={"protocol": 5, "username": "gwuser", "password_file": bad}),
                 name="gw-v5")
    m = g5.wait_for_log(r"mqtt: cannot connect to .*", timeout=10)
    figure("MQTT 5 refusal logged as: %s", m.group(0))
    assert re.search(r"(bad user ?name or password|not authori[sz]ed)\W.*reason code 13[45]",
                     m.group(0), re.I), "no reason code in words: %r" % m.group(0)
    g5.assert_running()


# --------------------------------------------------------------------------
# The link dies without a TCP error: an MQTT 5 DISCONNECT from the broker,
# or acknowledgements that stop coming

def test_mqtt5_broker_disconnect_is_a_lost_link():
    # A broker may end an MQTT 5 connection with a DISCONNECT packet
    # (mosquitto for a packet over max_packet_size; EMQX or HiveMQ for a
    # kick, a session takeover, a shutdown). paho 1.3.12 does not report
    # that as a lost connection: the gateway must, or it thinks itself
    # connected for ever, queues everything and never reconnects.
    # (3000: above the gateway's info document, ~1.3 KB here, which goes out on every connect)
    broker = Broker(extra_conf="max_packet_size 3000")
    pty = Pty()
    sub = Sub(broker, ["S013/MOT01/SEND"])
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", pty.path, max_frame=6000)],
                         routes=routes(),
                         mqtt={"protocol": 5, "keepalive": 5, "clean_session": False,
                               "reconnect_min_ms": 100, "reconnect_max_ms": 1000})
    gw = Gateway(cfg)
    wait_retained(broker, "S013/gateway/status", "online", timeout=10)
    pty.write(b"OWN 0\r\n")
    sub.expect("S013/MOT01/SEND", "OWN 0", timeout=10)
    t0 = time.monotonic()
    pty.write(b"BIG " + b"x" * 5000 + b"\r\n")      # over the broker's max_packet_size
    gw.wait_for_log(r"mqtt: connection lost: broker disconnected us: .*\(reason code 149\); "
                    r"reconnecting", timeout=10)
    pty.write(b"OWN 1\r\n")
    sub.expect("S013/MOT01/SEND", "OWN 1", timeout=20)
    t_back = time.monotonic() - t0
    # the oversized one is what every connection died on: dropped after three, and said so
    gw.wait_for_log(r"the connection died within \d+ ms of sending a publish to S013/MOT01/SEND, "
                    r"3 times in a row; dropped", timeout=5)
    pty.write(b"OWN 2\r\n")
    sub.expect("S013/MOT01/SEND", "OWN 2", timeout=5)
    figure("MQTT 5 DISCONNECT (packet too large): %d connects, traffic back after %.2fs",
           connected_count(gw), t_back)
    assert connected_count(gw) >= 2
    assert not [m for m in sub.seen if m.payload.startswith("BIG ")]
    gw.assert_running()


def test_ack_timeout_replaces_the_link_and_keeps_order():
    # The broker stops answering while TCP stays up (here: SIGSTOP). After
    # mqtt.ack_timeout_ms the link is taken for dead and the queue is sent
    # again in order on a new one. Sending the oldest again on the same
    # connection would put it after a newer state (ON, OFF, ON) and leave
    # the retained state at a value the device no longer has.
    broker = Broker()
    pty = Pty()
    topic = "S013/MOT01/STATE"
    sub = Sub(broker, [topic])
    state = {"from": "serial:MOT01", "match": "^STATE (.*)$", "to": "mqtt:${station}/MOT01/STATE",
             "payload": "$1", "retain": True, "qos": 1}
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", pty.path)], routes=[state] + routes(),
                         mqtt={"keepalive": 30, "clean_session": False, "reconnect_min_ms": 100,
                               "reconnect_max_ms": 1000, "ack_timeout_ms": 1000})
    gw = Gateway(cfg)
    wait_retained(broker, "S013/gateway/status", "online", timeout=10)
    sync_out(broker, pty)
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        pty.write(b"STATE ON\r\nSTATE OFF\r\n")
        gw.wait_for_log(r"mqtt: connection lost: no acknowledgement for a publish to "
                        r"S013/MOT01/STATE in 1000 ms; reconnecting", timeout=10)
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    wait_until(lambda: connected_count(gw) >= 2, 15, what="the gateway to reconnect")
    pty.write(b"STATE DONE\r\n")                    # everything before it is delivered first
    sub.expect(topic, "DONE", timeout=10)
    seen = [m.payload for m in sub.seen if m.topic == topic]
    before = seen[:seen.index("DONE")]
    figure("ack timeout: link replaced after %.2fs, the subscriber saw %s",
           time.monotonic() - t0, ", ".join(seen))
    assert before and before[-1] == "OFF", \
        "the last state before DONE was %r, not OFF: %s (an old state sent again after a newer one)" \
        % (before[-1] if before else None, seen)
    gw.assert_running()
