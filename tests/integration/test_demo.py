"""
test_demo.py - `make demo` is the README's first command: the script it
runs (scripts/demo.sh) is run here as a user would, against this build, and
what it prints is checked for what the README promises: the command reaches
the controller, the position comes back retained, a command the route does
not accept never reaches the port, the limit switch publishes one message
per stable change, the brake pulses, the polled sensor publishes JSON, and SIGTERM leaves "offline", the
brake at its fail-safe and exit status 0.

The sanitizer phase does not run it: the script starts mosquitto and the
tools as well, and preloading the ASan runtime into all of them would test
them, not us; test_bridge and test_gpio cover the same paths under ASan.
"""

import json
import os
import re
import subprocess

from harness import BUILD, ROOT

TIMEOUT = 90


def _demo_lines():
    env = dict(os.environ, MQTTGW_BUILD=BUILD)
    env.pop("LD_PRELOAD", None)
    r = subprocess.run([os.path.join(ROOT, "scripts", "demo.sh")], cwd=ROOT, env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=80)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, "demo.sh exited %d:\n%s" % (r.returncode, out)
    return out


def _section(out, n):
    m = re.search(r"^== %d\. .*?(?=^== )" % n, out, re.M | re.S)
    assert m, "demo output has no section %d:\n%s" % (n, out)
    return m.group(0)


def test_demo_shows_the_round_trip():
    out = _demo_lines()
    assert "S013/gateway/status online" in _section(out, 4), out
    assert "sub> S013/MOT01/POS/Z +001000" in _section(out, 5), out
    s8 = _section(out, 8)
    assert "refused by accept" in s8, s8
    port = [l.split("port| ", 1)[1] for l in s8.splitlines() if "port| " in l]
    assert port == ["motorsim: rx 'DRVZ+1000'", "motorsim: rx 'DRVX-250'",
                    "motorsim: rx 'STAT'", "motorsim: rx 'STOP'"], s8
    assert "S013/MOT01/POS/Z +001000" in _section(out, 9), out
    s10 = _section(out, 10)
    assert s10.count("sub> S013/MOT01/LIMZ 1") == 1 and s10.count("sub> S013/MOT01/LIMZ 0") == 1, s10
    s11 = _section(out, 11)
    assert "pin: ok 1" in s11 and "pin after the pulse: ok 0" in s11, s11
    s12 = _section(out, 12)
    states = re.findall(r"^  sub> S013/TH01/state (.*)$", s12, re.M)
    assert len(states) >= 2, s12
    for p in states:   # typed: JSON numbers, not strings, in the sensor's range
        st = json.loads(p)
        assert set(st) == {"temperature", "humidity"}, p
        assert all(isinstance(v, float) for v in st.values()), p
        assert 21.0 <= st["temperature"] <= 22.0 and 39.0 <= st["humidity"] <= 41.5, p
    assert "port| sensorsim: rx 'READ'" in s12, s12
    s13 = _section(out, 13)
    assert "sub> S013/gateway/status offline" in s13, s13
    assert "mqttgw exit status: 0" in s13, s13
    assert "port| motorsim: rx 'STOP'" in s13, s13
    assert re.search(r"gpio trace\| .* 27 value 1$", s13, re.M), s13


if os.environ.get("SAN", "") not in ("", "0"):
    del test_demo_shows_the_round_trip
