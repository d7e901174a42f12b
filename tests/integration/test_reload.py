"""
test_reload.py - SIGHUP applies every setting of the mqtt and buffer groups
(issue 14, point 2), under traffic.

Each test runs the real daemon against real mosquittos with a pty as its
serial port. A feeder thread writes numbered lines into the pty at a steady
rate; while it runs, the config is rewritten with one changed setting and
the daemon gets SIGHUP. Then every line must have arrived, once and in
order (a QoS 1 resend would show as a repeat: counted, and the lines' first
copies must still be in order), the new value must be in force as seen from
outside (the broker's log of the connection, where the messages arrive, the
retained status, a command still reaching the pty), and the daemon still
runs. Each test prints one summary line, "reload-summary: NAME sent=N
received=M unique=U repeats=R", for the closing note of the issue.
"""

import os
import re
import signal
import subprocess
import time

import harness
from harness import (Broker, Gateway, Pty, Sub, gateway_config, pub, serial_dev,
                     wait_retained, wait_until)

STATUS = "S013/gateway/status"
SEND = "S013/MOT01/SEND"
CMD = "S013/MOT01/RECM"
N = 400              # lines a test feeds
PERIOD = 0.004       # one line each 4 ms: 250 lines/s
RELOAD_AT = 120      # the SIGHUP goes once this many lines are written

# Tests that show an open problem are listed here, not hidden (the runner
# skips them with the reason; MQTTGW_RUN_KNOWN=1 runs them).
# None today: the two QoS 2 backlog tests that were listed here (mosquitto's
# max_inflight_messages against a 3.1.1 backlog) pass since the publish
# window caps QoS 2 on 3.1.1 (MQTT_WINDOW_QOS2_V311, gateway/mqtt_int.h).
KNOWN_ISSUES = {}


def routes(**send_kw):
    r = {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND"}
    r.update(send_kw)
    return [{"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01"}, r]


def Feeder(pty, n=N, at=RELOAD_AT, period=PERIOD, prefix=b"SEQ"):
    """harness.Feeder with this file's stream: N lines at 250/s, the reload at line RELOAD_AT."""
    return harness.Feeder(pty, n, period, at=at, prefix=prefix)


def collect(subs, n, prefix="SEQ ", topic=SEND, timeout=30.0, last=None):
    """Numbers of the prefix lines on topic from all subs until n distinct
    ones came, or line `last` did (or the deadline): a list in arrival order
    per sub, joined in the order subs are given (an old broker's, then a
    new one's)."""
    got = [[] for _ in subs]
    deadline = time.monotonic() + timeout

    def done():
        seen = set(x for g in got for x in g)
        return last in seen if last is not None else len(seen) >= n
    while not done() and time.monotonic() < deadline:
        for i, s in enumerate(subs):
            m = s.next(0.02)
            while m is not None:
                if m.topic == topic and m.payload.startswith(prefix):
                    got[i].append(int(m.payload[len(prefix):]))
                m = s.next(0.0)
    return [x for g in got for x in g]


def check_stream(name, got, n, first=1):
    """Every line first..n, the first copies in order; prints the summary."""
    firsts, seen = [], set()
    for x in got:
        if x not in seen:
            seen.add(x)
            firsts.append(x)
    want = list(range(first, n + 1))
    print("reload-summary: %s sent=%d received=%d unique=%d repeats=%d"
          % (name, len(want), len(got), len(firsts), len(got) - len(firsts)))
    missing = sorted(set(want) - seen)
    assert not missing, "%s: %d lines lost across the reload, e.g. %r" % (name, len(missing), missing[:20])
    assert firsts == want, "%s: lines out of order across the reload: %r" % (
        name, [(a, b) for a, b in zip(firsts, want) if a != b][:10])


def command_reaches(broker, pty, payload="STOP"):
    """A command published on broker reaches the port (retried: the new
    client may still be subscribing)."""
    def once():
        pub(broker, CMD, payload)
        try:
            while True:
                line = pty.read_line(0.5)
                if line == payload.encode() + b"\r\n":
                    return True
        except AssertionError:
            return False
    wait_until(once, 15, interval=0.0, what="command %s reaching the port" % payload)


def connect_lines(broker, client_id="mqttgw-S013"):
    """mosquitto's "New client connected ... as ID (pP, cC, kK[, u'U'])" lines."""
    return re.findall(r"New client connected from \S+ as %s \(([^)]*)\)" % re.escape(client_id),
                      broker.log_text())


def wait_for_first_line(pty, sub):
    """Lines written now are read and published: "SYNC k" until one arrives."""
    k = [0]

    def once():
        k[0] += 1
        pty.write(b"SYNC %d\r\n" % k[0])
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            m = sub.next(0.05)
            if m is not None and m.topic == SEND and m.payload.startswith("SYNC "):
                return True
        return False
    wait_until(once, 20, interval=0.0, what="a line published")
    sub.drain()


def start(broker, rts=None, **cfg_kw):
    """A pty, the daemon on broker with rts (default: routes()) and cfg_kw
    (gateway_config's), a subscriber on S013/#; returns (cfg, pty, sub, gw)
    once the status says "online" and a line from the port was published."""
    pty = Pty()
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", pty.path)], routes=rts or routes(), **cfg_kw)
    sub = Sub(broker, ["S013/#"])
    gw = Gateway(cfg)
    sub.expect(cfg["mqtt"].get("status_topic", STATUS).replace("${station}", "S013"), "online", timeout=15)
    wait_for_first_line(pty, sub)
    return cfg, pty, sub, gw


def sighup(gw, new, expect=r"reloaded "):
    """Write the new config, SIGHUP, wait for expect in the log; the log mark before."""
    mark = gw.log_mark()
    gw.rewrite_config(new)
    gw.signal(signal.SIGHUP)
    gw.wait_for_log(expect, since=mark, timeout=15)
    return mark


def broker_gone(gw, broker, sub):
    """The subscriber and then the broker stop; returns once the daemon saw it."""
    sub.stop()
    mark = gw.log_mark()
    broker.stop()
    gw.wait_for_log(r"connection lost", since=mark)


def write_offline(pty, prefix, n):
    """n lines "PREFIX 00001".. while the broker is away; returns once the
    daemon read them (so queued, or dropped)."""
    for i in range(1, n + 1):
        pty.write(b"%s %05d\r\n" % (prefix, i))
    pty.wait_drained()


def broker_back(broker):
    """The broker starts again; a subscriber on S013/# of it."""
    broker.start()
    return Sub(broker, ["S013/#"])


def run_case(name, broker_list, old_mqtt, new_mqtt, new_brokers=None, top_old=None, top_new=None,
             sub_topics=("S013/#",), n=N):
    """Start on old settings, feed N lines, reload to the new ones at
    RELOAD_AT, check every line arrived (on the brokers' subscribers, the
    old broker's first); returns (gw, pty, subs, log mark of the reload)."""
    subs = [Sub(b, list(sub_topics)) for b in broker_list[1:]]
    cfg, pty, sub, gw = start(broker_list[0], mqtt=old_mqtt, **(top_old or {}))
    subs.insert(0, sub)
    new = gateway_config(broker_list[0], serial=[serial_dev("MOT01", pty.path)], routes=routes(),
                         mqtt=new_mqtt, **(top_new or {}))
    feeder = Feeder(pty, n=n)
    feeder.start()
    assert feeder.reached.wait(30)
    mark = sighup(gw, new)
    feeder.join(60)
    assert feeder.error is None, feeder.error
    got = collect(subs if new_brokers is None else [subs[i] for i in new_brokers], n)
    check_stream(name, got, n)
    gw.assert_running()
    return gw, pty, subs, mark


# --------------------------------------------------------------------------
# the mqtt group

def test_reload_uri_moves_to_a_second_broker():
    """uri -> another broker: the lines before the reload are on the first,
    the rest on the second, none lost, in order; the first broker's status
    says "offline" (retained), the second's "online"; commands come from the
    second broker."""
    a, b = Broker(), Broker()
    gw, pty, subs, mark = run_case("uri", [a, b], {}, {"uri": b.uri})
    wait_retained(b, STATUS, "online")
    wait_retained(a, STATUS, "offline")
    command_reaches(b, pty)
    assert connect_lines(b), "no connection on the new broker:\n%s" % b.log_text()[-2000:]


def test_reload_client_id():
    a = Broker()
    gw, pty, subs, mark = run_case("client_id", [a], {}, {"client_id": "mqttgw-renamed"})
    wait_until(lambda: connect_lines(a, "mqttgw-renamed"), 10, what="a connection as mqttgw-renamed")
    wait_retained(a, STATUS, "online")
    command_reaches(a, pty)


def _protocol(old, new):
    a = Broker()
    name = "protocol_%d_to_%d" % (old, new)
    gw, pty, subs, mark = run_case(name, [a], {"protocol": old}, {"protocol": new})
    p = {4: "p2", 5: "p5"}
    wait_until(lambda: len(connect_lines(a)) >= 2 and connect_lines(a)[-1].startswith(p[new]), 10,
               what="a connection with MQTT %d" % new)
    assert connect_lines(a)[0].startswith(p[old]), connect_lines(a)
    assert not re.search(r"wrong MQTT version|publish to .* failed", gw.log_text()[mark:]), gw.log_tail(20)
    wait_retained(a, STATUS, "online")
    command_reaches(a, pty)


def test_reload_protocol_4_to_5():
    """The issue's bug: accepted, then every publish failed ("Options for
    wrong MQTT version"), or refused as needing a restart."""
    _protocol(4, 5)


def test_reload_protocol_5_to_4():
    _protocol(5, 4)


def test_reload_keepalive_and_clean_session():
    a = Broker()
    gw, pty, subs, mark = run_case("keepalive_clean_session", [a], {"keepalive": 10, "clean_session": True},
                                   {"keepalive": 7, "clean_session": False})
    wait_until(lambda: len(connect_lines(a)) >= 2, 10, what="a second connection")
    last = connect_lines(a)[-1]
    assert "k7" in last and "c0" in last, last
    command_reaches(a, pty)


def test_reload_session_expiry():
    a = Broker()
    gw, pty, subs, mark = run_case("session_expiry", [a], {"protocol": 5, "clean_session": False},
                                   {"protocol": 5, "clean_session": False, "session_expiry": 120})
    wait_until(lambda: len(connect_lines(a)) >= 2, 10, what="a second connection")
    command_reaches(a, pty)


def test_reload_default_qos():
    """mqtt.qos (the routes' default) 1 -> 0: applies to the running client,
    the lines after it arrive with QoS 0."""
    a = Broker()
    gw, pty, subs, mark = run_case("qos", [a], {"qos": 1}, {"qos": 0})
    pty.write(b"AFTER QOS\r\n")
    m = subs[0].expect(SEND, "AFTER QOS")
    assert m.qos == 0, m


def _passwd(path, user, password):
    r = subprocess.run(["mosquitto_passwd", "-b", path, user, password], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    assert r.returncode == 0, r.stdout


def test_reload_username_and_password_file():
    """A broker with a password file (a client that names a user must bring
    its password; the harness's own clients stay anonymous): alice -> bob,
    each with a password file of their own; then bob's password changes in the same file and on
    the broker: a reload with an unchanged config makes a new client with it."""
    d = harness.tmpdir()
    pw = os.path.join(d, "mosquitto.passwd")
    open(pw, "w").close()
    _passwd(pw, "alice", "alice-secret")
    _passwd(pw, "bob", "bob-secret")
    a = Broker(extra_conf="password_file %s" % pw)
    files = {}
    for who in ("alice", "bob"):
        files[who] = os.path.join(d, "%s.pw" % who)
        with open(files[who], "w") as f:
            f.write("%s-secret\n" % who)
        os.chmod(files[who], 0o600)
    gw, pty, subs, mark = run_case("username_password_file", [a],
                                   {"username": "alice", "password_file": files["alice"]},
                                   {"username": "bob", "password_file": files["bob"]})
    wait_until(lambda: any("u'bob'" in c for c in connect_lines(a)), 10, what="a connection as bob")
    command_reaches(a, pty)
    # rotated: bob's password changes on the broker and in the same file; the config is the same
    _passwd(pw, "bob", "bob-rotated")
    os.kill(a.proc.pid, signal.SIGHUP)      # mosquitto reads its password file again
    with open(files["bob"], "w") as f:
        f.write("bob-rotated\n")
    n = len(connect_lines(a))
    new = gateway_config(a, serial=[serial_dev("MOT01", pty.path)], routes=routes(),
                         mqtt={"username": "bob", "password_file": files["bob"]})
    mark = sighup(gw, new)
    gw.wait_for_log(r"mqtt: settings changed: a new client", since=mark)
    wait_until(lambda: len(connect_lines(a)) > n, 10, what="a connection with the rotated password")
    command_reaches(a, pty)
    assert "bad user name or password" not in gw.log_text()[mark:], gw.log_tail(20)


def test_reload_status_topic_moves_will_and_status():
    """status_topic: the old topic says "offline" (retained), the new one
    "online"; and the new one is the will: a kill -9 makes it "offline"."""
    a = Broker()
    gw, pty, subs, mark = run_case("status_topic", [a], {}, {"status_topic": "S013/gw/state"},
                                   sub_topics=("S013/#",))
    wait_retained(a, "S013/gw/state", "online")
    wait_retained(a, STATUS, "offline")
    # the replaced client left with a clean DISCONNECT (its will discarded), on MQTT 3.1.1 and 5 alike
    wait_until(lambda: re.search(r"Client mqttgw-S013 disconnected\.", a.log_text()), 10,
               what="the replaced client's DISCONNECT in the broker's log")
    assert not re.search(r"cannot disconnect|did not disconnect in time", gw.log_text()[mark:]), gw.log_tail(20)
    command_reaches(a, pty)
    gw.kill()
    wait_retained(a, "S013/gw/state", "offline", timeout=30)


def test_reload_stats_topic_and_interval():
    a = Broker()
    gw, pty, subs, mark = run_case("stats_topic", [a], {},
                                   {"stats_topic": "${station}/gateway/stats", "stats_interval": 1})
    m = subs[0].expect("S013/gateway/stats", timeout=5)
    assert m.payload.startswith("{"), m
    # no new client for it: one connection only
    assert len(connect_lines(a)) == 1, connect_lines(a)


def test_reload_link_check():
    """link_timeout_ms on: the new client probes the broker (an UNSUBSCRIBE
    of the link check topic, in the broker's log)."""
    a = Broker()
    gw, pty, subs, mark = run_case("link_timeout_ms", [a], {}, {"link_timeout_ms": 1500})
    wait_until(lambda: re.search(r"Received UNSUBSCRIBE from mqttgw-S013", a.log_text()), 10,
               what="a link probe")
    command_reaches(a, pty)


def test_reload_timers():
    """reconnect_min_ms, reconnect_max_ms, ack_timeout_ms: a new client,
    nothing lost."""
    a = Broker()
    run_case("reconnect_ack_timers", [a], {},
             {"reconnect_min_ms": 200, "reconnect_max_ms": 2000, "ack_timeout_ms": 8000})


def test_reload_tls():
    """tcp:// -> ssl:// with a CA on the same broker's TLS listener."""
    from test_mqtt_connection import make_pki
    pki = make_pki(harness.tmpdir())
    port = harness.free_port()
    a = Broker(extra_conf="listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
               % (port, pki["ca.crt"], pki["server.crt"], pki["server.key"]))
    wait_until(lambda: harness._can_connect(port), 5, what="the TLS listener")
    gw, pty, subs, mark = run_case("tls", [a], {},
                                   {"uri": "ssl://127.0.0.1:%d" % port, "tls": {"ca_file": pki["ca.crt"]}})
    gw.wait_for_log(r"connected to ssl://127\.0\.0\.1:%d" % port, since=mark)
    command_reaches(a, pty)


def test_reload_refused_keeps_running():
    """An invalid config (and a password file that cannot be read) is
    refused whole: the running client goes on, nothing lost."""
    a = Broker()
    cfg, pty, sub, gw = start(a)
    feeder = Feeder(pty)
    feeder.start()
    assert feeder.reached.wait(30)
    sighup(gw, dict(cfg, mqtt=dict(cfg["mqtt"], username="x", password_file="/nonexistent/pw",
                                   client_id="other")),
           expect=r"reload refused, the running config stays: .*password_file")
    feeder.join(60)
    check_stream("refused", collect([sub], N), N)
    assert len(connect_lines(a)) == 1


# --------------------------------------------------------------------------
# the buffer group

def test_reload_max_messages_applies_offline():
    """buffer.max_messages 1000 -> 100 under traffic: nothing lost; then,
    with the broker gone, 150 lines: the newest 100 arrive."""
    a = Broker()
    gw, pty, subs, mark = run_case("max_messages", [a], {}, {}, top_new={"buffer": {"max_messages": 100}})
    broker_gone(gw, a, subs[0])
    write_offline(pty, b"OFF", 150)
    sub = broker_back(a)
    got = collect([sub], 100, prefix="OFF ", timeout=20)
    print("reload-summary: max_messages_offline sent=150 received=%d (newest 100 expected)" % len(got))
    assert got == list(range(51, 151)), got[:10]


def test_reload_qos0_buffers_offline():
    """buffer.qos0 false -> true: QoS 0 lines written while the broker is
    down are kept and arrive when it is back."""
    a = Broker()
    r = routes()
    r.insert(1, {"from": "serial:MOT01", "match": "^Q0 ", "to": "mqtt:${station}/MOT01/Q0", "qos": 0})
    cfg, pty, sub, gw = start(a, r)
    feeder = Feeder(pty)
    feeder.start()
    assert feeder.reached.wait(30)
    sighup(gw, dict(cfg, buffer={"qos0": True}))
    feeder.join(60)
    check_stream("qos0", collect([sub], N), N)
    broker_gone(gw, a, sub)
    write_offline(pty, b"Q0", 50)
    sub = broker_back(a)
    got = collect([sub], 50, prefix="Q0 ", topic="S013/MOT01/Q0", timeout=20)
    print("reload-summary: qos0_offline sent=50 received=%d" % len(got))
    assert got == list(range(1, 51)), got


def _journal(d):
    return os.path.join(d, "outq.journal")


def test_reload_buffer_dir_moves_the_journal():
    """buffer.dir "" -> A -> B under traffic: nothing lost; the journal is
    in B and gone from A; then, broker down, lines queued, the daemon
    killed (-9) and started again: they come back from B's journal."""
    a = Broker()
    da, db = harness.tmpdir() + "/spool-a", harness.tmpdir() + "/spool-b"
    os.makedirs(da)
    os.makedirs(db)
    gw, pty, subs, mark = run_case("buffer_dir_memory_to_A", [a], {}, {}, top_new={"buffer": {"dir": da}})
    assert os.path.exists(_journal(da))
    cfg_b = gateway_config(a, serial=[serial_dev("MOT01", pty.path)], routes=routes(), buffer={"dir": db})
    feeder = Feeder(pty, prefix=b"SQB")
    feeder.start()
    assert feeder.reached.wait(30)
    mark = sighup(gw, cfg_b)
    feeder.join(60)
    check_stream("buffer_dir_A_to_B", collect(subs, N, prefix="SQB "), N)
    assert gw.wait_for_log(r"the journal moved to %s" % re.escape(_journal(db)), since=mark)
    assert not os.path.exists(_journal(da)), "the old journal was left behind"
    assert os.path.exists(_journal(db))
    # the new journal is the one in force: it survives a kill
    broker_gone(gw, a, subs[0])
    write_offline(pty, b"KEEP", 30)
    wait_until(lambda: os.path.getsize(_journal(db)) > 30 * 20, 10, what="30 lines in B's journal")
    gw.kill()
    gw2 = Gateway(cfg_b)
    gw2.wait_for_log(r"30 messages restored from %s" % re.escape(_journal(db)))
    sub = broker_back(a)
    got = collect([sub], 30, prefix="KEEP ", timeout=20)
    print("reload-summary: buffer_dir_after_kill sent=30 received=%d" % len(got))
    assert sorted(set(got)) == list(range(1, 31)), got


def test_reload_buffer_dir_refused_when_taken():
    """A new buffer.dir that holds an earlier run's journal: refused (its
    messages can neither go behind ours nor be dropped); nothing changes."""
    a = Broker()
    d = harness.tmpdir() + "/spool-taken"
    os.makedirs(d)
    with open(_journal(d), "wb") as f:
        f.write(b"x" * 100)
    cfg, pty, sub, gw = start(a)
    sighup(gw, dict(cfg, buffer={"dir": d}),
           expect=r"reload refused, the running config stays: buffer.dir: .* already holds a journal")
    assert os.path.getsize(_journal(d)) == 100
    wait_for_first_line(pty, sub)


def test_reload_buffer_sync():
    a = Broker()
    d = harness.tmpdir() + "/spool-sync"
    os.makedirs(d)
    run_case("buffer_sync", [a], {}, {}, top_old={"buffer": {"dir": d, "sync": "none"}},
             top_new={"buffer": {"dir": d, "sync": "always"}})
    assert os.path.exists(_journal(d))


def _unacknowledged_carried_over(qos):
    """The old broker stops answering (SIGSTOP) while lines stream in: the
    publishes handed to it stay unacknowledged. A reload to a second broker
    sends every one of them there, in order, before the newer ones; the old
    broker, woken again, may deliver copies of some (counted as repeats)."""
    a, b = Broker(), Broker()
    subb = Sub(b, ["S013/#"])
    cfg, pty, suba, gw = start(a, routes(qos=qos))
    subs = [suba, subb]
    feeder = Feeder(pty)
    feeder.start()
    assert feeder.reached.wait(30)
    os.kill(a.proc.pid, signal.SIGSTOP)
    try:
        # lines go out to the frozen broker and wait for their PUBACK
        wait_until(lambda: feeder.written >= RELOAD_AT + 80, 10, what="80 more lines")
        pty.wait_drained()
        mark = sighup(gw, dict(cfg, mqtt=dict(cfg["mqtt"], uri=b.uri)))
        feeder.join(60)
        got_b = collect([subs[1]], 0, last=N, timeout=30)
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    # what the old broker had (before the freeze, and any it took in before it stopped answering)
    got_a = collect([subs[0]], 0, last=got_b[0] - 1, timeout=10)
    got = got_a + got_b
    name = "uri_unacknowledged_in_flight_qos%d" % qos
    print("reload-summary: %s old_broker=%d new_broker=%d first_on_new=%d"
          % (name, len(got_a), len(got_b), got_b[0]))
    assert gw.wait_for_log(r"not acknowledged before the client was replaced", since=mark)
    try:
        check_stream(name, got, N)
    except AssertionError:
        print("--- new broker's log ---\n" + b.log_text()[-3000:])
        raise
    assert got_b[0] <= RELOAD_AT + 1, "the unacknowledged lines did not go to the new broker: %r" % got_b[:5]
    wait_retained(b, STATUS, "online")
    command_reaches(b, pty)
    gw.assert_running()


def test_reload_uri_carries_unacknowledged_qos1_over():
    _unacknowledged_carried_over(1)


def test_reload_uri_carries_unacknowledged_qos2_over():
    _unacknowledged_carried_over(2)


def test_reload_uri_while_the_old_broker_is_down():
    """The broker is gone and lines pile up in the queue; the config is
    fixed to name another broker: everything queued arrives there, in
    order, then the lines written after the reload."""
    a, b = Broker(), Broker()
    cfg, pty, sub, gw = start(a)
    broker_gone(gw, a, sub)
    feeder = Feeder(pty)
    feeder.start()
    assert feeder.reached.wait(30)
    subb = Sub(b, ["S013/#"])
    sighup(gw, dict(cfg, mqtt=dict(cfg["mqtt"], uri=b.uri)))
    feeder.join(60)
    check_stream("uri_old_broker_down", collect([subb], N), N)
    wait_retained(b, STATUS, "online")
    command_reaches(b, pty)
    gw.assert_running()


def test_qos2_backlog_after_a_broker_restart():
    """Not a reload: the cause of the QoS 2 known issue. A backlog of QoS 2
    publishes sent at once on a new MQTT 3.1.1 connection: mosquitto 2.0
    takes at most max_inflight_messages (20) QoS 2 publishes awaiting
    PUBREL from a client and drops the connection beyond (MQTT 5 says it in
    Receive Maximum, which the gateway honours); the gateway's window is
    1000, so every new connection dies, and the strikes drop messages."""
    a = Broker()
    cfg, pty, sub, gw = start(a, routes(qos=2))
    broker_gone(gw, a, sub)
    write_offline(pty, b"SEQ", 100)
    sub = broker_back(a)
    check_stream("qos2_backlog_after_restart", collect([sub], 100, timeout=20), 100)
