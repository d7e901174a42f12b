# tests/bench/bench.mk - `make bench`: the benchmark harness (BENCHMARKS.md).
#
# Included by the top-level Makefile (-include), so $(B), $(WARN) and the
# daemon's rules are in scope. Every tests/bench/prog_NAME.c becomes
# $(B)/bench/prog_NAME (and prog_pahopub.c also prog_pahopub-sync), built
# with the project's warnings at -O2 (never with sanitizers: they would
# measure ASan, not us). A program links at most one paho flavour, because
# libpaho-mqtt3as and libpaho-mqtt3c export some of the same names: the
# ones in BENCH_NOMQTT use none (they speak MQTT through rawmqtt.h), the
# rest MQTTAsync as the daemon does, prog_pahopub-sync MQTTClient.
#
#   make bench                        run everything (under 5 minutes), results in $(B)/bench/;
#                                     the Node-RED peer is installed with npm ci into $(B)/bench/nodered
#                                     (tests/bench/nodered/package-lock.json pins it); without npm or a
#                                     registry the run says so and leaves its column empty
#   make bench BENCH_ARGS=--quick     a short smoke run (seconds, not minutes)
#   make bench BENCH_ARGS=--publish   also copy the plot to BENCHMARKS-latency.png
#   make bench MQTTGW_BENCH=PATH      measure that mqttgw binary (a patched build, say)
#   make bench-profile                callgrind profile of mqttgw ($(B)/bench/profile.md), about a minute;
#                                     QoS 0 uplink also through a JSON route (instructions per frame, plain vs JSON)
#   make bench-map                    callgrind: instructions per frame/command of the mapping engine alone
#                                     (up, down, and json: a JSON route with two typed fields)
#   make bench-scale                  callgrind: cost per frame/command with 1/8/64 ports, 10/100/1,000
#                                     routes, and 10,000 retained topics (tests/bench/scale.py)
#   make bench-progs                  only build the programs

BENCH_SRC    := $(wildcard tests/bench/prog_*.c)
BENCH_PROGS  := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%) $(B)/bench/prog_pahopub-sync
BENCH_NOMQTT := prog_benchdev prog_benchlat prog_rawpub
BENCH_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -O2 -g
# the GPIO stand-in, when its source is in the tree: 16 lines for the RSS figure
BENCH_GPIOSIM := $(if $(wildcard tests/sim/lib_gpiosim.c),$(B)/sim/lib_gpiosim.so)
# what the harness needs beyond the build dependencies (Debian packages)
BENCH_DEBS   := mosquitto mosquitto-clients python3-paho-mqtt python3-serial gnuplot-nox

.PHONY: bench-progs bench-deps bench-profile bench-map bench-scale

# the mapping engine alone links the daemon's core, not a broker client
$(B)/bench/prog_benchscale: tests/bench/prog_benchscale.c $(B)/libmqttgw.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Igateway -Idrivers -Icommon -o $@ $< $(B)/libmqttgw.a $(LIBS)

$(B)/bench/prog_benchmap: tests/bench/prog_benchmap.c $(B)/libmqttgw.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Igateway -Idrivers -Icommon -o $@ $< $(B)/libmqttgw.a $(LIBS)

$(B)/bench/prog_%: tests/bench/prog_%.c tests/bench/bench.h tests/bench/rawmqtt.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< \
		$(if $(filter prog_$*,$(BENCH_NOMQTT)),,-lpaho-mqtt3as) -lpthread

# the same publisher on MQTTClient (see prog_pahopub.c)
$(B)/bench/prog_pahopub-sync: tests/bench/prog_pahopub.c tests/bench/bench.h tests/bench/rawmqtt.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -DBENCH_PAHO_SYNC -o $@ $< -lpaho-mqtt3c -lpthread

bench-progs: $(BENCH_PROGS)

# Install only what is missing, as scripts/install-deps.sh does.
bench-deps:
	@missing=""; for p in $(BENCH_DEBS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "bench: installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

bench: bench-deps
	@$(MAKE) --no-print-directory $(B)/mqttgw $(BENCH_PROGS) $(BENCH_GPIOSIM) $(B)/sim/lib_synccount.so
	@MQTTGW_BUILD=$(B) MQTTGW_BENCH=$(MQTTGW_BENCH) /usr/bin/python3 tests/bench/run.py $(BENCH_ARGS)

bench-profile: bench-deps
	@$(MAKE) --no-print-directory $(B)/mqttgw $(BENCH_PROGS) $(BENCH_GPIOSIM) $(B)/sim/lib_synccount.so
	@MQTTGW_BUILD=$(B) MQTTGW_BENCH=$(MQTTGW_BENCH) /usr/bin/python3 tests/bench/run.py --profile

# Instructions per frame (uplink) and per command (downlink) of mapping.c
# and its regexes: two callgrind runs each, 1,000 and 11,000 iterations,
# so the start-up (config load, JIT) cancels out.
bench-map: $(B)/bench/prog_benchmap
	@for m in up down json; do \
		a=$$(valgrind --tool=callgrind --callgrind-out-file=/dev/null $(B)/bench/prog_benchmap $$m 1000 2>&1 | \
			sed -n 's/.*refs: *//p' | tr -d ,); \
		b=$$(valgrind --tool=callgrind --callgrind-out-file=/dev/null $(B)/bench/prog_benchmap $$m 11000 2>&1 | \
			sed -n 's/.*refs: *//p' | tr -d ,); \
		echo "bench-map: $$m: $$(( (b - a) / 10000 )) instructions per $$( [ $$m = down ] && echo command || echo frame)"; \
	done

# Does a frame cost more in a big station? Instructions per frame/command of
# the mapping engine with 1/8/64 ports and 10/100/1,000 routes, with the route
# index and with the scan it replaced, and the retained cache with 10,000
# topics (tests/bench/scale.py; about 2 minutes; $(B)/bench/scale.md).
bench-scale: $(B)/bench/prog_benchscale
	@MQTTGW_BUILD=$(B) /usr/bin/python3 tests/bench/scale.py

# `make safety`: the fail-safe latency distribution (SAFETY.md): every
# trigger 20 times (SAFETY_ARGS="--trials 5" for a shorter run), about
# 6 minutes; network namespaces for the link cut (root). Not part of make
# check (tests/integration/test_safety.py is the quick version there).
.PHONY: safety
safety: deps
	@$(MAKE) --no-print-directory tests
	@MQTTGW_BUILD=$(B) /usr/bin/python3 tests/bench/safety.py $(SAFETY_ARGS)
