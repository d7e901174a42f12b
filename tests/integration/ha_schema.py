"""
ha_schema.py - a checker for Home Assistant MQTT discovery messages, as Home
Assistant's documentation describes them (integrations/mqtt and each
platform's page: sensor, binary_sensor, button, number, select, text,
switch). Used by test_ha.py on what `mqttgw --check --ha` prints and on what
the live daemon retains under homeassistant/#, so both are held to the same
rules:

  * the topic is <prefix>/<component>/<node_id>/<object_id>/config, ids
    limited to [a-zA-Z0-9_-];
  * the payload is a JSON object; every key is one Home Assistant knows for
    that component (a typo passed through would be ignored by it silently),
    and the keys it requires are there (state_topic, command_topic, options);
  * every topic in it is a topic one can publish to (no + or #, not empty);
  * unique_id is present and unique over the whole set; default_entity_id
    is "<component>.<slug>" (the 2025.10 replacement of object_id);
  * availability is a non-empty list of {topic, ...} with availability_mode
    all, except on the gateway's own connectivity entity (it reads the
    topic the availability would read);
  * device has identifiers, and a via_device names a device of the set;
    origin has a name.

check_set(msgs) takes [(topic, payload_text)] and returns the parsed
payloads by topic; it raises AssertionError naming the message and the rule.
"""
import json
import re

COMMON = {
    "availability", "availability_mode", "availability_template", "availability_topic",
    "payload_available", "payload_not_available", "device", "default_entity_id",
    "enabled_by_default", "encoding", "entity_category", "entity_picture", "icon",
    "json_attributes_template", "json_attributes_topic", "name", "object_id", "origin",
    "platform", "qos", "unique_id",
}

COMPONENTS = {
    "sensor": ({"state_topic"}, {
        "device_class", "expire_after", "force_update", "last_reset_value_template", "options",
        "suggested_display_precision", "state_class", "state_topic", "unit_of_measurement",
        "value_template"}),
    "binary_sensor": ({"state_topic"}, {
        "device_class", "expire_after", "force_update", "off_delay", "payload_off", "payload_on",
        "state_topic", "value_template"}),
    "button": ({"command_topic"}, {
        "command_template", "command_topic", "device_class", "payload_press", "retain"}),
    "number": ({"command_topic"}, {
        "command_template", "command_topic", "device_class", "min", "max", "mode", "optimistic",
        "payload_reset", "retain", "state_topic", "step", "unit_of_measurement", "value_template"}),
    "select": ({"command_topic", "options"}, {
        "command_template", "command_topic", "optimistic", "options", "retain", "state_topic",
        "value_template"}),
    "text": ({"command_topic"}, {
        "command_template", "command_topic", "max", "min", "mode", "pattern", "retain",
        "state_topic", "value_template"}),
    "switch": ({"command_topic"}, {
        "command_template", "command_topic", "device_class", "optimistic", "payload_off",
        "payload_on", "retain", "state_off", "state_on", "state_topic", "value_template"}),
}

DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer",
               "model", "model_id", "name", "serial_number", "suggested_area", "sw_version",
               "via_device"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
AVAIL_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}

TOPIC_RE = re.compile(r"^(?P<prefix>.+)/(?P<component>[a-z_]+)/(?P<node>[a-zA-Z0-9_-]+)/"
                      r"(?P<object>[a-zA-Z0-9_-]+)/config$")


def _topic_ok(t):
    return isinstance(t, str) and t != "" and "+" not in t and "#" not in t and \
        not t.startswith("$") and "\0" not in t


def check_one(topic, text):
    """Check one discovery message; returns (component, payload dict)."""
    m = TOPIC_RE.match(topic)
    assert m, "discovery topic %r is not <prefix>/<component>/<node_id>/<object_id>/config" % topic
    comp = m.group("component")
    assert comp in COMPONENTS, "%s: unknown component %r" % (topic, comp)
    try:
        p = json.loads(text)
    except ValueError as e:
        raise AssertionError("%s: payload is not JSON (%s): %r" % (topic, e, text))
    assert isinstance(p, dict), "%s: payload is not an object" % topic
    required, known = COMPONENTS[comp]
    unknown = set(p) - known - COMMON
    assert not unknown, "%s: keys Home Assistant does not know for %s: %s" % (topic, comp, sorted(unknown))
    missing = required - set(p)
    assert not missing, "%s: required keys missing: %s" % (topic, sorted(missing))
    for k, v in p.items():
        if k.endswith("_topic"):
            assert _topic_ok(v), "%s: %s %r is not a topic to publish to" % (topic, k, v)
    assert isinstance(p.get("unique_id"), str) and p["unique_id"], "%s: no unique_id" % topic
    de = p.get("default_entity_id")
    assert isinstance(de, str) and re.match(r"^%s\.[a-z0-9_]+$" % comp, de), \
        "%s: default_entity_id %r is not %s.<lower-case slug>" % (topic, de, comp)
    if comp == "select":
        assert isinstance(p["options"], list) and p["options"] and \
            all(isinstance(o, str) for o in p["options"]), "%s: options must be strings" % topic
    for k in ("min", "max", "step"):
        if k in p:
            assert isinstance(p[k], (int, float)) and not isinstance(p[k], bool), \
                "%s: %s must be a number" % (topic, k)
    own_connectivity = p.get("device_class") == "connectivity" and comp == "binary_sensor"
    if not own_connectivity:
        av = p.get("availability")
        assert isinstance(av, list) and av, "%s: no availability list" % topic
        for a in av:
            assert isinstance(a, dict) and _topic_ok(a.get("topic")), "%s: bad availability %r" % (topic, a)
            assert not set(a) - AVAIL_KEYS, "%s: availability keys %s" % (topic, sorted(set(a) - AVAIL_KEYS))
        assert p.get("availability_mode") == "all", "%s: availability_mode %r" % (topic, p.get("availability_mode"))
    dev = p.get("device")
    assert isinstance(dev, dict), "%s: no device" % topic
    assert not set(dev) - DEVICE_KEYS, "%s: device keys %s" % (topic, sorted(set(dev) - DEVICE_KEYS))
    assert isinstance(dev.get("identifiers"), list) and dev["identifiers"], "%s: device has no identifiers" % topic
    org = p.get("origin")
    assert isinstance(org, dict) and org.get("name"), "%s: no origin name" % topic
    assert not set(org) - ORIGIN_KEYS, "%s: origin keys %s" % (topic, sorted(set(org) - ORIGIN_KEYS))
    return comp, p


def check_set(msgs):
    """msgs: [(topic, payload text)]. Every message checked, then the set:
    unique_id unique, one topic each, via_device known. Returns {topic: payload}."""
    out, ids, devices, vias = {}, {}, set(), []
    for topic, text in msgs:
        assert topic not in out, "topic announced twice: %s" % topic
        comp, p = check_one(topic, text)
        uid = p["unique_id"]
        assert uid not in ids, "unique_id %r on both %s and %s" % (uid, ids[uid], topic)
        ids[uid] = topic
        devices.update(p["device"]["identifiers"])
        if "via_device" in p["device"]:
            vias.append((topic, p["device"]["via_device"]))
        out[topic] = p
    for topic, via in vias:
        assert via in devices, "%s: via_device %r is no announced device" % (topic, via)
    return out


def parse_check_output(text):
    """The (topic, payload) pairs of `mqttgw --check --ha` output."""
    lines = [l for l in text.splitlines() if l and not l.startswith("#")]
    assert len(lines) % 2 == 0, "odd number of lines in --check --ha output:\n%s" % text
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
