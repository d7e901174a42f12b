"""
harness/reliability.py - the rig the MQTT reliability suites share
(test_mqtt_reliability: the streams that lose nothing; test_mqtt_connection:
failover, TLS, logins, links that die quietly).

rel_config() is one station's gateway with a persistent session and fast
reconnect, MOT01 on a pty, and rel_routes(): a command route, retained QoS 0
positions, QoS 0 "Q0 " frames, everything else to S013/MOT01/SEND at QoS 1.
session_sync_in() proves the uplink open (a SYNC line the port read has
reached a SessionSub); connected_count()/connect_attempts() count the
daemon's "connected to"/"connecting to" log lines; figure() prints a
measured figure as a "# " line (tests/run.py passes those through).
"""

import re
import time

from .config import ACCEPT, gateway_config, serial_dev


def figure(fmt, *args):
    print("# " + (fmt % args if args else fmt), flush=True)


def rel_routes(seq_qos=1):
    return [{"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01", "accept": ACCEPT},
            {"from": "serial:MOT01", "match": "^POS([XYZ])([+-][0-9]+)$",
             "to": "mqtt:${station}/MOT01/POS/$1", "payload": "$2", "retain": True, "qos": 0},
            {"from": "serial:MOT01", "match": "^Q0 ", "to": "mqtt:${station}/MOT01/Q0",
             "qos": 0},
            {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND", "qos": seq_qos}]


def rel_config(broker, port_path, station="S013", mqtt=None, buffer=None):
    """A gateway for these tests: persistent session, fast reconnect."""
    m = {"keepalive": 5, "clean_session": False, "reconnect_min_ms": 100,
         "reconnect_max_ms": 1000}
    m.update(mqtt or {})
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", port_path)], routes=rel_routes(),
                         station=station, mqtt=m)
    if buffer is not None:
        cfg["buffer"] = buffer
    return cfg


def session_sync_in(pty, sub, topic, timeout=15.0):
    """Write SYNC lines until one arrives at sub (port read, broker link up)."""
    deadline = time.monotonic() + timeout
    k = 0
    wait = 0.2
    while True:
        k += 1
        pty.write(b"SYNC %d\r\n" % k)
        end = min(deadline, time.monotonic() + wait)
        while time.monotonic() < end:
            if ("SYNC %d" % k) in sub.payloads(topic):
                return
            time.sleep(0.01)
        if time.monotonic() >= deadline:
            raise AssertionError("no SYNC line written to %s reached %s within %.0fs"
                                 % (pty.path, topic, timeout))
        wait = min(wait * 1.5, 1.0)


def connected_count(gw):
    return len(re.findall(r"mqtt: connected to", gw.log_text()))


def connect_attempts(gw):
    return len(re.findall(r"mqtt: connecting to", gw.log_text()))
