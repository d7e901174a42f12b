"""
nodered.py - the Node-RED peer of `make bench` (run.py): the bridge most
people build instead of a C daemon, Node-RED 4 with node-red-node-serialport,
doing the same job as mqttgw and tutorial_gateway.py with the same topics
and QoS (tests/bench/nodered/flows.json):

    serial in MOTnn -> "POSX+001000" -> S013/MOTnn/POS/X "+001000", any other
                       line -> S013/MOTnn/SEND            (mqtt out)
    S013/MOTnn/RECM (mqtt in) -> accept regex -> "<payload>\\r\\n" (serial out)
    S013/gateway/status: retained "online" as the broker node's birth
                         message, "offline" as its will

Why it is shaped so:
  * Installed by the bench, never into the repo: the pinned package.json and
    package-lock.json under tests/bench/nodered/ are copied to
    $MQTTGW_BUILD/bench/nodered/ and `npm ci` runs there, once (again only
    when the lock changes). No npm or no registry (an offline machine): the
    bench says why and leaves the Node-RED column empty, it does not fail.
  * The flows file is static; what changes per run (the broker's port, the
    ptys, the QoS) comes in through environment variables, which Node-RED
    substitutes in node properties written as "${NAME}".
  * Nothing listens but on loopback: the editor and admin API are off
    (httpAdminRoot false, httpNodeRoot false) and the HTTP server binds
    127.0.0.1 on a free port; userDir is the run's temp dir.
"""

import filecmp
import os
import shutil
import subprocess

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nodered")
FLOWS = os.path.join(HERE, "flows.json")

SETTINGS = """// written by tests/bench/nodered.py for one bench run
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: %d,
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    flowFile: "flows.json",
    credentialSecret: false,
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    logging: { console: { level: "warn", metrics: false, audit: false } },
    functionGlobalContext: {},
};
"""


def install(build, log):
    """npm ci the pinned Node-RED into BUILD/bench/nodered. Returns (dir, None) or (None, why not)."""
    dest = os.path.join(build, "bench", "nodered")
    red = os.path.join(dest, "node_modules", "node-red", "red.js")
    lock = os.path.join(HERE, "package-lock.json")
    if not shutil.which("node") or not shutil.which("npm"):
        return None, "node/npm not installed (apt install nodejs npm)"
    if os.path.exists(red) and os.path.exists(os.path.join(dest, "package-lock.json")) \
            and filecmp.cmp(lock, os.path.join(dest, "package-lock.json"), shallow=False):
        return dest, None
    os.makedirs(dest, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(HERE, f), os.path.join(dest, f))
    log("nodered: npm ci (Node-RED and node-red-node-serialport, pinned) into %s" % dest)
    try:
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel", "error"], cwd=dest,
                           capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "npm ci took over 10 minutes (no network?)"
    if r.returncode != 0 or not os.path.exists(red):
        # a half install must not count as installed next time
        shutil.rmtree(os.path.join(dest, "node_modules"), ignore_errors=True)
        os.unlink(os.path.join(dest, "package-lock.json"))
        err = [ln for ln in (r.stderr or r.stdout).strip().splitlines() if "complete log" not in ln]
        return None, "npm ci failed (no network or registry?): %s" % (" / ".join(err[:2]) if err else r.returncode)
    return dest, None


def version(dest):
    try:
        import json
        with open(os.path.join(dest, "node_modules", "node-red", "package.json")) as f:
            nr = json.load(f)["version"]
        with open(os.path.join(dest, "node_modules", "node-red-node-serialport", "package.json")) as f:
            sp = json.load(f)["version"]
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        return "Node-RED %s, node-red-node-serialport %s, Node.js %s" % (nr, sp, node)
    except (OSError, ValueError, KeyError):
        return "?"


def command(dest, tmp, broker_port, ui_port, qos, paths):
    """(argv, env additions) that start Node-RED on the bench flows."""
    user = os.path.join(tmp, "nodered-user")
    os.makedirs(user, exist_ok=True)
    shutil.copy(FLOWS, os.path.join(user, "flows.json"))
    settings = os.path.join(user, "settings.js")
    with open(settings, "w") as f:
        f.write(SETTINGS % ui_port)
    env = {"BENCH_BROKER_PORT": str(broker_port), "BENCH_QOS": str(qos), "NODE_ENV": "production"}
    for i, p in enumerate(paths):
        env["BENCH_PORT%d" % (i + 1)] = p
    argv = ["node", os.path.join(dest, "node_modules", "node-red", "red.js"), "--settings", settings,
            "--userDir", user, "flows.json"]
    return argv, env


def flows(nports=8):
    """The flows file's content (how tests/bench/nodered/flows.json was written: `python3 nodered.py`)."""
    up = ("const line = msg.payload.replace(/\\r?\\n$/, '');\n"
          "const m = /^POS([XYZ])([+-][0-9]+)$/.exec(line);\n"
          "msg.qos = Number(env.get('BENCH_QOS'));\nmsg.retain = false;\n"
          "if (m) { msg.topic = 'S013/%s/POS/' + m[1]; msg.payload = m[2]; }\n"
          "else { msg.topic = 'S013/%s/SEND'; msg.payload = line; }\nreturn msg;")
    down = ("const cmd = String(msg.payload);\n"
            "if (msg.retain || !/^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME|STAT)$/.test(cmd)) {\n"
            "    node.warn('refused: ' + msg.topic + ' ' + cmd); return null;\n}\n"
            "msg.payload = cmd + '\\r\\n';\nreturn msg;")
    N = [{"id": "tab", "type": "tab", "label": "mqttgw bench peer"},
         {"id": "broker", "type": "mqtt-broker", "name": "bench broker", "broker": "127.0.0.1",
          "port": "${BENCH_BROKER_PORT}", "clientid": "nodered-bench", "autoConnect": True, "usetls": False,
          "protocolVersion": "4", "keepalive": "60", "cleansession": True, "autoUnsubscribe": True,
          "birthTopic": "S013/gateway/status", "birthQos": "1", "birthRetain": "true", "birthPayload": "online",
          "birthMsg": {}, "closeTopic": "", "closeQos": "0", "closeRetain": "false", "closePayload": "",
          "closeMsg": {}, "willTopic": "S013/gateway/status", "willQos": "1", "willRetain": "true",
          "willPayload": "offline", "willMsg": {}, "userProps": "", "sessionExpiry": ""},
         {"id": "mqttout", "type": "mqtt out", "z": "tab", "name": "uplink", "topic": "", "qos": "",
          "retain": "", "respTopic": "", "contentType": "", "userProps": "", "correl": "", "expiry": "",
          "broker": "broker", "x": 600, "y": 40, "wires": []}]
    for i in range(1, nports + 1):
        n = "MOT%02d" % i
        N += [{"id": "port%d" % i, "type": "serial-port", "name": n, "serialport": "${BENCH_PORT%d}" % i,
               "serialbaud": "115200", "databits": "8", "parity": "none", "stopbits": "1", "waitfor": "",
               "dtr": "none", "rts": "none", "cts": "none", "dsr": "none", "newline": "\\n", "bin": "false",
               "out": "char", "addchar": "", "responsetimeout": "10000"},
              {"id": "in%d" % i, "type": "serial in", "z": "tab", "name": n, "serial": "port%d" % i,
               "x": 100, "y": 40 + 80 * i, "wires": [["up%d" % i]]},
              {"id": "up%d" % i, "type": "function", "z": "tab", "name": "map " + n, "func": up % (n, n),
               "outputs": 1, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [],
               "x": 300, "y": 40 + 80 * i, "wires": [["mqttout"]]},
              {"id": "recm%d" % i, "type": "mqtt in", "z": "tab", "name": n + " commands",
               "topic": "S013/%s/RECM" % n, "qos": "${BENCH_QOS}", "datatype": "utf8", "broker": "broker",
               "nl": False, "rap": True, "rh": 0, "inputs": 0, "x": 100, "y": 80 + 80 * i,
               "wires": [["down%d" % i]]},
              {"id": "down%d" % i, "type": "function", "z": "tab", "name": "accept " + n, "func": down,
               "outputs": 1, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [],
               "x": 300, "y": 80 + 80 * i, "wires": [["out%d" % i]]},
              {"id": "out%d" % i, "type": "serial out", "z": "tab", "name": n, "serial": "port%d" % i,
               "x": 500, "y": 80 + 80 * i, "wires": []}]
    return N


if __name__ == "__main__":
    import json
    with open(FLOWS, "w") as f:
        json.dump(flows(), f, indent=1)
        f.write("\n")
