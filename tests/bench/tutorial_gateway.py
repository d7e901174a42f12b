#!/usr/bin/python3
"""
tutorial_gateway.py - the serial-to-MQTT bridge the way the common tutorials
write it: Python, paho-mqtt with loop_start(), pyserial with readline(), one
reader thread per port. It is the baseline mqttgw is measured against in
`make bench` (tests/bench/run.py), so it does the same job with the same
topics as the benchmark's mqttgw config:

    S013/MOTnn/RECM  -> "<payload>\\r\\n" written to port MOTnn, if the payload
                        passes ^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME|STAT)$
    "POSX+001000"    -> S013/MOTnn/POS/X, payload "+001000"
    any other line   -> S013/MOTnn/SEND, the whole line
    S013/gateway/status: retained "online" on connect, "offline" as the will

    tutorial_gateway.py --host H --port P [--qos Q] --serial MOT01=/dev/pts/3 ...

Why it is shaped so: it is deliberately *not* optimised. Everything here is
what the tutorials show (Serial(port, baud, timeout=1), `while True: line =
ser.readline()`, client.publish() per line, on_message writing to the port,
paho's defaults such as 20 messages in flight), using Debian's
python3-paho-mqtt and python3-serial under /usr/bin/python3. Making it
faster would answer a different question than "how does mqttgw compare with
what people run today".
"""

import argparse
import re
import signal
import sys
import threading

import paho.mqtt.client as mqtt
import serial

STATION = "S013"
POS = re.compile(r"^POS([XYZ])([+-][0-9]+)$")
ACCEPT = re.compile(r"^(DRV[XYZ][+-][0-9]{1,6}|STOP|HOME|STAT)$")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--qos", type=int, default=1)
    ap.add_argument("--serial", action="append", required=True, metavar="NAME=PATH")
    args = ap.parse_args()

    status = STATION + "/gateway/status"
    ports = {}
    for spec in args.serial:
        name, path = spec.split("=", 1)
        ports[name] = serial.Serial(path, 115200, timeout=1)

    client = mqtt.Client(client_id="tutorial-gateway", clean_session=True)
    client.will_set(status, "offline", qos=1, retain=True)

    def on_connect(client, userdata, flags, rc):
        for name in ports:
            client.subscribe(STATION + "/" + name + "/RECM", qos=args.qos)
        client.publish(status, "online", qos=1, retain=True)

    def on_message(client, userdata, msg):
        name = msg.topic.split("/")[1]
        command = msg.payload.decode("ascii", "replace")
        if msg.retain or not ACCEPT.match(command):
            print("refused: %s %r" % (msg.topic, command), file=sys.stderr)
            return
        ports[name].write((command + "\r\n").encode("ascii"))

    def reader(name, ser):
        while True:
            line = ser.readline()
            if not line:
                continue  # timeout, nothing came
            text = line.decode("ascii", "replace").strip()
            m = POS.match(text)
            if m:
                client.publish(STATION + "/" + name + "/POS/" + m.group(1), m.group(2), qos=args.qos)
            else:
                client.publish(STATION + "/" + name + "/SEND", text, qos=args.qos)

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(args.host, args.port, keepalive=60)
    client.loop_start()
    for name, ser in ports.items():
        threading.Thread(target=reader, args=(name, ser), daemon=True).start()

    # Ctrl-C or SIGTERM: say "offline" and leave
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        threading.Event().wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    client.publish(status, "offline", qos=1, retain=True).wait_for_publish(1.0)
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
