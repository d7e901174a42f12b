"""
harness/env.py - where things are and how this run is set up.

Everything the environment decides, read once at import: the checkout
(ROOT), the build under test (MQTTGW_BUILD, default build/), the binaries
in it, the broker binary (MQTTGW_MOSQUITTO), whether daemons run under
valgrind (MQTTGW_VALGRIND) and which MQTT protocol configs get by default
(MQTTGW_PROTOCOL). Kept apart so every other module reads the same values
and nothing else looks at os.environ for them.
"""

import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
_build = os.environ.get("MQTTGW_BUILD", "build")
BUILD = _build if os.path.isabs(_build) else os.path.join(ROOT, _build)
MQTTGW = os.path.join(BUILD, "mqttgw")
MOTORSIM = os.path.join(BUILD, "sim", "prog_motorsim")
SPSHIM = os.path.join(BUILD, "sim", "lib_spshim.so")
# MQTTGW_MOSQUITTO: another broker binary (e.g. mosquitto 2.0.21 from
# bookworm-backports, unpacked beside the system's 2.0.11).
MOSQUITTO = os.environ.get("MQTTGW_MOSQUITTO") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else "mosquitto")

# MQTTGW_VALGRIND=1 runs every daemon under valgrind (memcheck, leaks);
# any error or definite leak in its report fails the test (see Gateway).
VALGRIND = os.environ.get("MQTTGW_VALGRIND", "") not in ("", "0")

# Default wait for an event that should happen promptly (a message, a line);
# valgrind makes the daemon some 20 times slower.
EVENT_TIMEOUT = 20.0 if VALGRIND else 5.0

# MQTTGW_PROTOCOL=5 runs every daemon config that does not name its MQTT
# protocol with `mqtt.protocol = 5` (make check runs the end-to-end suites
# on both protocols, so a difference between the two cannot hide). A test
# that names a protocol keeps it.
PROTOCOL = int(os.environ.get("MQTTGW_PROTOCOL", "4") or "4")


class HarnessError(AssertionError):
    """A fixture could not do its job (binary missing, broker won't start)."""

