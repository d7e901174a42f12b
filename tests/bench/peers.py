"""
peers.py - the gateways under test: mqttgw's config for the bench (eight
ports, their POS, catch-all and command routes, sixteen GPIO lines) and
Peer, which starts mqttgw, Node-RED or the Python tutorial bridge on the
run's broker and ports and waits until it says it is online.
"""

import os
import subprocess

import nodered
from world import (GPIOSIM, MQTTGW, NGPIO, NODERED, PYTHON, STATION, TUTORIAL,
                   free_port, spawn, stop)

# Issue 15's JSON route on the same frames: the same match and topic, two typed fields in place of
# payload = "$2" ("POSX+000000042" -> {"pos":42,"mm":4.2}, the position in 0.1 mm steps), so what a
# frame costs more than on the plain route is the JSON payload and nothing else (prog_benchsub reads
# the sequence number from "pos").
JSON_FIELDS = 'json = { pos = "${2|int}"; mm = "${2|float|scale:0.1}"; };'


def mqttgw_config(broker, ports, qos, gpio, json=False):
    """The bench config; json: the POS routes publish a JSON object with two typed fields (JSON_FIELDS)."""
    L = ['station = "%s";' % STATION,
         'mqtt = { uri = "%s"; client_id = "mqttgw-bench"; keepalive = 60; clean_session = true; qos = %d; };'
         % (broker.uri, qos),
         "serial = ("]
    L.append(",\n".join('  { name = "MOT%02d"; port = "%s"; baud = 115200; eol = "\\r\\n"; max_frame = 64; }'
                        % (i + 1, p) for i, p in enumerate(ports.paths)))
    L.append(");")
    routes = []
    for i in range(len(ports.paths)):
        n = "MOT%02d" % (i + 1)
        routes += ['  { from = "mqtt:${station}/%s/RECM"; to = "serial:%s";\n'
                   '    accept = "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME|STAT)$"; }' % (n, n),
                   '  { from = "serial:%s"; match = "^POS([XYZ])([+-][0-9]+)$";\n'
                   '    to = "mqtt:${station}/%s/POS/$1"; %s }' % (n, n, JSON_FIELDS if json else 'payload = "$2";'),
                   '  { from = "serial:%s"; to = "mqtt:${station}/%s/SEND"; }' % (n, n)]
    if gpio:
        L.append("gpio = (")
        g = []
        for i in range(NGPIO // 2):
            g.append('  { name = "IN%02d"; chip = "gpiochip0"; line = %d; direction = "input"; edge = "both"; '
                     'bias = "pull-up"; active_low = true; debounce_ms = 20; }' % (i + 1, 4 + i))
            routes.append('  { from = "gpio:IN%02d"; to = "mqtt:${station}/gpio/IN%02d"; retain = true; }'
                          % (i + 1, i + 1))
        for i in range(NGPIO // 2):
            g.append('  { name = "OUT%02d"; chip = "gpiochip0"; line = %d; direction = "output"; initial = 0; }'
                     % (i + 1, 16 + i))
            routes.append('  { from = "mqtt:${station}/gpio/OUT%02d/set"; to = "gpio:OUT%02d"; }' % (i + 1, i + 1))
        L.append(",\n".join(g))
        L.append(");")
    L.append("routes = (")
    L.append(",\n".join(routes))
    L.append(");")
    return "\n".join(L) + "\n"


def mqttgw_refuses(tmp, text):
    """Why MQTTGW --check refuses this config (its first line), or None: an older build given with
    MQTTGW_BENCH may not know a setting the bench uses (json routes), and the run then skips it."""
    path = os.path.join(tmp, "check.cfg")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([MQTTGW, "--check", "-c", path], capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[0]


class Peer:
    """A gateway under test: mqttgw or the tutorial script."""

    def __init__(self, kind, broker, ports, tmp, gpio):
        self.kind, self.broker, self.ports, self.tmp, self.gpio = kind, broker, ports, tmp, gpio
        self.proc = None

    def start(self, qos, extra="", env_extra=None, mqtt_opts="", json=False):
        """Start the peer with QoS `qos` routes; mqttgw only: `extra` config text, `mqtt_opts` in its
        mqtt group, json: the POS routes publish JSON (JSON_FIELDS)."""
        logf = open(os.path.join(self.tmp, "%s-q%d.log" % (self.kind, qos)), "wb")
        env = dict(os.environ)
        if self.kind == "mqttgw":
            cfg = os.path.join(self.tmp, "mqttgw-q%d%s.cfg" % (qos, "-json" if json else ""))
            with open(cfg, "w") as f:
                text = mqttgw_config(self.broker, self.ports, qos, self.gpio, json)
                if extra:
                    text = text.replace("clean_session = true", "clean_session = false") + extra
                if mqtt_opts:
                    text = text.replace("keepalive = 60;", "keepalive = 60; " + mqtt_opts)
                f.write(text)
            argv = [MQTTGW, "-f", "-c", cfg]
            if "--allow-root" in subprocess.run([MQTTGW, "--help"], capture_output=True, text=True).stdout:
                argv.append("--allow-root")
            if self.gpio:
                env["LD_PRELOAD"] = GPIOSIM
                env["MQTTGW_GPIOSIM"] = "gpiochip0:pinctrl-bcm2835:54"
        elif self.kind == "nodered":
            argv, nenv = nodered.command(NODERED["dir"], self.tmp, self.broker.port, free_port(), qos,
                                         self.ports.paths)
            env.update(nenv)
        else:
            argv = [PYTHON, TUTORIAL, "--host", "127.0.0.1", "--port", str(self.broker.port), "--qos", str(qos)]
            for i, p in enumerate(self.ports.paths):
                argv += ["--serial", "MOT%02d=%s" % (i + 1, p)]
        for k, v in (env_extra or {}).items():
            env[k] = env[k] + ":" + v if k == "LD_PRELOAD" and env.get(k) else v
        self.proc = spawn(argv, stdout=logf, stderr=logf, env=env)
        logf.close()
        try:
            self.broker.wait_status("online", 90 if self.kind == "nodered" else 15)
        except RuntimeError:
            raise RuntimeError("%s did not come online; its log:\n%s" % (self.kind, self.log_tail(qos)))
        self.qos = qos
        return self

    def log_tail(self, qos):
        try:
            with open(os.path.join(self.tmp, "%s-q%d.log" % (self.kind, qos)), "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        rc = stop(self.proc)
        self.broker.clear_status()
        return rc
