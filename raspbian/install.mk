# raspbian/install.mk - install, packages and cross-checks; -include'd by
# the top-level Makefile, so every variable there (PREFIX, B, CC, VERSION,
# UNIT_SRC) is known here.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]   binary, man pages, config,
#                                                 systemd unit, udev rules, user
#   make uninstall                                the same files (not the
#                                                 config if changed, not the user)
#   make deb [DEB_RELEASES="bookworm trixie"] [DEB_ARCHS="amd64 arm64 armhf"]
#                                                 Debian packages in build-deb/
#   make check-rootfs [ROOTFS_RELEASES="bookworm trixie"] [ROOTFS_SOURCE=0]
#                                                 the arm64 packages installed and
#                                                 run in debootstrapped arm64 roots
#   make check-cross [CROSS_ARCHS="arm64 armhf"]  unit tests cross-built, run
#                                                 under qemu-user (TAP)
#
# Shaped so: `make install` is the one description of where files go; the
# Debian package calls it (debian/rules) with PREFIX=/usr and the Debian
# unit and udev directories, so the two can never disagree. The config path
# is always /etc/mqttgw/mqttgw.cfg whatever the PREFIX: it is the daemon's
# built-in default. The system user is only created on a real install
# (DESTDIR empty); a package creates it in its postinst.

BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/mqttgw
CFGDIR  ?= /etc/mqttgw
# systemd and udev read /usr/lib and /usr/local/lib; any other prefix
# (/opt/...) installs its unit and rules into /etc
UNITDIR ?= $(if $(filter /usr /usr/local,$(PREFIX)),$(PREFIX)/lib/systemd/system,/etc/systemd/system)
UDEVDIR ?= $(if $(filter /usr /usr/local,$(PREFIX)),$(PREFIX)/lib/udev/rules.d,/etc/udev/rules.d)

INSTALL ?= install
RPI     := raspbian
# The dashboard, built by `make web` (needs node and npm); installed when
# it is there, skipped with a note when not, so `make install` works
# without node. WEBSRC: where the built page is (a package build may
# bring a copy made beforehand); WWWDIR: where mosquitto's http_dir points.
WEBSRC  ?= build/web
WWWDIR  ?= $(PREFIX)/share/mqttgw/www

.PHONY: install uninstall deb check-rootfs check-cross clean-raspbian

install: $(B)/mqttgw
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(CFGDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(UDEVDIR) $(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0755 $(B)/mqttgw $(DESTDIR)$(BINDIR)/mqttgw
	$(INSTALL) -m 0644 $(RPI)/mqttgw.8 $(DESTDIR)$(MANDIR)/man8/mqttgw.8
	$(INSTALL) -m 0644 $(RPI)/mqttgw.cfg.5 $(DESTDIR)$(MANDIR)/man5/mqttgw.cfg.5
	sed 's|/usr/bin/mqttgw|$(BINDIR)/mqttgw|g' $(RPI)/mqttgw.service > $(DESTDIR)$(UNITDIR)/mqttgw.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/mqttgw.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/mqttgw.service.tmp $(DESTDIR)$(UNITDIR)/mqttgw.service
	$(INSTALL) -m 0644 $(RPI)/99-mqttgw.rules $(DESTDIR)$(UDEVDIR)/99-mqttgw.rules
	$(INSTALL) -m 0644 config/*.cfg $(RPI)/mosquitto-local.conf $(DESTDIR)$(DOCDIR)/examples/
	$(INSTALL) -m 0644 $(RPI)/mosquitto-websockets.conf $(DESTDIR)$(DOCDIR)/examples/
	@if [ -f $(WEBSRC)/index.html ]; then \
		echo "$(INSTALL) -m 0644 $(WEBSRC)/* $(DESTDIR)$(WWWDIR)/"; \
		$(INSTALL) -d $(DESTDIR)$(WWWDIR) && $(INSTALL) -m 0644 $(WEBSRC)/* $(DESTDIR)$(WWWDIR)/; \
	else echo "install: no dashboard in $(WEBSRC) (make web builds it): $(WWWDIR) not installed"; fi
	@# the config: never overwrite one that is there (an admin's edits)
	@if [ -e $(DESTDIR)$(CFGDIR)/mqttgw.cfg ]; then \
		echo "install: keeping $(DESTDIR)$(CFGDIR)/mqttgw.cfg (the new reference is $(DOCDIR)/examples/mqttgw.cfg)"; \
	else \
		echo "$(INSTALL) -m 0644 config/mqttgw.cfg $(DESTDIR)$(CFGDIR)/mqttgw.cfg"; \
		$(INSTALL) -m 0644 config/mqttgw.cfg $(DESTDIR)$(CFGDIR)/mqttgw.cfg; \
	fi
	@# the user and groups, on a real install only
	@if [ -z "$(DESTDIR)" ]; then \
		getent group gpio >/dev/null || { echo "groupadd --system gpio"; groupadd --system gpio; }; \
		getent group dialout >/dev/null || { echo "groupadd --system dialout"; groupadd --system dialout; }; \
		if ! getent passwd mqttgw >/dev/null; then \
			echo "useradd --system mqttgw (groups dialout, gpio)"; \
			useradd --system --user-group --groups dialout,gpio --home-dir /var/lib/mqttgw \
				--no-create-home --shell /usr/sbin/nologin --comment "mqttgw MQTT gateway" mqttgw; \
		fi; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi; \
		if [ -S /run/udev/control ]; then \
			udevadm control --reload || true; \
			udevadm trigger --subsystem-match=gpio --action=change || true; \
		fi; \
		echo "installed. Edit $(CFGDIR)/mqttgw.cfg, check it with"; \
		echo "    $(BINDIR)/mqttgw --check -c $(CFGDIR)/mqttgw.cfg"; \
		echo "then: systemctl enable --now mqttgw"; \
	fi

uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		systemctl disable --now mqttgw.service 2>/dev/null || true; fi
	rm -f $(DESTDIR)$(BINDIR)/mqttgw $(DESTDIR)$(MANDIR)/man8/mqttgw.8 \
		$(DESTDIR)$(MANDIR)/man5/mqttgw.cfg.5 $(DESTDIR)$(UNITDIR)/mqttgw.service \
		$(DESTDIR)$(UDEVDIR)/99-mqttgw.rules
	rm -rf $(DESTDIR)$(DOCDIR) $(DESTDIR)$(WWWDIR)
	@# the config goes only if it is still the one we installed
	@if [ -e $(DESTDIR)$(CFGDIR)/mqttgw.cfg ]; then \
		if cmp -s config/mqttgw.cfg $(DESTDIR)$(CFGDIR)/mqttgw.cfg; then \
			rm -f $(DESTDIR)$(CFGDIR)/mqttgw.cfg; rmdir $(DESTDIR)$(CFGDIR) 2>/dev/null || true; \
		else echo "uninstall: keeping the changed $(DESTDIR)$(CFGDIR)/mqttgw.cfg"; fi; \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi; \
		getent passwd mqttgw >/dev/null && echo "uninstall: the user mqttgw stays (userdel mqttgw to remove it)" || true; \
	fi

# ---- Debian packages ------------------------------------------------------
# One package per release and architecture, each built in a debootstrapped
# amd64 root of its own release (cached in build/debroot/) with that
# release's compilers and multiarch libraries, so dpkg-shlibdeps computes
# Depends from the libraries of the release it is for: see
# scripts/build-debs.sh. Results: build-deb/mqttgw_VERSION~debNN_ARCH.deb
# (12 = bookworm, 13 = trixie). The first run debootstraps (minutes).

DEB_RELEASES ?= bookworm trixie
DEB_ARCHS    ?= amd64 arm64 armhf
DEB_DIR      := build-deb

deb: web
	@DEB_RELEASES="$(DEB_RELEASES)" DEB_ARCHS="$(DEB_ARCHS)" VERSION=$(VERSION) DEB_DIR=$(DEB_DIR) \
		scripts/build-debs.sh

# ---- the packages in real Debian arm64 userlands ----------------------------
# Not part of `make check` (minutes: debootstrap once, then everything arm64
# under qemu-user). See scripts/check-rootfs.sh and tests/rootfs/inroot.sh.

ROOTFS_RELEASES ?= bookworm trixie
ROOTFS_SOURCE   ?= 1

# web: the packages it builds carry the dashboard (build-debs.sh copies build/web).
check-rootfs: web
	@ROOTFS_RELEASES="$(ROOTFS_RELEASES)" ROOTFS_SOURCE=$(ROOTFS_SOURCE) VERSION=$(VERSION) \
		scripts/check-rootfs.sh

# ---- cross-built unit tests under qemu-user --------------------------------
# Not part of `make check` (it builds everything twice more). Objects go to
# build-ARCH/ through the Makefile's B= variable; the foreign libraries are
# Debian's multiarch packages (scripts/install-cross-deps.sh), found by the
# cross gcc in /usr/lib/TRIPLET and by the foreign ld.so at run time.

CROSS_ARCHS ?= arm64 armhf
cross_triplet = $(if $(filter arm64,$(1)),aarch64-linux-gnu,$(if $(filter armhf,$(1)),arm-linux-gnueabihf,$(error unknown arch $(1))))
cross_qemu    = $(if $(filter arm64,$(1)),qemu-aarch64-static,qemu-arm-static)
CROSS_TESTS   = $(UNIT_SRC:tests/unit/%.c=%)

check-cross:
	@scripts/install-cross-deps.sh --check
	@set -e; \
	$(foreach a,$(CROSS_ARCHS),\
		echo "check-cross: building for $(a) with $(call cross_triplet,$(a))-gcc in build-$(a)/"; \
		$(MAKE) --no-print-directory B=build-$(a) CC=$(call cross_triplet,$(a))-gcc \
			$(CROSS_TESTS:%=build-$(a)/tests/%) build-$(a)/mqttgw >build-$(a).log 2>&1 || \
			{ tail -30 build-$(a).log; echo "check-cross: $(a) build FAILED (log: build-$(a).log)"; exit 1; }; \
		file -b build-$(a)/mqttgw | cut -d, -f1-2;) \
	total_pass=0; total_fail=0; \
	$(foreach a,$(CROSS_ARCHS),\
		pass=0; fail=0; \
		out=$$(QEMU_LD_PREFIX=/usr/$(call cross_triplet,$(a)) $(call cross_qemu,$(a)) build-$(a)/mqttgw --version 2>&1) || true; \
		echo "# $(a): build-$(a)/mqttgw --version under qemu: $$out"; \
		for t in $(CROSS_TESTS); do \
			echo "# $(a): $$t"; \
			if QEMU_LD_PREFIX=/usr/$(call cross_triplet,$(a)) timeout 300 $(call cross_qemu,$(a)) build-$(a)/tests/$$t > build-$(a)/tests/$$t.tap 2>&1; \
				then rc=0; else rc=$$?; fi; \
			sed 's/^/    /' build-$(a)/tests/$$t.tap; \
			p=$$(grep -c '^ok ' build-$(a)/tests/$$t.tap || true); \
			f=$$(grep -c '^not ok ' build-$(a)/tests/$$t.tap || true); \
			if [ $$rc -ne 0 ] && [ $$f -eq 0 ]; then f=1; echo "    not ok - $$t exited $$rc"; fi; \
			pass=$$((pass + p)); fail=$$((fail + f)); \
		done; \
		echo "check-cross: $(a): $$pass passed, $$fail failed"; \
		total_pass=$$((total_pass + pass)); total_fail=$$((total_fail + fail));) \
	echo "$$total_pass passed, $$total_fail failed"; \
	[ $$total_fail -eq 0 ]

clean: clean-raspbian
clean-raspbian:
	rm -rf $(DEB_DIR) $(CROSS_ARCHS:%=build-%) $(CROSS_ARCHS:%=build-%.log)
