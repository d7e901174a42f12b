# mqttgw - one entry point for everything: build, check, demo, bench, install.
#
#   make              build build/mqttgw
#   make check        install missing deps, build, run every test: unit + integration,
#                     again under ASan + UBSan, the core under valgrind, and the fuzzers
#   make check SAN=1  only the ASan + UBSan round (objects in build-san/)
#   make unit / make integration   one quick round against build/
#   make demo         a private broker, the motor simulator and mqttgw, end to end
#   make bench        the benchmark harness (BENCHMARKS.md)
#   make safety       fail-safe latency, 20 trials per trigger (SAFETY.md; ~6 min, root)
#   make fuzz         libFuzzer targets for the pure parsers (clang)
#   make install      PREFIX=/usr/local DESTDIR=...

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

WARN     := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes -Wshadow -Wformat=2
CFLAGS   ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -DMQTTGW_VERSION=\"$(VERSION)\" -Igateway -Idrivers
ALLFLAGS  = -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) $(CPPFLAGS)
LIBS     := -lpaho-mqtt3as -lserialport -lconfig -lgpiod -lpcre2-8 -lpthread
LDFLAGS  += $(SANFLAGS)

# Everything but main.c goes into a static archive that the unit tests and
# fuzz targets link against.
CORE_SRC := $(filter-out gateway/main.c,$(wildcard gateway/*.c)) $(wildcard drivers/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
HDRS     := $(wildcard gateway/*.h drivers/*.h)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# Simulators and test shims (tests/sim). Programs and LD_PRELOAD libraries.
SIM_PROGS := $(patsubst tests/sim/%.c,$(B)/sim/%,$(wildcard tests/sim/prog_*.c))
SIM_LIBS  := $(patsubst tests/sim/%.c,$(B)/sim/%.so,$(wildcard tests/sim/lib_*.c))

.PHONY: all deps check unit integration demo bench fuzz clean install uninstall tests

all: $(B)/mqttgw

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c -o $@ $<

$(B)/libmqttgw.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/mqttgw: $(B)/gateway/main.o $(B)/libmqttgw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/unit.h $(B)/libmqttgw.a $(HDRS)
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

tests: $(B)/mqttgw $(UNIT_BIN) $(SIM_PROGS) $(SIM_LIBS)

deps:
	@scripts/install-deps.sh

# All phases (plain, mqtt5, san, valgrind, fuzz: see scripts/check.sh); SAN=1: the
# sanitizer phase alone. CHECK_PHASES="plain" for a quick round.
check: deps
ifeq ($(SAN),1)
	@CHECK_PHASES="$${CHECK_PHASES:-san}" scripts/check.sh
else
	@scripts/check.sh
endif

unit: tests
	@MQTTGW_BUILD=$(B) /usr/bin/python3 tests/run.py --unit

integration: tests
	@MQTTGW_BUILD=$(B) /usr/bin/python3 tests/run.py --integration

demo: deps
	@$(MAKE) --no-print-directory tests
	@MQTTGW_BUILD=$(B) scripts/demo.sh

clean:
	rm -rf build build-san build-fuzz

-include raspbian/install.mk
-include tests/bench/bench.mk
-include tests/fuzz/fuzz.mk
