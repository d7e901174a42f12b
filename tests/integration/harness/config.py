"""
harness/config.py - daemon configs written from Python values.

Tests build a config as a dict (gateway_config() gives the usual station,
mqtt group, serial ports and routes; serial_dev() one port) and
render_config() writes libconfig syntax from it; a test of the parser can
pass verbatim text instead. Either way, with MQTTGW_PROTOCOL=5 the mqtt
group gets `protocol = 5` where the test names none (with_protocol), which
is how make check runs the end-to-end suites on both protocols.
"""

import re

from .env import PROTOCOL
from .fixtures import _seq, tmppath

# The accept pattern the suites give a motor's command route: moves on
# three axes, STOP and HOME (the hostile-input and reliability suites).
ACCEPT = "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME)$"


class Raw(str):
    """A value rendered verbatim (e.g. Raw("0x10"), Raw("1L"))."""


_LC_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}


def _lc_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _LC_ESCAPES:
            out.append(_LC_ESCAPES[ch])
        elif o < 0x20 or o == 0x7f:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _lc_value(v, indent):
    pad = "  " * indent
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _lc_string(v)
    if isinstance(v, dict):
        if not v:
            return "{ }"
        inner = "".join("%s  %s = %s;\n" % (pad, k, _lc_value(x, indent + 1)) for k, x in v.items())
        return "{\n%s%s}" % (inner, pad)
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, dict) for x in v) and v:
            # A list of groups: one group per line, so each has its own line.
            items = ",\n".join("%s  %s" % (pad, _lc_inline(x)) for x in v)
            return "(\n%s\n%s)" % (items, pad)
        if isinstance(v, tuple):
            return "( %s )" % ", ".join(_lc_value(x, indent) for x in v)
        return "[ %s ]" % ", ".join(_lc_value(x, indent) for x in v)
    raise TypeError("cannot render %r in libconfig" % (v,))


def _lc_inline(d):
    return "{ %s }" % " ".join("%s = %s;" % (k, _lc_value(x, 0)) for k, x in d.items())


def with_protocol(cfg):
    """cfg (a settings dict or verbatim libconfig text) with the mqtt group's
    protocol set to PROTOCOL where the config names none. Text keeps its line
    numbers (the setting goes on the line of `mqtt = {`)."""
    if PROTOCOL == 4:
        return cfg
    if isinstance(cfg, dict):
        m = cfg.get("mqtt")
        if isinstance(m, dict) and "protocol" not in m:
            cfg = dict(cfg)
            cfg["mqtt"] = dict(m, protocol=PROTOCOL)
        return cfg
    if re.search(r"\bprotocol\s*[=:]", cfg):
        return cfg
    return re.sub(r"(\bmqtt\s*[=:]\s*\{)", r"\1 protocol = %d;" % PROTOCOL, cfg, count=1)


def render_config(settings):
    """Render {name: value} as a libconfig file: dict -> group, list of dicts
    -> list of groups (one per line), list -> array, tuple -> list,
    str/int/bool/float -> scalars, Raw -> verbatim. The mqtt group gets
    protocol = MQTTGW_PROTOCOL where it names none (with_protocol)."""
    settings = with_protocol(settings)
    return "".join("%s = %s;\n" % (k, _lc_value(v, 0)) for k, v in settings.items())


def config_text(cfg):
    """The file's text for a config: a dict rendered, a str verbatim (both
    with the protocol of this run where they name none)."""
    return with_protocol(cfg) if isinstance(cfg, str) else render_config(cfg)


def serial_dev(name, port, **kw):
    d = {"name": name, "port": port, "baud": 115200, "eol": "\r\n", "max_frame": 64}
    d.update(kw)
    return d


def gateway_config(broker, serial=(), routes=(), station="S013", gpio=None, mqtt=None, **top):
    """Settings for a typical gateway: station, mqtt (uri of broker, client
    id, status topic ${station}/gateway/status), serial, routes. mqtt= keys
    override/extend the mqtt group; other keywords become top-level settings."""
    m = {"uri": broker.uri if hasattr(broker, "uri") else broker,    # Broker, PubackProxy or text
         "client_id": "mqttgw-${station}",
         "keepalive": 10,
         "qos": 1,
         "status_topic": "${station}/gateway/status"}
    if mqtt:
        m.update(mqtt)
    for k in [k for k, v in m.items() if v is None]:
        del m[k]
    cfg = {}
    if station is not None:
        cfg["station"] = station
    cfg["mqtt"] = m
    if serial:
        cfg["serial"] = list(serial)
    if gpio:
        cfg["gpio"] = list(gpio)
    if routes:
        cfg["routes"] = list(routes)
    cfg.update(top)
    return cfg


def write_config(cfg, name=None):
    """Write a config (dict, rendered; or str, verbatim) into the test dir."""
    path = tmppath(name or "mqttgw-%d.cfg" % next(_seq))
    with open(path, "w") as f:
        f.write(config_text(cfg))
    return path
