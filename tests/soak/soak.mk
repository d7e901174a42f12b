# tests/soak/soak.mk - `make soak`: the soak (tests/soak/soak.py, RELIABILITY.md).
#
# Included by the top-level Makefile (-include), so $(B) and the daemon's
# rules are in scope. The real daemon for SOAK_MINUTES (default 30, the
# documented run; at least 3) under steady traffic on 8 pty ports, commands,
# GPIO edges, a reload each minute, a broker restart every 3 minutes and a
# port unplugged every 2; the per-minute table goes to
# $(B)/soak/soak-<N>min.csv and its plot to .svg beside it. scripts/check.sh
# runs the 3-minute version as its `soak` phase.
#
#   make soak                    30 minutes (plus a few seconds of setup and drain)
#   make soak SOAK_MINUTES=3     the round make check runs
#   make soak SAN=1              against build-san/ (ASan + UBSan): RSS is then
#                                reported, not judged (ASan's quarantine grows)

SOAK_MINUTES ?= 30
SOAK_CSV     := $(B)/soak/soak-$(SOAK_MINUTES)min.csv

.PHONY: soak

soak: deps
	@$(MAKE) --no-print-directory tests
	@mkdir -p $(B)/soak
	@MQTTGW_BUILD=$(B) /usr/bin/python3 tests/soak/soak.py --minutes $(SOAK_MINUTES) --csv $(SOAK_CSV); \
	rc=$$?; \
	[ -f $(SOAK_CSV) ] && /usr/bin/python3 tests/soak/plot.py $(SOAK_CSV) $(SOAK_CSV:.csv=.svg); \
	exit $$rc
