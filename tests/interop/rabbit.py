"""
rabbit.py - a RabbitMQ cluster with the MQTT plugin, on loopback, for the
interoperability round (make check-interop; not part of make check).

Debian's rabbitmq-server (3.10 on bookworm), started by the test, never the
system's service: every node gets its own RABBITMQ_NODENAME (rmqN@localhost),
ports (AMQP, MQTT, Erlang distribution), data and log directories in the
test's temp dir, and one Erlang cookie (a HOME of their own). epmd, the
Erlang port mapper the nodes register with, is started here too on a free
port (ERL_EPMD_PORT), so nothing outside the test is shared or left behind:
every process goes through harness.spawn and dies with the test.

    c = RabbitCluster(2, policy=True)   # nodes joined, MQTT on c.nodes[i].mqtt_port
    c.nodes[0].stop(); c.nodes[0].start()
    c.ctl(0, "list_queues", "name", "messages")

policy=True sets the recipe of docs/INTEROP.md: a classic mirrored-queue
policy on the plugin's session queues (mqtt-subscription-*), so a session
survives the node it was made on.
"""

import os
import random
import socket
import subprocess
import time

import harness
from harness import HarnessError, spawn, stop_process, tail, tmpdir

RMQ_BIN = "/usr/lib/rabbitmq/bin"
POLICY = '{"ha-mode":"all","ha-sync-mode":"automatic"}'


def quiet_port():
    """A free 127.0.0.1 port below the ephemeral range (32768 and up on
    Linux): the nodes bind theirs seconds after they are chosen, and an
    outgoing connection (rabbitmqctl, the Erlang distribution) could take a
    port from that range meanwhile (seen: eaddrinuse at a node start)."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise HarnessError("no free port in 20000..32000")


def available():
    return os.path.exists(os.path.join(RMQ_BIN, "rabbitmq-server"))


class _Epmd:
    teardown_rank = 3       # after the nodes

    def __init__(self, home):
        self.port = quiet_port()
        self.proc = spawn(["epmd", "-address", "127.0.0.1", "-port", str(self.port)], env=dict(os.environ, HOME=home),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        harness._register(self)
        deadline = time.monotonic() + 10
        while not harness._can_connect(self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise HarnessError("epmd did not start on %d" % self.port)
            time.sleep(0.05)

    def teardown(self):
        stop_process(self.proc, 15, 5.0)


class RabbitNode:
    teardown_rank = 2

    def __init__(self, cluster, i):
        self.cluster = cluster
        self.name = "rmq%d@localhost" % (i + 1)
        self.dir = os.path.join(cluster.dir, "rmq%d" % (i + 1))
        os.makedirs(os.path.join(self.dir, "log"), exist_ok=True)
        self.amqp_port, self.mqtt_port, self.dist_port = quiet_port(), quiet_port(), quiet_port()
        self.proc = None
        self.log = os.path.join(self.dir, "stdout.log")
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp.1 = 127.0.0.1:%d\n"
                    "mqtt.listeners.tcp.1 = 127.0.0.1:%d\n"
                    "mqtt.allow_anonymous = true\n"
                    "mqtt.default_user = guest\n"
                    "mqtt.default_pass = guest\n"
                    "mqtt.vhost = /\n"
                    "mqtt.exchange = amq.topic\n"
                    "loopback_users = none\n"
                    "log.file.level = info\n" % (self.amqp_port, self.mqtt_port))
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        harness._register(self)

    @property
    def uri(self):
        return "tcp://127.0.0.1:%d" % self.mqtt_port

    @property
    def port(self):         # what harness.Sub / pub take from a broker
        return self.mqtt_port

    def env(self):
        e = dict(os.environ)
        e.update(HOME=self.cluster.home, ERL_EPMD_PORT=str(self.cluster.epmd.port),
                 RABBITMQ_NODENAME=self.name, RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
                 RABBITMQ_NODE_PORT=str(self.amqp_port), RABBITMQ_DIST_PORT=str(self.dist_port),
                 RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq"),
                 RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir, "enabled_plugins"),
                 RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
                 RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
                 RABBITMQ_PID_FILE=os.path.join(self.dir, "pid"),
                 # the Erlang distribution on loopback too
                 RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
                 RABBITMQ_CONF_ENV_FILE=os.path.join(self.dir, "no-env.conf"),
                 RABBITMQ_ADVANCED_CONFIG_FILE=os.path.join(self.dir, "no-advanced.config"))
        return e

    def ctl(self, *args, timeout=120, check=True):
        r = subprocess.run([os.path.join(RMQ_BIN, "rabbitmqctl"), "-n", self.name] + list(args),
                           env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        out = r.stdout.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise HarnessError("rabbitmqctl -n %s %s: exit %d\n%s\n%s"
                               % (self.name, " ".join(args), r.returncode, out, tail(self.log, 20)))
        return out

    def start(self, timeout=120):
        pidfile = os.path.join(self.dir, "pid")
        if os.path.exists(pidfile):         # the last run's: `wait` would watch that pid
            os.unlink(pidfile)
        logf = open(self.log, "ab")
        self.proc = spawn([os.path.join(RMQ_BIN, "rabbitmq-server")], env=self.env(),
                          stdout=logf, stderr=logf)
        logf.close()
        # `wait PIDFILE` waits for the node to write it, then for the app to boot
        self.ctl("wait", "--timeout", str(timeout), os.path.join(self.dir, "pid"), timeout=timeout + 10)
        deadline = time.monotonic() + 30
        while not harness._can_connect(self.mqtt_port):
            if time.monotonic() > deadline:
                raise HarnessError("%s: no MQTT listener on %d\n%s"
                                   % (self.name, self.mqtt_port, tail(self.log, 20)))
            time.sleep(0.1)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """A clean shutdown of the whole node (rabbitmqctl stop)."""
        if self.running():
            self.ctl("stop", check=False)
            stop_process(self.proc, 15, 30.0)
        return self

    def kill(self):
        if self.proc is not None:
            harness.kill_group(self.proc)
        return self

    def teardown(self):
        self.kill()


class RabbitCluster:
    def __init__(self, n=2, policy=True):
        if not available():
            raise HarnessError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        self.dir = tmpdir()
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home, exist_ok=True)
        cookie = os.path.join(self.home, ".erlang.cookie")
        with open(cookie, "w") as f:
            f.write("MQTTGWINTEROPCOOKIE%d" % os.getpid())
        os.chmod(cookie, 0o400)
        self.epmd = _Epmd(self.home)
        self.nodes = [RabbitNode(self, i) for i in range(n)]
        self.nodes[0].start()
        for node in self.nodes[1:]:
            node.start()
            node.ctl("stop_app")
            node.ctl("join_cluster", self.nodes[0].name)
            node.ctl("start_app")
            node.ctl("await_startup")
        if policy:
            self.nodes[0].ctl("set_policy", "--apply-to", "queues", "mqtt-sessions",
                              "^mqtt-subscription-", POLICY)

    def ctl(self, i, *args, **kw):
        return self.nodes[i].ctl(*args, **kw)

    def queues(self, i):
        """{queue name: (messages, node)} as node i sees them."""
        out = self.ctl(i, "list_queues", "--quiet", "--no-table-headers", "name", "messages", "pid",
                       check=False)
        q = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].strip().isdigit():
                q[parts[0]] = (int(parts[1]), parts[2])
        return q
