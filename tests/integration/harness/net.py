"""
harness/net.py - 127.0.0.1 ports: a free one, is one open, which one a
fixture listens on.

Small on purpose: the broker, the proxy, the MQTT clients and tests that
run their own listeners all need these, and none of them should import the
others for it. Everything is on loopback only.
"""

import socket

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _can_connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _port_of(broker):
    """A port number from a Broker, a PubackProxy (anything with .port) or a
    number."""
    return broker.port if hasattr(broker, "port") else int(broker)
