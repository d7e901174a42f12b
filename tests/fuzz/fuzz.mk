# tests/fuzz/fuzz.mk - libFuzzer targets for the pure parsers (-included by
# the top-level Makefile; see tests/fuzz/README.md).
#
#   make fuzz-build                 build every target into build-fuzz/
#   make fuzz                       build, then run each for FUZZ_SECONDS (30), FUZZ_JOBS at once
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="config mapping" FUZZ_JOBS=1
#
# The library sources are compiled again here, with clang and the sanitizers
# (build/libmqttgw.a is gcc and unsanitized, and holds the drivers too):
# only the pure modules a target can reach are needed. Each run works on a
# copy of its seed corpus in a temp dir, so new inputs libFuzzer finds do
# not flood tests/fuzz/corpus/; crash inputs go to build-fuzz/artifacts/.
# Every target runs even when one fails; `make fuzz` fails if any did.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
# Every tests/fuzz/fuzz_NAME.c is a target NAME.
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_ARGS    ?=
# Targets fuzzed at once (each is one busy core).
FUZZ_JOBS    ?= $(shell nproc 2>/dev/null || echo 1)
FB           := build-fuzz

FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 $(WARN) -g -O1 $(FUZZ_SAN) -D_GNU_SOURCE -DMQTTGW_VERSION=\"$(VERSION)\" -Igateway -Idrivers -Icommon
# Pure modules only. codec.c is pure too and config.c / mapping.c use it
# once it exists; a new pure module they call must be added here. outq.c
# does file I/O, but only on the journal path its caller gives it
# (fuzz_outq: a private temp dir).
FUZZ_LIB_SRC := gateway/config.c gateway/config_devices.c gateway/config_ha.c gateway/ha_discovery.c gateway/config_schema.c gateway/config_lint.c gateway/config_poll.c gateway/config_routes.c gateway/info.c gateway/template.c gateway/value.c gateway/json_escape.c gateway/payload_json.c gateway/topic.c gateway/mapping.c gateway/mapping_index.c common/pattern.c common/log.c \
                gateway/outq.c common/fdio.c drivers/framing.c $(wildcard drivers/codec.c)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FB)/obj/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FB)/fuzz_%)
FUZZ_HDRS    := $(wildcard gateway/*.h drivers/*.h common/*.h)

.PHONY: fuzz fuzz-build
.SECONDARY: $(FUZZ_LIB_OBJ)

fuzz-build: $(FUZZ_BINS)

$(FB)/obj/%.o: %.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) -lconfig -lpcre2-8 -lcjson

# -timeout: one input taking 10 s is a hang worth a report.
# lsan.supp: leaks inside libconfig's own parser, not ours (see the file).
# -dict: tests/fuzz/<target>.dict when there is one.
fuzz: fuzz-build
	@mkdir -p $(FB)/artifacts; rm -f $(FB)/fuzz_*.result; \
	printf '%s\n' $(FUZZ_TARGETS) | FB=$(FB) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS="$(FUZZ_ARGS)" \
		xargs -P $(FUZZ_JOBS) -n 1 tests/fuzz/run-one.sh; \
	failed=""; \
	for t in $(FUZZ_TARGETS); do \
		[ -f $(FB)/fuzz_$$t.result ] || printf '== fuzz_%s\nFAILED (log: no result, see %s)\n' $$t $(FB)/fuzz_$$t.log \
			>$(FB)/fuzz_$$t.result; \
		cat $(FB)/fuzz_$$t.result; \
		grep -q '^FAILED' $(FB)/fuzz_$$t.result && failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi; \
	echo "fuzz: all targets ran clean"
