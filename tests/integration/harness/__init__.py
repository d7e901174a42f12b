"""
harness - shared fixtures for the mqttgw integration tests (stdlib only).

Every fixture here starts real things: a mosquitto broker on a free
127.0.0.1 port, pseudo-terminal pairs standing in for serial ports, the
unmodified daemon ($MQTTGW_BUILD/mqttgw), mosquitto_sub/mosquitto_pub, the
motor simulator and the libgpiod stand-in. Tests are run by tests/run.py,
one at a time, each in a fresh temporary directory (harness.tmpdir()).

Shaped for two things:

  * No leftovers. Every process is started through spawn(): its own process
    group (start_new_session), PR_SET_PDEATHSIG so it dies with the runner,
    and a registry that tests/run.py tears down after every test, pass, fail
    or timeout (end_test()). A last sweep kills any direct child still alive.
    Tests never need try/finally for cleanup.

  * No fixed sleeps. Everything waits for an event with a deadline: a log
    line, a byte on a pty (select), a message from mosquitto_sub. The only
    calls that wait out their whole window are the "nothing happens"
    assertions (Pty.expect_nothing, Sub.expect_none), and the tests prefer
    ordering proofs (a following good command is the next thing to arrive)
    to those windows.

Tests import everything from here (`from harness import Broker, ...`);
the modules are split by concern, each opening with what it holds:

    env.py       paths, the build under test, MQTTGW_* settings, HarnessError
    fixtures.py  the per-test registry of fixtures, teardown, the sweep
    procs.py     spawn/run/stop processes (own group, die with the runner)
    wait.py      wait_until with a deadline; reading logs (tail)
    net.py       free ports on 127.0.0.1
    broker.py    Broker: a private mosquitto
    mqttc.py     pub, pub_lines, Sub, Msg, retained-message lookups
    proxy.py     PubackProxy: what the broker acked; network cuts
    serial.py    Pty (serial ports), raw mode checks, MotorSim
    feeder.py    Feeder: numbered lines into a pty at a steady rate
    sync.py      sync_out/sync_in: the path through the daemon is open
    auth.py      password files (broker, daemon), the shipped broker snippets
    gpio.py      the libgpiod stand-in: its environment, control socket, trace
    config.py    configs from dicts (libconfig), MQTTGW_PROTOCOL, the stock ACCEPT
    gateway.py   Gateway (the daemon), run_mqttgw, LD_PRELOAD, --allow-root
    leaks.py     sanitizer/valgrind reports and the leaks that are not ours
    hostile.py   the hostile-input suites' routes (cmd_route, send_route) and
                 counters (usr1_stats, station_stats_next/_wait)
    session.py   SessionSub: a counting QoS 1 subscriber on a raw socket
    reliability.py  the MQTT reliability suites' rig: rel_config, rel_routes,
                 session_sync_in, connected_count, connect_attempts, figure
    serialrig.py the serial suites' rig: PortPeer (a device played by a thread),
                 dev_routes, one_port, CLOCK_SLACK_MS

Quick reference:

    b   = Broker()                       # started, b.port
    p   = Pty(link="ttyMOT01")           # p.path (slave or symlink), p.write, p.read_line
    cfg = gateway_config(b, serial=[serial_dev("MOT01", p.path)], routes=[...])
    gw  = Gateway(cfg)                   # started: mqttgw -f -v -c FILE
    s   = Sub(b, ["S013/#"])             # subscribed (synced) when the constructor returns
    s.expect("S013/gateway/status", "online")
    pub(b, "S013/MOT01/RECM", "DRVZ+1000")
    assert p.read_line(5) == b"DRVZ+1000\\r\\n"
    p.write(b"POSZ+001000\\r\\n"); s.expect("S013/MOT01/POS/Z", "+001000")
    retained_now(b, topic) / get_retained(b, topic, timeout) / wait_retained(b, topic, payload)
    gw.wait_for_log(r"regex"); gw.terminate() -> exit code; gw.kill(); gw.returncode
    MotorSim(link="ttyMOTSIM").path      # the simulator's port for the config
    px = PubackProxy(b); gateway_config(px, ...)   # MQTT-aware proxy: px.acked, px.cut()
    Gateway(cfg, env=preload_env(SPSHIM))   # LD_PRELOAD shims (ASan-aware)
    Gateway(cfg, env=gpio_env(PI4, sock, trace)); Ctl(sock, gw).set(chip, line, 1)

Running as root, Gateway adds --allow-root if the daemon offers that option.

Other helpers write tests against these names at any time: every name
this package ever exported stays importable from it, including the
underscored ones tests/run.py and some tests use (_register, _scope, ...).
"""


from .env import (BUILD, EVENT_TIMEOUT, MOSQUITTO, MOTORSIM, MQTTGW, PROTOCOL, ROOT, SPSHIM,
                  VALGRIND, HarnessError, _build)
from .fixtures import (_children, _fixtures, _gateways, _module_fixtures, _module_pids,
                       _problems, _register, _scope, _seq, _state, _teardown_all, _unregister,
                       begin_module, begin_test, end_module, end_test, failure_notes, gateways,
                       kill_children, tmpdir, tmppath)
from .procs import _pdeathsig, _prepare_libc, kill_group, run, spawn, stop_process
from .wait import read_text, tail, wait_until
from .net import _can_connect, _port_of, free_port
from .mqttc import Msg, Sub, get_retained, pub, pub_lines, retained_now, wait_retained
from .broker import Broker
from .proxy import PubackProxy, _ProxyConn, _rst_close, _varint, mqtt_split
from .serial import MotorSim, Pty, crc16_modbus, is_raw, set_raw
from .stats import next_stats as stats_next, wait_stats as stats_wait
from .config import (ACCEPT, Raw, _lc_inline, _lc_string, _lc_value, config_text, gateway_config,
                     render_config, serial_dev, with_protocol, write_config)
from .leaks import (PAHO_LSAN_SUPP, PAHO_VALGRIND_SUPP, SANITIZER_PATTERNS, paho_only_leaks,
                    sanitizer_report, sanitizer_start, valgrind_findings)
from .gateway import Gateway, asan_runtime, gateway_ready, preload_env, root_args, run_mqttgw
from .sync import sync_in, sync_out
from .feeder import Feeder
from .auth import conf_settings, mosquitto_passwd, secret_file, station_acl
from .hostile import (STATION_STATS, USR1_RE, cmd_route, send_route, station_stats_next,
                      station_stats_wait, usr1_stats)
from .session import ProtocolError, SessionSub
from .reliability import (connect_attempts, connected_count, figure, rel_config, rel_routes,
                          session_sync_in)
from .serialrig import CLOCK_SLACK_MS, PortPeer, dev_routes, one_port
from .gpio import (GPIOSIM, PI4, Ctl, gpio_env, gpio_in, gpio_out, read_trace, set_route,
                   state_route, trace_of)

# Everything above, for `from harness import *` and the linters.
__all__ = ["Feeder", "crc16_modbus", "gateway_ready", "stats_next", "stats_wait", "BUILD", "EVENT_TIMEOUT", "MOSQUITTO", "MOTORSIM", "MQTTGW", "PROTOCOL", "ROOT",
           "SPSHIM", "VALGRIND", "HarnessError", "_build", "_children", "_fixtures", "_gateways",
           "_module_fixtures", "_module_pids", "_problems", "_register", "_scope", "_seq",
           "_state", "_teardown_all", "_unregister", "begin_module", "begin_test", "end_module",
           "end_test", "failure_notes", "gateways", "kill_children", "tmpdir", "tmppath",
           "_pdeathsig", "_prepare_libc", "kill_group", "run", "spawn", "stop_process",
           "read_text", "tail", "wait_until", "_can_connect", "_port_of", "free_port", "Msg",
           "Sub", "get_retained", "pub", "pub_lines", "retained_now", "wait_retained", "Broker",
           "PubackProxy", "_ProxyConn", "_rst_close", "_varint", "mqtt_split", "MotorSim", "Pty",
           "is_raw", "set_raw", "Raw", "_lc_inline", "_lc_string", "_lc_value", "config_text",
           "gateway_config", "render_config", "serial_dev", "with_protocol", "write_config",
           "PAHO_LSAN_SUPP", "PAHO_VALGRIND_SUPP", "SANITIZER_PATTERNS", "paho_only_leaks",
           "sanitizer_report", "sanitizer_start", "valgrind_findings", "Gateway", "asan_runtime",
           "preload_env", "root_args", "run_mqttgw", "GPIOSIM", "PI4", "Ctl", "gpio_env",
           "gpio_in", "gpio_out", "read_trace", "set_route", "state_route", "trace_of",
           "sync_in", "sync_out", "conf_settings", "mosquitto_passwd", "secret_file",
           "station_acl", "ACCEPT", "STATION_STATS", "USR1_RE", "cmd_route", "send_route",
           "station_stats_next", "station_stats_wait", "usr1_stats", "ProtocolError", "SessionSub",
           "connect_attempts", "connected_count", "figure", "rel_config", "rel_routes",
           "session_sync_in", "CLOCK_SLACK_MS", "PortPeer", "dev_routes", "one_port"]
