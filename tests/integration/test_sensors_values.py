"""
test_sensors_values.py - typed values, JSON payloads and publish on change
(issue 15, points 2-4), end to end: the real daemon, a real mosquitto, ptys
standing in for a text sensor and a MODBUS-style binary device.

What a user sees is asserted: the JSON on the topic (parsed with Python's
strict json module, which refuses raw control characters in strings), the
bytes on the port for a converted command, the reason on the device's error
topic for a value that does not convert, the stats topic's
unchanged_suppressed counter. Waiting is for events (a message, bytes on the
port, a log line) with deadlines; the only timed part is the heartbeat,
measured against the clock from the message it follows.
"""

import json
import time

from harness import Broker, Gateway, Pty, Sub, gateway_config, pub, serial_dev, wait_until

STATION = "S013"
CLIENT_ID = "mqttgw-S013"
GW_STATUS = "S013/gateway/status"


def ready(broker, sub, devices, filters=(), timeout=15.0):
    sub.expect(GW_STATUS, "online", timeout=timeout)
    for d in devices:
        sub.expect("%s/%s/status" % (STATION, d), "online", timeout=timeout)
    for f in filters:
        wait_until(lambda f=f: broker.subscribed(CLIENT_ID, f), timeout,
                   what="the daemon to subscribe to %s" % f)


def crc16_modbus(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes([crc & 0xFF, crc >> 8])


def sensor_dev(name, port, **kw):
    return serial_dev(name, port, error_topic="${station}/${name}/error", **kw)


def contract_route(**kw):
    """The sensors issue's example route (DESIGN.md), verbatim."""
    r = {"from": "serial:TH01", "match": "^T=([-0-9.]+) H=([-0-9.]+)$",
         "to": "mqtt:${station}/TH01/state",
         "json": {"temperature": "${1|float|round:1}", "humidity": "${2|float}", "unit": "C"}}
    r.update(kw)
    return r


def test_conversions_up_and_down_and_refusals():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    gw = Gateway(gateway_config(broker, serial=[sensor_dev("TH01", pty.path)], routes=[
        contract_route(),
        {"from": "serial:TH01", "match": "^P=(.*)$", "to": "mqtt:${station}/TH01/p",
         "payload": "${1|float|scale:0.01|fmt:%.3f} bar"},
        {"from": "mqtt:${station}/MOT01/Z/set", "to": "serial:TH01", "accept": "^-?[0-9]{1,6}$",
         "payload": "DRVZ${0|int|fmt:%+d}"},
        {"from": "mqtt:${station}/MOT01/Y/set", "to": "serial:TH01", "payload": "DRVY${0|fmt:%+07.1f}"},
        {"from": "mqtt:${station}/MOT01/X/set", "to": "serial:TH01", "payload": "DRVX${0|fmt:%d}"}]))
    ready(broker, sub, ["TH01"], ["S013/MOT01/Z/set", "S013/MOT01/Y/set", "S013/MOT01/X/set"])

    # up: typed JSON, members in file order, numbers as numbers
    pty.write(b"T=21.45 H=40.2\r\n")
    m = sub.expect("S013/TH01/state")
    assert m.payload == '{"temperature":21.5,"humidity":40.2,"unit":"C"}', m
    assert json.loads(m.payload) == {"temperature": 21.5, "humidity": 40.2, "unit": "C"}
    pty.write(b"P=101325\r\n")
    sub.expect_next("S013/TH01/p", "1013.250 bar")

    # down: the contract's example, and a float format
    pub(broker, "S013/MOT01/Z/set", "1000")
    assert pty.read_line() == b"DRVZ+1000\r\n"
    pub(broker, "S013/MOT01/Z/set", "-42")
    assert pty.read_line() == b"DRVZ-42\r\n"
    pub(broker, "S013/MOT01/Y/set", "3.14159")
    assert pty.read_line() == b"DRVY+0003.1\r\n"

    # refused: a command that is not an integer for %d; nothing reaches the port
    mark = gw.log_mark()
    pub(broker, "S013/MOT01/X/set", "12.5")
    sub.expect_next("S013/TH01/error", "not an integer (the format wants one: add int or round:0): 12.5")
    gw.wait_for_log(r"command on S013/MOT01/X/set for TH01 refused \(route 5, line \d+\): not an integer",
                    since=mark)
    pub(broker, "S013/MOT01/Y/set", "nan")
    sub.expect_next("S013/TH01/error", "not a number: nan")
    # refused: a frame whose capture is not a number (the pattern lets "-" and "." through)
    pty.write(b"T=-.- H=40.2\r\n")
    sub.expect_next("S013/TH01/error", "not a number: T=-.- H=40.2")
    pty.write(b"T=1e999 H=1\r\n")   # no route: e is not in the pattern; nothing published
    pty.write(b"T=22 H=41\r\n")
    m = sub.expect_next("S013/TH01/state", '{"temperature":22.0,"humidity":41,"unit":"C"}')
    # the port got exactly the three accepted commands
    assert pty.read_available(0.2) == b""
    gw.assert_running()


def test_typed_fields_of_a_binary_frame():
    """A MODBUS RTU read-holding-registers reply (idle framing, CRC checked
    and stripped): a signed temperature at 0.1 C, a setpoint, a 32-bit
    counter in CDAB order and a float, as JSON numbers."""
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    dev = sensor_dev("MB", pty.path, baud=19200, framing="idle", idle_ms=30, encoding="hex",
                     checksum="crc16-modbus")
    del dev["eol"]
    Gateway(gateway_config(broker, serial=[dev], routes=[
        {"from": "serial:MB", "match": "^010310", "to": "mqtt:${station}/MB/state",
         "json": {"temperature": "${s16be@3|scale:0.1}", "setpoint": "${u16be@5}",
                  "counter": "${u32ws@7}", "flow": "${f32be@11|round:2}", "raw": "$0",
                  "unit": "C", "ok": True}},
        {"from": "serial:MB", "to": "mqtt:${station}/MB/other"}]))
    ready(broker, sub, ["MB"])
    body = bytes.fromhex("01 03 10 FF 38 00 2A 56 78 12 34 41 AC 00 00 00 00 00 00")
    pty.write(body + crc16_modbus(body))
    m = sub.expect("S013/MB/state")
    assert json.loads(m.payload) == {"temperature": -20, "setpoint": 42, "counter": 0x12345678,
                                     "flow": 21.5, "raw": body.hex().upper(), "unit": "C", "ok": True}, m
    assert m.payload.startswith('{"temperature":-20,"setpoint":42,"counter":305419896,"flow":21.50,'), m
    # a short reply: the fields past its end refuse the frame, with the reason
    short = bytes.fromhex("01 03 10 00 D7")
    pty.write(short + crc16_modbus(short))
    sub.expect_next("S013/MB/error", "field past the end of the frame: 010310" + "00D7")


def test_on_change_with_heartbeat_and_the_counter():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/TH01/#", "S013/gateway/stats", GW_STATUS])
    heartbeat = 3000
    Gateway(gateway_config(broker, serial=[sensor_dev("TH01", pty.path)],
                           mqtt={"stats_topic": "${station}/gateway/stats", "stats_interval": 1},
                           routes=[contract_route(on_change=True, heartbeat_ms=heartbeat)]))
    ready(broker, sub, ["TH01"])
    pty.write(b"T=21.5 H=40\r\n")
    first = sub.expect("S013/TH01/state", '{"temperature":21.5,"humidity":40,"unit":"C"}')
    t_first = time.monotonic()
    # the same reading three times (21.45 rounds to the same payload), then a change:
    # the change is the very next message, the repeats were not published
    t_write = time.monotonic()
    pty.write(b"T=21.5 H=40\r\nT=21.5 H=40\r\nT=21.45 H=40\r\nT=21.6 H=40\r\n")
    sub.expect_next("S013/TH01/state", '{"temperature":21.6,"humidity":40,"unit":"C"}')
    assert time.monotonic() - t_first < heartbeat / 1000.0, "the test machine was too slow to tell"
    # unchanged frames again: published once more only when the heartbeat has passed
    deadline = time.monotonic() + 15
    got = None
    while got is None and time.monotonic() < deadline:
        pty.write(b"T=21.6 H=40\r\n")
        got = sub.next(timeout=0.2)
        while got is not None and got.topic != "S013/TH01/state":
            got = sub.next(timeout=0.2)
    assert got is not None, "no heartbeat publish within 15 s"
    assert got.payload == '{"temperature":21.6,"humidity":40,"unit":"C"}', got
    # the 21.6 payload was published after t_write: its heartbeat cannot have come sooner
    assert time.monotonic() - t_write >= heartbeat / 1000.0, "republished before heartbeat_ms"
    # the counter on the stats topic: at least the three repeats above
    def suppressed():
        m = sub.next(timeout=0.5)
        return m is not None and m.topic == "S013/gateway/stats" and \
            json.loads(m.payload).get("unchanged_suppressed", 0) >= 3
    wait_until(suppressed, 10, interval=0, what="unchanged_suppressed >= 3 on the stats topic")
    assert first.retained is False


def test_check_shows_and_reload_applies_the_sensor_settings():
    """on_change, heartbeat_ms and the json layout are route settings like
    the rest: --check prints them, and a SIGHUP that changes them applies."""
    from harness import run_mqttgw, write_config
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/TH01/#", GW_STATUS])
    cfg = gateway_config(broker, serial=[sensor_dev("TH01", pty.path)],
                         routes=[contract_route(on_change=True, heartbeat_ms=60000)])
    r = run_mqttgw(["--check", "-c", write_config(cfg)])
    assert r.returncode == 0, r
    assert 'on_change = true, heartbeat_ms = 60000, json = "{\\"temperature\\":${1|float|round:1},' \
        '\\"humidity\\":${2|float},\\"unit\\":\\"C\\"}"' in r.stdout, r.stdout
    gw = Gateway(cfg)
    ready(broker, sub, ["TH01"])
    pty.write(b"T=21.5 H=40\r\n")
    sub.expect("S013/TH01/state", '{"temperature":21.5,"humidity":40,"unit":"C"}')
    # a new layout and on_change off: the same reading comes in the new shape, every time
    layout = {"t": "${1|float|round:0}", "h": "${2|int}"}
    gw.reload(gateway_config(broker, serial=[sensor_dev("TH01", pty.path)],
                             routes=[contract_route(json=layout)]))
    pty.write(b"T=21.5 H=40\r\nT=21.5 H=40\r\n")
    sub.expect_next("S013/TH01/state", '{"t":22,"h":40}')
    sub.expect_next("S013/TH01/state", '{"t":22,"h":40}')
    # on_change back on, the first layout again: the reading the memory held before is
    # published (what went out last was the other layout), the repeat is held back
    gw.reload(gateway_config(broker, serial=[sensor_dev("TH01", pty.path)],
                             routes=[contract_route(on_change=True)]))
    pty.write(b"T=21.5 H=40\r\nT=21.5 H=40\r\nT=23 H=40\r\n")
    sub.expect_next("S013/TH01/state", '{"temperature":21.5,"humidity":40,"unit":"C"}')
    sub.expect_next("S013/TH01/state", '{"temperature":23.0,"humidity":40,"unit":"C"}')
    gw.assert_running()


def test_hostile_capture_still_gives_valid_json():
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, ["S013/#"])
    Gateway(gateway_config(broker, serial=[sensor_dev("TH01", pty.path)], routes=[
        {"from": "serial:TH01", "match": "^ID=(.*)$", "to": "mqtt:${station}/TH01/id",
         "json": {"id": "$1", "shout": "${1|upper}", "line": "<$0>", "n": 1}}]))
    ready(broker, sub, ["TH01"])
    evil = b'a"b\\c", "x": {"}\x01\x1b\x7f\tend \xb0C'
    pty.write(b"ID=" + evil + b"\r\n")
    m = sub.expect("S013/TH01/id")
    doc = json.loads(m.raw.decode("utf-8"))      # strict: no raw control characters, valid UTF-8
    want = evil.decode("latin-1")                # a byte outside UTF-8 is read as Latin-1
    shout = "".join(c.upper() if c.isascii() else c for c in want)     # upper is ASCII only
    assert doc == {"id": want, "shout": shout, "line": "<ID=" + want + ">", "n": 1}, (m.raw, doc)
    assert set(doc) == {"id", "shout", "line", "n"}     # nothing injected


def test_config_errors_for_values_name_the_line():
    from harness import run_mqttgw, write_config
    broker_uri = "tcp://127.0.0.1:1"
    cfg = gateway_config(broker_uri, serial=[serial_dev("TH01", "/dev/null")], routes=[
        {"from": "mqtt:${station}/Z", "to": "serial:TH01", "payload": "DRVZ${0|int|fmt:%+d %d}"}])
    path = write_config(cfg)
    r = run_mqttgw(["--check", "-c", path])
    assert r.returncode == 2, r
    assert "must have exactly one numeric conversion" in r.stderr, r.stderr
    assert r.stderr.startswith(path + ":"), r.stderr
