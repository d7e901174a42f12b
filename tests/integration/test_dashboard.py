"""
test_dashboard.py - the web dashboard (web/, built by `make web` into
build/web) in a real browser against the real thing: Debian's chromium,
headless, driven by playwright-core (web/test/browser.mjs, which takes one
JSON order per line from here), a mosquitto that serves the page with
http_dir from raspbian/mosquitto-websockets.conf itself (its listener moved
to a free 127.0.0.1 port) and logs users in with raspbian/mosquitto-acl.conf,
the unmodified daemon logged in as its station, the motor simulator and the
libgpiod stand-in.

What a user sees is what is asserted: text in the page (data-* attributes
only pick the element), the simulator's log of what reached the port, the
stand-in's pin level. Waits are for events with deadlines (playwright's
waits, the stand-in's `wait`, the simulator's log), never sleeps.

Screenshots go to build/dashboard-*.png.

Needs the built page, web/node_modules and chromium: `make check` builds
and installs them first (make web, scripts/install-deps.sh); without them
every test here fails saying what is missing.
"""

import json
import os
import re
import subprocess
import time

from harness import (ROOT, Broker, Ctl, Gateway, MotorSim, Sub, conf_settings, free_port,
                     gateway_config, gpio_env, pub, retained_now, secret_file, spawn, station_acl,
                     tmppath, wait_retained, wait_until)

TIMEOUT = 120

WEB = os.path.join(ROOT, "build", "web")
BROWSER_JS = os.path.join(ROOT, "web", "test", "browser.mjs")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PI4 = "gpiochip0:pinctrl-bcm2835:54:GPIO17=17,GPIO27=27,GPIO22=22"
SHOTS = os.path.join(ROOT, "build")
ACCEPT = "^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME|STAT)$"
LOGINS = {"admin": "admin-pw-1", "S013": "s013-pw-2", "operator": "op-pw-3", "dashboard": "dash-pw-4"}


def missing():
    why = []
    if not os.path.exists(os.path.join(WEB, "index.html")):
        why.append("build/web not built (make web)")
    if not os.path.exists(CHROMIUM):
        why.append("%s missing (scripts/install-deps.sh)" % CHROMIUM)
    if not os.path.isdir(os.path.join(ROOT, "web", "node_modules", "playwright-core")):
        why.append("web/node_modules missing (make web)")
    return why


# --------------------------------------------------------------------------
# The browser

class Browser:
    """node web/test/browser.mjs: one order, one JSON answer."""

    def __init__(self):
        self.log = tmppath("browser.log")
        errf = open(self.log, "ab")
        env = dict(os.environ, CHROMIUM=CHROMIUM, BROWSER_TMP=tmppath(""))
        self.proc = spawn(["node", BROWSER_JS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=errf, env=env, cwd=os.path.join(ROOT, "web"))
        errf.close()
        from harness import _register
        _register(self)
        first = self._read(60)
        assert first.get("value") == "ready", first

    def _read(self, timeout):
        import select
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
            if not r:
                raise AssertionError("browser did not answer within %.0fs; its log:\n%s"
                                     % (timeout, open(self.log).read()[-2000:]))
            b = os.read(self.proc.stdout.fileno(), 1)
            if not b:
                raise AssertionError("browser exited: %s" % open(self.log).read()[-2000:])
            line += b
        return json.loads(line)

    def do(self, op, timeout=30, **kw):
        kw["op"] = op
        self.proc.stdin.write((json.dumps(kw) + "\n").encode())
        self.proc.stdin.flush()
        r = self._read(timeout)
        if not r["ok"]:
            raise AssertionError("browser %s %s: %s" % (op, kw, r["error"]))
        return r["value"]

    def wait(self, sel, text=None, ms=10000):
        kw = {"sel": sel, "ms": ms}
        if text is not None:
            kw["text"] = text
        return self.do("wait", timeout=ms / 1000 + 10, **kw)

    def eval(self, js):
        return self.do("eval", js=js)

    def shot(self, name, full=True):
        return self.do("screenshot", path=os.path.join(SHOTS, "dashboard-%s.png" % name), full=full)

    def errors(self):
        return self.do("errors")

    def teardown(self):
        if self.proc.poll() is None:
            try:
                self.do("quit", timeout=10)
            except Exception:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# --------------------------------------------------------------------------
# Broker with logins, the ACL example and the WebSockets snippet

class Login:
    """mosquitto_pub/mosquitto_sub log in as user (their $XDG_CONFIG_HOME
    default options), so the harness's pub() and Sub work with logins;
    the environment is put back at teardown."""

    def __init__(self, user):
        from harness import _register
        d = tmppath("xdg-%s" % user)
        os.makedirs(d, exist_ok=True)
        for prog in ("mosquitto_pub", "mosquitto_sub"):
            with open(os.path.join(d, prog), "w") as f:
                f.write("-u %s\n-P %s\n" % (user, LOGINS[user]))
        self.saved = os.environ.get("XDG_CONFIG_HOME")
        os.environ["XDG_CONFIG_HOME"] = d
        _register(self)

    def teardown(self):
        if self.saved is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = self.saved


def web_broker():
    passwd, acl = station_acl(LOGINS)
    ws_port = free_port()
    # the shipped snippet, with a test port and the page just built
    ws = []
    for line in conf_settings(os.path.join(ROOT, "raspbian", "mosquitto-websockets.conf")):
        if line.startswith("listener "):
            line = "listener %d 127.0.0.1" % ws_port
        elif line.startswith("http_dir "):
            line = "http_dir " + WEB
        ws.append(line)
    assert any(l.startswith("http_dir") for l in ws) and "protocol websockets" in ws, ws
    conf = ["allow_anonymous false", "password_file " + passwd, "acl_file " + acl,
            # as mosquitto-acl.example: with 0, 2.0.11 hangs up on a client
            # whose QoS 1 publish the ACL denies instead of answering it
            "max_queued_messages 10000"] + ws
    b = Broker(extra_conf="\n".join(conf))
    b.ws_port = ws_port
    return b


class Rig:
    """Broker, motor simulator, the daemon (with the GPIO stand-in) and a
    subscriber as admin. ready(): the gateway is online."""

    def __init__(self, protocol=None, reply=None):
        why = missing()
        assert not why, "cannot run the dashboard tests: " + "; ".join(why)
        self.broker = web_broker()
        Login("admin")
        self.sim = MotorSim(link="ttyMOT01")
        pwfile = secret_file("gw.password", LOGINS["S013"])
        self.sub = Sub(self.broker, ["S013/#"])
        self.cfg = gateway_config(
            self.broker,
            serial=[dict({"name": "MOT01", "port": self.sim.path, "baud": 115200, "reopen_ms": 200,
                          "error_topic": "${station}/${name}/error"}, **({"reply": reply} if reply else {}))],
            gpio=[{"name": "LIMZ", "chip": "gpiochip0", "line": 17, "direction": "input",
                   "bias": "pull-up", "active_low": True},
                  {"name": "BRAKE", "chip": "gpiochip0", "line": 27, "direction": "output"}],
            routes=[{"from": "mqtt:${station}/MOT01/RECM", "to": "serial:MOT01", "accept": ACCEPT},
                    {"from": "serial:MOT01", "match": "^POS([XYZ])([+-][0-9]+)$",
                     "to": "mqtt:${station}/MOT01/POS/$1", "payload": "$2", "retain": True},
                    {"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND"},
                    {"from": "gpio:LIMZ", "to": "mqtt:${station}/MOT01/LIMZ", "retain": True},
                    {"from": "gpio:BRAKE", "to": "mqtt:${station}/MOT01/BRAKE", "retain": True},
                    {"from": "mqtt:${station}/MOT01/BRAKE/set", "to": "gpio:BRAKE"}],
            mqtt={"username": "S013", "password_file": pwfile, "stats_topic": "${station}/gateway/stats",
                  "stats_interval": 1, "reconnect_min_ms": 100, "reconnect_max_ms": 500,
                  **({"protocol": protocol} if protocol else {})})
        self.gw = Gateway(self.cfg, env=gpio_env(PI4, tmppath("gpio.sock"), tmppath("gpio.trace")))
        self.ctl = Ctl(tmppath("gpio.sock"), self.gw)
        self.sub.expect("S013/gateway/status", "online", timeout=15)
        self.ctl.wait("gpiochip0", 27, "used", 5000)
        wait_retained(self.broker, "S013/MOT01/status", "online", timeout=10)

    @property
    def page(self):
        return "http://127.0.0.1:%d/" % self.broker.ws_port

    def sim_rx(self):
        with open(self.sim.log, "rb") as f:
            return re.findall(r"motorsim: rx '([^']*)'", f.read().decode("utf-8", "replace"))


def login(br, rig, user):
    br.do("goto", url=rig.page)
    # the URL defaults to the page's own host: the WebSockets listener
    assert br.eval("() => document.querySelector('#url').value") == "ws://127.0.0.1:%d/" % rig.broker.ws_port
    br.do("fill", sel="#username", text=user)
    br.do("fill", sel="#password", text=LOGINS[user])
    br.do("click", sel="#connect-btn")
    br.wait("#conn-state", "connected")
    br.wait('nav button[data-station="S013"]', "online")
    br.wait('.station-view[data-station="S013"] .gw-status', "gateway online")
    br.wait('article[data-device="MOT01"] .avail', "online")


CMD = 'form.cmd[data-device="MOT01"]'


def send_cmd(br, text):
    br.do("fill", sel=CMD + " input.cmd-input", text=text)
    br.do("click", sel=CMD + " button[type=submit]")


# --------------------------------------------------------------------------

def test_info_document_describes_the_station_and_hides_secrets():
    rig = Rig()
    m = rig.sub.expect("S013/gateway/info", timeout=10)
    assert m.retained or m.qos >= 1
    doc = json.loads(m.payload)
    assert doc["station"] == "S013" and doc["stats_topic"] == "S013/gateway/stats", doc
    names = [d["name"] for d in doc["devices"]]
    assert names == ["MOT01", "LIMZ", "BRAKE"], names
    mot = doc["devices"][0]
    assert mot["port"] == rig.sim.path and mot["status_topic"] == "S013/MOT01/status", mot
    cmd = [r for r in doc["routes"] if r["direction"] == "command" and r["device"] == "MOT01"][0]
    assert cmd["topic"] == "S013/MOT01/RECM" and cmd["accept"] == ACCEPT, cmd
    assert "gw.password" not in m.payload and LOGINS["S013"] not in m.payload and "password" not in m.payload
    # a reload republishes it, with the new route
    cfg = dict(rig.cfg)
    cfg["routes"] = rig.cfg["routes"] + [{"from": "mqtt:${station}/MOT01/raw", "to": "serial:MOT01",
                                          "accept": "^STAT$"}]
    rig.gw.reload(cfg)
    m2 = rig.sub.expect("S013/gateway/info", timeout=10)
    assert any(r["topic"] == "S013/MOT01/raw" and r["accept"] == "^STAT$"
               for r in json.loads(m2.payload)["routes"]), m2.payload
    assert json.loads(retained_now(rig.broker, "S013/gateway/info").payload) == json.loads(m2.payload)


def test_operator_drives_the_station_from_the_page():
    # MQTT 5 and a reply pattern: the page asks with a response topic and
    # shows the device's reply to each of its commands
    rig = Rig(protocol=5, reply="^(POS[XYZ][+-][0-9]+|OK .*|ERR .*)$")
    br = Browser()
    login(br, rig, "operator")
    br.wait('article[data-device="LIMZ"]')
    br.wait('article[data-device="#stats"] [data-stat="up_frames"]')

    # a command from the command box reaches the motor, the position comes back
    send_cmd(br, "DRVZ+1000")
    br.wait('article[data-device="MOT01"] .value[data-topic="S013/MOT01/POS/Z"] .payload', "+001000")
    br.wait(CMD + " .history li", "reply POSZ+001000")
    wait_until(lambda: "DRVZ+1000" in rig.sim_rx(), 5, what="the simulator to receive DRVZ+1000")
    send_cmd(br, "DRVZ-250")
    br.wait('.value[data-topic="S013/MOT01/POS/Z"] .payload', "+000750")
    br.wait('.value[data-topic="S013/MOT01/POS/Z"] + .chart canvas')

    # a command the accept pattern refuses: shown refused, never sent
    send_cmd(br, "RM -RF")
    br.wait(CMD + " .history li.bad", "refused here")
    br.wait("#log li.refused", "RM -RF")
    send_cmd(br, "STOP")
    br.wait(CMD + " .history li", "OK STOP")
    rx = rig.sim_rx()
    assert rx[-1] == "STOP" and "RM -RF" not in rx, rx     # the next thing the port got was STOP

    # GPIO: the output switch drives the pin, the input lights up
    br.do("check", sel='.gpio-out[data-device="BRAKE"] input.switch', on=True)
    rig.ctl.wait("gpiochip0", 27, 1, 5000)
    br.wait('.value[data-topic="S013/MOT01/BRAKE"] .payload', "1")
    br.do("check", sel='.gpio-out[data-device="BRAKE"] input.switch', on=False)
    rig.ctl.wait("gpiochip0", 27, 0, 5000)
    br.do("click", sel='.gpio-out[data-device="BRAKE"] button.pulse')
    rig.ctl.wait("gpiochip0", 27, 1, 5000)
    rig.ctl.wait("gpiochip0", 27, 0, 5000)
    rig.ctl.set("gpiochip0", 17, 0)                          # pressed (active low)
    br.wait('.value.indicator.lit[data-topic="S013/MOT01/LIMZ"]')
    br.wait('article[data-device="#stats"] [data-stat="down_written"]')
    br.shot("operator")
    br.do("viewport", w=390, h=844)
    br.shot("phone", full=False)
    br.do("viewport", w=1100, h=900)

    # unplug the port: MOT01 goes offline in the page
    rig.sim.teardown()
    br.wait('article[data-device="MOT01"] .avail', "offline")
    br.wait('.station-view .gw-status', "gateway online")
    br.shot("unplugged")
    errs = br.errors()
    assert not errs, errs


def test_readonly_user_sees_everything_and_its_commands_are_refused():
    rig = Rig()
    pub(rig.broker, "S013/MOT01/RECM", "DRVX+5")             # something to see
    wait_retained(rig.broker, "S013/MOT01/POS/X", "+000005")
    br = Browser()
    login(br, rig, "dashboard")
    br.wait('.value[data-topic="S013/MOT01/POS/X"] .payload', "+000005")
    send_cmd(br, "DRVZ+1000")
    br.wait(CMD + " .history li.bad", "refused by the broker: not authorized")
    br.wait("#log li.refused", "not authorized")
    # a click, not a check: the page puts the switch back when the broker says no
    br.do("click", sel='.gpio-out[data-device="BRAKE"] input.switch')
    br.wait('form.cmd[data-device="BRAKE"] .history li.bad', "not authorized")
    assert br.eval("() => document.querySelector('.gpio-out[data-device=\"BRAKE\"] input.switch').checked") is False
    # nothing reached the port or the pin: the operator's next command is the next thing the port gets
    pub(rig.broker, "S013/MOT01/RECM", "DRVY+7")
    wait_until(lambda: "DRVY+7" in rig.sim_rx(), 5, what="DRVY+7 at the simulator")
    rx = rig.sim_rx()
    assert rx == ["DRVX+5", "DRVY+7"], rx
    assert rig.ctl.get("gpiochip0", 27) == 0
    br.shot("readonly")
    assert br.errors() == []


def test_page_stays_responsive_at_1000_messages_per_second():
    rig = Rig()
    br = Browser()
    login(br, rig, "operator")
    before = br.eval("() => window.mqttgwDashboard.renders")
    # main-thread tasks over 50 ms (the browser's "long tasks") while it works
    br.eval("() => { window.longTasks = []; new PerformanceObserver((l) => { for (const e of l.getEntries())"
            " window.longTasks.push(e.duration); }).observe({ type: 'longtask' }); return true; }")
    # 3,000 messages on a topic the page shows, as fast as mosquitto_pub sends them
    lines = "".join("POSX+%06d\r\n" % i for i in range(3000)).encode()
    t0 = time.monotonic()
    with open(tmppath("flood.txt"), "wb") as f:
        f.write(lines)
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(rig.broker.port), "-q", "0",
           "-t", "S013/MOT01/POS/X", "-l"]
    with open(tmppath("flood.txt"), "rb") as f:
        subprocess.run(cmd, stdin=f, check=True, timeout=30)
    br.wait('.value[data-topic="S013/MOT01/POS/X"] .payload', "POSX+002999", ms=20000)
    took = time.monotonic() - t0
    renders = br.eval("() => window.mqttgwDashboard.renders") - before
    # at most one render per frame (60/s), however many messages came
    assert renders <= (took + 1) * 65, (renders, took)
    longest = max(br.eval("() => window.longTasks") or [0])
    # never frozen: no task long enough for a user to notice a stuck page
    # (generous: 2 shared cores under make check)
    assert longest < 500, "the page was busy for %.0f ms at a stretch" % longest
    # and still answers: a command goes out and comes back
    send_cmd(br, "DRVZ+3")
    br.wait('.value[data-topic="S013/MOT01/POS/Z"] .payload', "+000003", ms=10000)
    print("# 3000 messages shown in %.2fs, %d renders, longest task %.0f ms" % (took, renders, longest))
    assert br.errors() == []


for _t in (test_info_document_describes_the_station_and_hides_secrets,
           test_operator_drives_the_station_from_the_page,
           test_readonly_user_sees_everything_and_its_commands_are_refused,
           test_page_stays_responsive_at_1000_messages_per_second):
    _t.timeout = 120
