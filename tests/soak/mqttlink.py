"""
mqttlink.py - the soak's own MQTT client: one paho-mqtt (Python, Debian's
python3-paho-mqtt) connection that publishes the commands and receives
everything the gateway publishes, across broker restarts.

Why not the harness's mosquitto_sub/mosquitto_pub: the soak counts every
QoS 1 message for half an hour while the broker is restarted under it.
That needs a client that keeps one persistent session (clean_session
false, fixed client id: the broker, with persistence on, keeps its
subscriptions and queued messages through a restart), reconnects by
itself, queues publishes while the broker is away and resends unacked
ones. mosquitto_pub -l gives up when its connection drops, and a process
per command would cost more CPU than the gateway under test.

Messages land in a deque (thread-safe append/popleft) that the soak's
loop drains; paho's own network thread never touches the soak's state.
"""

import collections
import threading
import time

import paho.mqtt.client as mqtt


class Link:
    """One persistent-session client. inbox: deque of (monotonic time,
    topic, payload bytes, retained, dup)."""

    def __init__(self, port, client_id, filters, keepalive=10):
        self.port = port
        self.filters = list(filters)
        self.inbox = collections.deque()
        self.connects = 0       # CONNACKs accepted (1 + reconnects)
        self.acked = 0          # publishes the broker acknowledged
        self.subscribed = 0     # SUBACKs (one per connection)
        self.lock = threading.Lock()
        self.c = mqtt.Client(client_id=client_id, clean_session=False,
                             protocol=mqtt.MQTTv311)
        self.c.max_queued_messages_set(0)       # queue without bound while the broker is away
        self.c.max_inflight_messages_set(50)
        self.c.reconnect_delay_set(min_delay=0.2, max_delay=1)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_publish = self._on_publish
        self.c.on_subscribe = self._on_subscribe
        self.c.connect("127.0.0.1", port, keepalive)
        self.c.loop_start()

    def _on_connect(self, client, userdata, flags, rc):
        if rc == 0:
            client.subscribe([(f, 1) for f in self.filters])
            with self.lock:
                self.connects += 1

    def _on_message(self, client, userdata, msg):
        self.inbox.append((time.monotonic(), msg.topic, msg.payload, bool(msg.retain),
                           bool(msg.dup)))

    def _on_subscribe(self, client, userdata, mid, granted):
        with self.lock:
            self.subscribed += 1

    def _on_publish(self, client, userdata, mid):
        with self.lock:
            self.acked += 1

    def connected(self):
        return self.c.is_connected()

    def publish(self, topic, payload, qos=1):
        """Queue a publish; paho sends it now or after the next reconnect."""
        self.c.publish(topic, payload, qos=qos)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()

    def teardown(self):
        try:
            self.close()
        except Exception:
            pass
