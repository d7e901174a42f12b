# mqttgw - one entry point for everything: build, check, demo, bench, install.
#
#   make              build build/mqttgw
#   make check        install missing deps, build, run every test: unit + integration,
#                     again under ASan + UBSan, the core under valgrind, the fuzzers
#                     and a 3-minute soak
#   make check SAN=1  only the ASan + UBSan round (objects in build-san/)
#   make unit / make integration   one quick round against build/
#   make demo         a private broker, the motor simulator and mqttgw, end to end
#   make bench        the benchmark harness (BENCHMARKS.md)
#   make safety       fail-safe latency, 20 trials per trigger (SAFETY.md; ~6 min, root)
#   make soak         the soak: SOAK_MINUTES (default 30) of traffic and trouble (RELIABILITY.md)
#   make fuzz         libFuzzer targets for the pure parsers (clang)
#   make install      PREFIX=/usr/local DESTDIR=...
#   make web          the dashboard (web/) bundled into build/web (npm ci from the lockfile)
#
# GPIO: the libgpiod backend is chosen from pkg-config's libgpiod version
# (drivers/gpio_gpiod1.c for 1.x, gpio_gpiod2.c for 2.x), and so is the
# matching GPIO stand-in for the tests. PKG_CONFIG (default pkg-config) may
# name another one for a cross build. GPIOD_PREFIX=DIR builds against a
# libgpiod unpacked under DIR instead of the system's (DIR/usr/include,
# DIR/usr/lib/<triplet>, found with rpath at run time): check.sh's gpiod2
# phase builds build-gpiod2/ so against bookworm-backports' 2.x.

CC      ?= cc
PREFIX  ?= /usr/local
VERSION := 0.1.0

ifeq ($(SAN),1)
B        ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B        ?= build
SANFLAGS :=
endif

# ---- libgpiod: which one, and which backend ----
GPIOD_PREFIX ?=
PKG_CONFIG   ?= pkg-config
ifneq ($(GPIOD_PREFIX),)
GPIOD_PC     := $(firstword $(wildcard $(abspath $(GPIOD_PREFIX))/usr/lib/*/pkgconfig/libgpiod.pc $(abspath $(GPIOD_PREFIX))/usr/lib/pkgconfig/libgpiod.pc))
ifeq ($(GPIOD_PC),)
$(error GPIOD_PREFIX=$(GPIOD_PREFIX) holds no usr/lib/*/pkgconfig/libgpiod.pc)
endif
GPIOD_LIBDIR := $(patsubst %/pkgconfig/libgpiod.pc,%,$(GPIOD_PC))
GPIOD_VERSION := $(shell PKG_CONFIG_PATH=$(dir $(GPIOD_PC)) $(PKG_CONFIG) --modversion libgpiod)
GPIOD_CFLAGS := -I$(abspath $(GPIOD_PREFIX))/usr/include
GPIOD_LIBS   := -L$(GPIOD_LIBDIR) -Wl,-rpath,$(GPIOD_LIBDIR) -lgpiod
else
GPIOD_VERSION := $(shell $(PKG_CONFIG) --modversion libgpiod 2>/dev/null)
GPIOD_CFLAGS := $(shell $(PKG_CONFIG) --cflags libgpiod 2>/dev/null)
GPIOD_LIBS   := -lgpiod
endif
ifeq ($(GPIOD_VERSION),)
GPIOD_VERSION := unknown
endif
GPIOD_MAJOR  := $(firstword $(subst ., ,$(GPIOD_VERSION)))
# 2 and later -> gpio_gpiod2.c (the 2.0 API holds through 2.2); else
# (1.x, or no pkg-config file: the old default) gpio_gpiod1.c
GPIOD_API    := $(if $(filter 2 3 4 5 6 7 8 9,$(GPIOD_MAJOR)),2,1)

WARN     := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes -Wshadow -Wformat=2
CFLAGS   ?= -O2 -g
# Includes point one way: gateway/ uses drivers/ and common/, drivers/ use
# common/ only, common/ nothing of ours; each folder is compiled with just
# the folders below it on the path, so an include against the grain fails
# the build.
INCS      = -Igateway -Idrivers -Icommon
CPPFLAGS += -D_GNU_SOURCE -DMQTTGW_VERSION=\"$(VERSION)\" $(INCS)
ALLFLAGS  = -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) $(CPPFLAGS)
LIBS     := -lpaho-mqtt3as -lserialport -lconfig $(GPIOD_LIBS) -lpcre2-8 -lcjson -lpthread
LDFLAGS  += $(SANFLAGS)

# Everything but main.c goes into a static archive that the unit tests and
# fuzz targets link against.
CORE_SRC := $(filter-out gateway/main.c,$(wildcard gateway/*.c)) \
	    $(filter-out drivers/gpio_gpiod%.c,$(wildcard drivers/*.c)) drivers/gpio_gpiod$(GPIOD_API).c \
	    $(wildcard common/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
HDRS     := $(wildcard gateway/*.h drivers/*.h common/*.h)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# Simulators and test shims (tests/sim). Programs and LD_PRELOAD libraries.
SIM_PROGS := $(patsubst tests/sim/%.c,$(B)/sim/%,$(wildcard tests/sim/prog_*.c))
# lib_gpiosim.so is the stand-in for the libgpiod this build uses:
# lib_gpiosim.c (1.x API) or lib_gpiosim2.c (2.x), each over the shared
# simulated kernel (gpiosim_core.c) and control socket (gpiosim_ctl.c).
SIM_LIBS  := $(patsubst tests/sim/%.c,$(B)/sim/%.so,$(filter-out tests/sim/lib_gpiosim2.c,$(wildcard tests/sim/lib_*.c)))
GPIOSIM_SRC := tests/sim/$(if $(filter 1,$(GPIOD_API)),lib_gpiosim.c,lib_gpiosim2.c) tests/sim/gpiosim_core.c tests/sim/gpiosim_ctl.c

.PHONY: all deps check unit integration demo bench fuzz clean install uninstall tests web check-interop

all: $(B)/mqttgw

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c -o $@ $<

$(B)/drivers/%.o: INCS = -Idrivers -Icommon
$(B)/common/%.o: INCS = -Icommon

# the backend names the libgpiod it was built against (mqttgw --version)
$(B)/drivers/gpio_gpiod$(GPIOD_API).o: CPPFLAGS += $(GPIOD_CFLAGS) -DMQTTGW_GPIOD_VERSION=\"$(GPIOD_VERSION)\"
$(B)/drivers/gpio_gpiod$(GPIOD_API).o: $(B)/.gpiod-$(GPIOD_VERSION)

# a stamp per libgpiod version: switching GPIOD_PREFIX in one build dir rebuilds
$(B)/.gpiod-$(GPIOD_VERSION):
	@mkdir -p $(dir $@)
	@rm -f $(B)/.gpiod-*
	@touch $@

$(B)/libmqttgw.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/mqttgw: $(B)/gateway/main.o $(B)/libmqttgw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(B)/libmqttgw.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(B)/libmqttgw.a $(LIBS)

$(B)/sim/prog_%: tests/sim/prog_%.c $(wildcard tests/sim/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(LDFLAGS) -o $@ $< -lpthread -lutil

# Shims are loaded into the daemon with LD_PRELOAD; never sanitized
# themselves (ASan must come first in the link map).
$(B)/sim/lib_%.so: tests/sim/lib_%.c $(wildcard tests/sim/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) $(CPPFLAGS) -fPIC -shared -o $@ $< -ldl -lpthread

# The GPIO stand-in is compiled against the real header of this build's
# libgpiod; the 2.x flavour also calls the real library for the settings
# objects it reads (the daemon loads that library anyway).
$(B)/sim/lib_gpiosim.so: $(GPIOSIM_SRC) $(wildcard tests/sim/*.h) $(B)/.gpiod-$(GPIOD_VERSION)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) $(CPPFLAGS) $(GPIOD_CFLAGS) -Itests/sim -fPIC -shared -o $@ $(GPIOSIM_SRC) \
		$(if $(filter 2,$(GPIOD_API)),$(GPIOD_LIBS)) -ldl -lpthread

tests: $(B)/mqttgw $(UNIT_BIN) $(SIM_PROGS) $(SIM_LIBS)

deps:
	@scripts/install-deps.sh

# The dashboard: static files into build/web (never committed). npm ci
# installs exactly what web/package-lock.json pins; esbuild bundles mqtt.js
# and uPlot into one script, so the page fetches nothing else at run time.
web: web/node_modules/.package-lock.json
	@cd web && WEB_OUT=$(CURDIR)/build/web node build.mjs

web/node_modules/.package-lock.json: web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

# All phases (plain, mqtt5, gpiod2, san, valgrind, fuzz, soak: see scripts/check.sh); SAN=1: the
# sanitizer phase alone. CHECK_PHASES="plain" for a quick round.
check: deps
ifeq ($(SAN),1)
	@CHECK_PHASES="$${CHECK_PHASES:-san}" scripts/check.sh
else
	@scripts/check.sh
endif

unit: tests
	@MQTTGW_BUILD=$(B) /usr/bin/python3 tests/run.py --unit

# The interoperability round (issue 18): mosquitto 2.0.21 from bookworm-backports
# (unpacked into build/) and a two-node RabbitMQ cluster; slow, so not in `make check`
# (duration in README). INTEROP_PHASES="mosq2021" or "rabbitmq" for one half.
check-interop: tests
	@MQTTGW_BUILD=$(B) tests/interop/check-interop.sh

integration: tests web
	@MQTTGW_BUILD=$(B) /usr/bin/python3 tests/run.py --integration

demo: deps
	@$(MAKE) --no-print-directory tests
	@MQTTGW_BUILD=$(B) scripts/demo.sh

clean:
	rm -rf build build-san build-fuzz build-gpiod2

-include raspbian/install.mk
-include tests/bench/bench.mk
-include tests/fuzz/fuzz.mk
-include tests/soak/soak.mk
