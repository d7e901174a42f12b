# tests/fuzz/fuzz.mk - libFuzzer targets for the pure parsers (-included by
# the top-level Makefile; see tests/fuzz/README.md).
#
#   make fuzz-build                 build every target into build-fuzz/
#   make fuzz                       build, then run each for FUZZ_SECONDS (30)
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="config mapping"
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
	@mkdir -p $(FB)/artifacts; failed=""; \
	for t in $(FUZZ_TARGETS); do \
		dir=$$(mktemp -d); \
		cp -r tests/fuzz/corpus/$$t/. $$dir/ 2>/dev/null || true; \
		dict=""; [ -f tests/fuzz/$$t.dict ] && dict="-dict=tests/fuzz/$$t.dict"; \
		echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
		if LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp:print_suppressions=0 \
			./$(FB)/fuzz_$$t $$dir -max_total_time=$(FUZZ_SECONDS) -timeout=10 $$dict \
			-artifact_prefix=$(FB)/artifacts/$$t- -print_final_stats=1 $(FUZZ_ARGS) \
			>$(FB)/fuzz_$$t.log 2>&1; then \
			grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|Done)' \
				$(FB)/fuzz_$$t.log | tr '\n' ' '; \
			grep -Eo 'cov: [0-9]+ ft: [0-9]+' $(FB)/fuzz_$$t.log | tail -1; \
		else \
			echo "FAILED (log: $(FB)/fuzz_$$t.log)"; \
			grep -E '^(==[0-9]+==ERROR|SUMMARY|.*property broken|.*differs|artifact_prefix|Test unit written)' \
				$(FB)/fuzz_$$t.log | head -5; \
			failed="$$failed $$t"; \
		fi; \
		rm -rf $$dir; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi; \
	echo "fuzz: all targets ran clean"
