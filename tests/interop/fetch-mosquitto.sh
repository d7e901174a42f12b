#!/bin/sh
# fetch-mosquitto.sh DIR - mosquitto 2.0.21 from bookworm-backports (the
# version trixie ships) unpacked into DIR, beside the system's 2.0.11, which
# stays installed: apt-get download + dpkg-deb -x, no dpkg database change.
# DIR/mosquitto is a wrapper that runs it with its own libraries
# (libmosquitto 2.0.21, libwebsockets17); the harness takes it from
# MQTTGW_MOSQUITTO. Needs bookworm-backports in the apt sources (as
# scripts/install-deps.sh sets up for libgpiod 2). Idempotent.
set -eu
DIR=${1:?usage: fetch-mosquitto.sh DIR}
VER=2.0.21
if [ -x "$DIR/mosquitto" ] && "$DIR/mosquitto" -h 2>/dev/null | grep -q "version $VER"; then
	exit 0
fi
rm -rf "$DIR"
mkdir -p "$DIR/debs"
DIR=$(cd "$DIR" && pwd)
(cd "$DIR/debs" && apt-get download -q mosquitto/bookworm-backports libmosquitto1/bookworm-backports \
	libwebsockets17 >/dev/null 2>&1) || {
	echo "fetch-mosquitto: apt-get download failed (bookworm-backports in the apt sources? apt-get update?)" >&2
	exit 1
}
for deb in "$DIR"/debs/*.deb; do
	dpkg-deb -x "$deb" "$DIR/root"
done
TRIPLET=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
cat > "$DIR/mosquitto" <<EOW
#!/bin/sh
LD_LIBRARY_PATH="$DIR/root/usr/lib/$TRIPLET\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$DIR/root/usr/sbin/mosquitto" "\$@"
EOW
chmod +x "$DIR/mosquitto"
"$DIR/mosquitto" -h | head -1 | grep -q "version $VER" || { echo "fetch-mosquitto: $DIR/mosquitto is not $VER" >&2; exit 1; }
