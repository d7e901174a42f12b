"""
test_ha.py - Home Assistant MQTT discovery (issue 16), end to end.

`mqttgw --check --ha` output and what the live daemon retains under
homeassistant/# are both held to Home Assistant's documented schema by
ha_schema.py (required and known keys per component, topics, unique_id,
availability, device, origin). The live test behaves as Home Assistant does:
it reads the configs under homeassistant/#, publishes on their command
topics what Home Assistant sends for a button press, a number set to 1000,
a select and a switch turned on, and sees the motor (a pty the test answers
for) get the command, the GPIO output (the libgpiod stand-in) change, and
the states come back on the announced state topics. Availability follows
the announced topics: unavailable on unplug (pty closed) and on a dead
gateway (its will). A reload that drops a route removes its entity, and so
does a restart with a config that lost one (the retained configs under the
node_id are read back on connect). Home Assistant's "online" on
homeassistant/status brings every config again.
"""

import json
import os

from ha_schema import check_set, parse_check_output
from harness import (PI4, ROOT, Broker, Ctl, Gateway, PubackProxy, Pty, Sub, gateway_config, gpio_env,
                     gpio_out, pub, retained_now, run_mqttgw, serial_dev, tmppath, wait_until, write_config)

TIMEOUT = 90
HA = "homeassistant"


def routes(with_text=True, with_select=True):
    r = [
        {"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01", "accept": "^(STOP|HOME)$",
         "ha": {"component": "button", "name": "Stop", "payload_press": "STOP", "icon": "mdi:stop"}},
        {"from": "mqtt:${station}/MOT01/Z/set", "to": "serial:MOT01", "accept": "^-?[0-9]{1,6}$",
         "payload": "DRVZ${0|int|fmt:%+d}",
         "ha": {"component": "number", "name": "Z target", "min": -100000, "max": 100000, "step": 1,
                "mode": "box"}},
        {"from": "serial:MOT01", "match": "^POS([XYZ])([+-][0-9]+)$", "to": "mqtt:${station}/MOT01/POS/$1",
         "payload": "$2", "retain": True,
         "ha": {"name": "Position $1", "state_class": "measurement"}, "instances": ["X", "Y", "Z"]},
        {"from": "serial:MOT01", "match": "^T=([-0-9.]+) H=([-0-9.]+)$", "to": "mqtt:${station}/MOT01/env",
         "json": {"temperature": "${1|float}", "humidity": "${2|float}"},
         "ha": [{"key": "temperature", "name": "Temp \"inside\"", "device_class": "temperature",
                 "unit_of_measurement": "\u00b0C", "suggested_display_precision": 1},
                {"key": "humidity", "device_class": "humidity", "unit_of_measurement": "%"}]},
        {"from": "mqtt:${station}/MOT01/BRAKE/set", "to": "gpio:BRAKE", "ha": {"name": "Brake"}},
        {"from": "gpio:BRAKE", "to": "mqtt:${station}/MOT01/BRAKE", "retain": True},
    ]
    if with_select:
        r.append({"from": "mqtt:${station}/MOT01/MODE", "to": "serial:MOT01", "accept": "^MODE (A|B)$",
                  "ha": {"component": "select", "name": "Mode", "options": ["MODE A", "MODE B"]}})
    if with_text:
        r.append({"from": "mqtt:${station}/MOT01/RAW", "to": "serial:MOT01",
                  "ha": {"component": "text", "name": "Raw line", "max": 64}})
    return r


def config(broker, port_path, **kw):
    return gateway_config(broker, serial=[serial_dev("MOT01", port_path)],
                          gpio=[gpio_out("BRAKE", 27, initial=0)], routes=routes(**kw),
                          mqtt={"reconnect_min_ms": 100, "reconnect_max_ms": 500,
                                "stats_topic": "${station}/gateway/stats", "stats_interval": 1},
                          homeassistant={})


def ha_configs(broker):
    """What Home Assistant would read now: the non-empty retained configs under homeassistant/#."""
    s = Sub(broker, ["%s/+/+/+/config" % HA])
    s.drain()
    out = {m.topic: m.payload for m in s.seen if m.retained and m.payload}
    s.stop()
    return out


def wait_configs(broker, pred, what):
    got = {}

    def ok():
        got.clear()
        got.update(ha_configs(broker))
        return pred(got)
    wait_until(ok, 15, interval=0.1, what=what)
    return dict(got)


def available(broker, entity):
    """Home Assistant's view: every availability topic says "online" (mode all)."""
    for a in entity["availability"]:
        m = retained_now(broker, a["topic"])
        if m is None or m.payload != a.get("payload_available", "online"):
            return False
    return True


def by_component(payloads, comp, name=None):
    found = [p for t, p in payloads.items() if t.split("/")[1] == comp and (name is None or p.get("name") == name)]
    assert len(found) == 1, "expected one %s %r, got %r" % (comp, name, found)
    return found[0]


N_ENTITIES = 19     # connectivity + 8 stats + button + number + 3 positions + 2 env + switch + select + text


def test_check_ha_prints_every_entity_valid():
    broker = Broker(start=False)
    path = write_config(config(broker, "/dev/ttyUSB0"))
    r = run_mqttgw(["--check", "--ha", "-c", path])
    assert r.returncode == 0, r.stderr
    msgs = parse_check_output(r.stdout)
    payloads = check_set(msgs)
    assert len(payloads) == N_ENTITIES, sorted(payloads)
    t = by_component(payloads, "sensor", "Temp \"inside\"")
    assert t["unit_of_measurement"] == "\u00b0C" and t["value_template"] == "{{ value_json['temperature'] }}"
    n = by_component(payloads, "number")
    assert n["command_topic"] == "S013/MOT01/Z/set" and n["unique_id"] == "mqttgw_S013_MOT01_Z_set", n
    assert [a["topic"] for a in n["availability"]] == ["S013/gateway/status", "S013/MOT01/status"], n
    assert n["device"]["via_device"] == "mqttgw_S013", n
    sw = by_component(payloads, "switch")
    assert sw["state_topic"] == "S013/MOT01/BRAKE" and sw["payload_on"] == "1", sw
    # without the group: nothing
    cfg = config(broker, "/dev/ttyUSB0")
    del cfg["homeassistant"]
    r = run_mqttgw(["--check", "--ha", "-c", write_config(cfg)])
    assert r.returncode == 0 and "nothing is announced" in r.stdout, r


def test_example_configs_announce_valid_entities():
    # the shipped examples carry an ha group per route (issue 16's "done")
    for name, n in (("example-sensors.cfg", 12), ("demo.cfg", 13)):
        r = run_mqttgw(["--check", "--ha", "-c", os.path.join(ROOT, "config", name)])
        assert r.returncode == 0, (name, r.stderr)
        payloads = check_set(parse_check_output(r.stdout))
        assert len(payloads) == n, (name, sorted(payloads))


def test_check_ha_refuses_bad_entities_with_file_and_line():
    broker = Broker(start=False)
    cases = [
        # (changes to the first route, words of the message, the setting on the line it names)
        ({"ha": {"component": "button", "payload_press": "GO"}}, "refused by the route's accept",
         "payload_press"),
        ({"ha": {"component": "sensor"}}, "shows a state", "component"),
        ({"ha": {"component": "select", "options": ["STOP", "JUMP"]}}, "\"JUMP\" is refused", "options"),
    ]
    for change, words, setting in cases:
        cfg = config(broker, "/dev/ttyUSB0")
        cfg["routes"][0] = dict(cfg["routes"][0], **change)
        path = write_config(cfg)
        r = run_mqttgw(["--check", "--ha", "-c", path])
        assert r.returncode == 2, (change, r.stdout, r.stderr)
        first = r.stderr.splitlines()[0]
        assert first.startswith(path + ":") and words in first, (change, first)
        line = int(first.split(":")[1])
        assert setting in open(path).read().splitlines()[line - 1], (first, line)
    cfg = config(broker, "/dev/ttyUSB0")
    del cfg["routes"][2]["instances"]
    r = run_mqttgw(["--check", "-c", write_config(cfg)])
    assert r.returncode == 2 and "instances = [" in r.stderr, r.stderr


def test_home_assistant_drives_the_gateway_end_to_end():
    broker = Broker()
    motor = Pty(link="ttyMOT01")
    sock, trace = tmppath("gpio.sock"), tmppath("gpio.trace")
    env = gpio_env(PI4, sock, trace)
    ha_sub = Sub(broker, ["%s/#" % HA, "S013/#"])
    gw = Gateway(config(broker, motor.path), env=env)
    ctl = Ctl(sock, gw)
    ha_sub.expect("S013/gateway/status", "online", timeout=10)

    # 1. Home Assistant reads the configs: all there, all valid
    payloads = check_set(sorted(wait_configs(broker, lambda c: len(c) >= N_ENTITIES,
                                             "%d discovery configs" % N_ENTITIES).items()))
    assert len(payloads) == N_ENTITIES, sorted(payloads)
    button = by_component(payloads, "button")
    number = by_component(payloads, "number")
    switch = by_component(payloads, "switch")
    select = by_component(payloads, "select")
    pos_z = by_component(payloads, "sensor", "Position Z")
    temp = by_component(payloads, "sensor", "Temp \"inside\"")
    wait_until(lambda: available(broker, number) and available(broker, switch), 10, interval=0.1,
               what="entities available")

    # 2. a button press, a number set to 1000, a select: the motor gets each command
    pub(broker, button["command_topic"], button["payload_press"])
    assert motor.read_line() == b"STOP\r\n"
    pub(broker, number["command_topic"], "1000")
    assert motor.read_line() == b"DRVZ+1000\r\n"
    pub(broker, select["command_topic"], select["options"][1])
    assert motor.read_line() == b"MODE B\r\n"
    # ... and the states come back where the entities read them
    motor.write(b"POSZ+001000\r\n")
    assert ha_sub.expect(pos_z["state_topic"], timeout=10).payload == "+001000"
    motor.write(b"T=21.5 H=40\r\n")
    doc = json.loads(ha_sub.expect(temp["state_topic"], timeout=10).payload)
    assert doc["temperature"] == 21.5, doc

    # 3. the switch turned on: the output goes high, the state says so
    pub(broker, switch["command_topic"], switch["payload_on"])
    ctl.wait("gpiochip0", 27, 1)
    ha_sub.expect(switch["state_topic"], switch["payload_on"], timeout=10)

    # ... and the gateway's own counters: each diagnostic sensor finds its member
    stats = [p for p in payloads.values() if p.get("entity_category") == "diagnostic" and
             p["state_topic"] == "S013/gateway/stats"]
    assert len(stats) == 8, stats
    doc = json.loads(ha_sub.expect("S013/gateway/stats", timeout=10).payload)
    for p in stats:
        key = p["value_template"].split("'")[1]
        assert isinstance(doc.get(key), int), (key, doc)

    # 4. Home Assistant restarts: "online" brings every config again
    ha_sub.drain()
    pub(broker, "%s/status" % HA, "online")
    for t in list(payloads)[:3]:
        ha_sub.expect(t, timeout=10)
    gw.wait_for_log(r"homeassistant: announced %d entities" % N_ENTITIES)

    # 5. a reload without the text route: its entity is removed
    text_topic = [t for t in payloads if t.split("/")[1] == "text"][0]
    gw.reload(config(broker, motor.path, with_text=False))
    wait_configs(broker, lambda c: text_topic not in c and len(c) == N_ENTITIES - 1, "text entity removed")

    # 6. unplugged: the motor's entities go unavailable, the gateway's stay
    motor.close()
    wait_until(lambda: not available(broker, number), 10, interval=0.1, what="number unavailable")
    assert available(broker, switch)

    # 7. a restart with a config that lost the select: removed from what the broker kept
    gw.terminate()
    motor2 = Pty(link="ttyMOT01b")
    gw2 = Gateway(config(broker, motor2.path, with_text=False, with_select=False), env=env, name="gw2")
    select_topic = [t for t in payloads if t.split("/")[1] == "select"][0]
    got = wait_configs(broker, lambda c: select_topic not in c and len(c) == N_ENTITIES - 2,
                       "select entity removed after the restart")
    check_set(sorted(got.items()))
    gw2.wait_for_log(r"homeassistant: removing %s" % select_topic)
    wait_until(lambda: available(broker, number), 10, interval=0.1, what="number available again")

    # 8. a dead gateway: its will makes every entity unavailable
    gw2.kill()
    wait_until(lambda: not available(broker, switch) and not available(broker, number), 15, interval=0.1,
               what="entities unavailable after the gateway died")
    assert os.path.exists(trace)


def test_discovery_comes_before_the_states_on_every_connect():
    # a network cut: on the new connection Home Assistant must learn the
    # entities before their states are republished
    broker = Broker()
    proxy = PubackProxy(broker)
    motor = Pty(link="ttyMOT01")
    cfg = gateway_config(proxy, serial=[serial_dev("MOT01", motor.path)],
                         routes=[routes()[2]], homeassistant={},
                         mqtt={"reconnect_min_ms": 100, "reconnect_max_ms": 500})
    sub = Sub(broker, ["%s/#" % HA, "S013/MOT01/POS/#", "S013/gateway/status"])
    Gateway(cfg)
    sub.expect("S013/gateway/status", "online", timeout=10)
    motor.write(b"POSZ+000042\r\n")
    sub.expect("S013/MOT01/POS/Z", "+000042", timeout=10)
    configs = set(wait_configs(broker, lambda c: len(c) == 4, "4 configs"))
    sub.drain()
    proxy.cut()
    sub.expect("S013/gateway/status", "offline", timeout=10)     # the will
    sub.expect("S013/gateway/status", "online", timeout=10)
    before = []
    while True:
        m = sub.next(timeout=10)
        assert m is not None, "no state after the reconnect; seen %r" % before
        if m.topic == "S013/MOT01/POS/Z":
            break
        before.append(m.topic)
    assert configs <= set(before), "configs %r not all before the state; seen %r" % (configs, before)
