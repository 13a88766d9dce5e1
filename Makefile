# regauth: regauthd (tokenserver/) and docker-credential-regauth (helper/).
#   make            build bin/regauthd and bin/docker-credential-regauth
#   make run        serve a development configuration (var/regauth) on 127.0.0.1:5001
#   make check      unit tests, case folders, end-to-end tests with a real registry
#   make bench      benchmarks (figures only, never pass/fail)
# Knobs: CC, CFLAGS, SANITIZER=address,undefined, WERROR=1 (on under CI), PREFIX, DESTDIR.

CC        ?= cc
PREFIX    ?= /usr/local
DESTDIR   ?=
SANITIZER ?=
PYTHON    ?= /usr/bin/python3
PKGS      := openssl libjwt jansson libcurl libmicrohttpd hiredis gnutls
LISTEN    ?= 127.0.0.1:5001

# Debian packages: to build, to test, to benchmark.
DEB_BUILD := build-essential pkg-config libssl-dev libjwt-dev libjansson-dev \
	libcurl4-openssl-dev libmicrohttpd-dev libcmocka-dev libcrypt-dev openssl \
	libhiredis-dev libgnutls28-dev
DEB_TEST  := docker-registry docker.io containerd skopeo podman python3-pytest \
	python3-jwt python3-cryptography python3-dockerpycreds redis-server nginx \
	python3-yaml
DEB_BENCH := wrk hyperfine curl amazon-ecr-credential-helper python3-jwt python3-cryptography

WARN   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wno-unused-parameter
ifeq ($(CI),true)
WERROR ?= 1
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Iinclude $(WARN) -fstack-protector-strong
ifneq ($(SANITIZER),)
CFLAGS  += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcrypt -lpthread
# The helper links jansson alone: libcurl, libjwt and libcrypto are opened
# with dlopen on the paths that need them (helper/exchange.c, crypto_lazy.c).
HL_LIBS    = $(shell pkg-config --libs jansson 2>/dev/null)

TS_SRC  := $(filter-out tokenserver/main.c,$(wildcard tokenserver/*.c tokenserver/policy/*.c))
TS_OBJ  := $(TS_SRC:%.c=build/%.o)
HL_SRC  := $(wildcard helper/*.c)
HL_OBJ  := $(HL_SRC:%.c=build/%.o)
UT_SRC  := $(wildcard tests/unit/test_*.c)
UT_BIN  := $(UT_SRC:tests/unit/%.c=build/tests/%)

.PHONY: all deps deps-test deps-bench run check check-unit check-cases check-e2e \
	bench install clean lint fuzz
all: deps bin/regauthd bin/docker-credential-regauth

# Install what is missing with apt-get when root; otherwise print the line to run.
define apt_ensure
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; }; \
	  else echo "missing packages; run: sudo apt-get install$$missing"; exit 1; fi; \
	fi
endef
deps:
	$(call apt_ensure,$(DEB_BUILD))
deps-test:
	$(call apt_ensure,$(DEB_TEST))
deps-bench:
	$(call apt_ensure,$(DEB_BENCH))

build/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

build/libregauthd.a: $(TS_OBJ)
	ar rcs $@ $^

bin/regauthd: build/tokenserver/main.o build/libregauthd.a
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(PKG_LIBS)

bin/docker-credential-regauth: $(HL_OBJ)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(HL_LIBS)

build/tests/%: tests/unit/%.c build/libregauthd.a | deps
	@mkdir -p build/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itokenserver -o $@ $< build/libregauthd.a $(LDFLAGS) $(PKG_LIBS) -lcmocka

# Helper unit tests link the helper's modules (all but main.o), not the server library.
build/tests/test_helper_%: tests/unit/test_helper_%.c $(filter-out build/helper/main.o,$(HL_OBJ)) | deps
	@mkdir -p build/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Ihelper -o $@ $^ $(LDFLAGS) $(HL_LIBS) -lcmocka

# A test tool (not a cmocka suite): mints a token with the library alone.
build/tests/mint_token: tests/unit/mint_token.c build/libregauthd.a | deps
	@mkdir -p build/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itokenserver -o $@ $< build/libregauthd.a $(LDFLAGS) $(PKG_LIBS)

# The policy engine benchmark (make bench): a program on the library alone.
build/bench/policy: bench/policy.c build/libregauthd.a | deps
	@mkdir -p build/bench
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itokenserver -o $@ $< build/libregauthd.a $(LDFLAGS) $(PKG_LIBS)

# The Node simulator the engine is compared with, from bench/package-lock.json
# into build/ (never committed). A failed install only leaves it out of the
# figures: bench/run.sh says so.
build/bench/node/.installed: bench/package.json bench/package-lock.json
	@mkdir -p build/bench/node
	cp bench/package.json bench/package-lock.json build/bench/node/
	@if command -v npm >/dev/null && (cd build/bench/node && npm ci --no-audit --no-fund --loglevel=error); \
	then touch $@; else echo "bench: npm could not install @cloud-copilot/iam-simulate"; fi

run: all
	@test -d var/regauth || ./bin/regauthd init var/regauth --realm http://$(LISTEN)/token
	./bin/regauthd serve -c var/regauth --listen $(LISTEN)

check: all deps-test check-unit check-cases check-e2e
	@echo "make check: all tiers passed"

check-unit: $(UT_BIN)
	@set -e; for t in $(UT_BIN); do echo "== $$t"; $$t; done

check-cases: bin/regauthd bin/docker-credential-regauth
	$(PYTHON) tests/cases/run.py bin/regauthd
	$(PYTHON) tests/cases/synopsis.py bin
	$(PYTHON) tests/cases/deploy.py bin/regauthd

check-e2e: all deps-test build/tests/mint_token
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

bench: all deps-bench build/bench/policy build/bench/node/.installed
	bash bench/run.sh

lint:
	@! grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok)\(' \
	    tokenserver/*.c tokenserver/policy/*.c helper/*.c || \
	    { echo "lint: banned function"; exit 1; }

# libFuzzer harnesses (tests/fuzz/fuzz_*.c), each built with the server's
# sources compiled in with the same sanitizers, then run FUZZ_SECONDS each on
# a copy of its seed corpus. Fails if any harness crashes; the reproducer is
# left as build/fuzz/NAME-crash-* (or leak-*, timeout-*, oom-*).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_FLAGS   ?= -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_NAMES:%=build/fuzz/fuzz_%)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(TS_SRC) $(wildcard tokenserver/*.h tokenserver/policy/*.h) | deps
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -std=c11 -D_GNU_SOURCE -Iinclude -Itokenserver \
	    $(WARN) $(PKG_CFLAGS) -o $@ $< $(TS_SRC) $(PKG_LIBS)

fuzz: $(FUZZ_BIN)
	@failed=""; for n in $(FUZZ_NAMES); do \
	  rm -rf build/fuzz/corpus-$$n; mkdir -p build/fuzz/corpus-$$n; \
	  cp tests/fuzz/corpus/$$n/* build/fuzz/corpus-$$n/ 2>/dev/null; \
	  echo "== fuzz_$$n: $(FUZZ_SECONDS)s"; \
	  if build/fuzz/fuzz_$$n -max_len=8192 -max_total_time=$(FUZZ_SECONDS) \
	      -print_final_stats=1 -artifact_prefix=build/fuzz/$$n- \
	      build/fuzz/corpus-$$n >build/fuzz/$$n.log 2>&1; then \
	    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec)' \
	        build/fuzz/$$n.log; \
	  else \
	    tail -n 60 build/fuzz/$$n.log; failed="$$failed $$n"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashed:$$failed (logs in build/fuzz/)"; exit 1; fi

# Man pages go to manN by their suffix; docs/*.md and the deployment
# examples (docs/deploy/) to share/doc/regauth, the unit's ExecStart pointed
# at $(PREFIX)/bin.
DOCDIR := $(DESTDIR)$(PREFIX)/share/doc/regauth
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DOCDIR)/deploy/kubernetes
	install -m 0755 bin/regauthd bin/docker-credential-regauth $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 docs/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 docs/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 docs/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 README.md docs/*.md $(DOCDIR)/
	sed 's#^ExecStart=/usr/local/bin/#ExecStart=$(PREFIX)/bin/#' \
	    docs/deploy/regauthd.service >$(DOCDIR)/deploy/regauthd.service
	chmod 0644 $(DOCDIR)/deploy/regauthd.service
	install -m 0644 docs/deploy/regauthd.logrotate docs/deploy/registry-config.yml \
	    $(DOCDIR)/deploy/
	install -m 0644 docs/deploy/kubernetes/*.yaml docs/deploy/kubernetes/Containerfile \
	    $(DOCDIR)/deploy/kubernetes/
	install -m 0755 docs/deploy/kubernetes/config.sh $(DOCDIR)/deploy/kubernetes/

clean:
	rm -rf build bin

-include $(TS_OBJ:.o=.d) $(HL_OBJ:.o=.d) build/tokenserver/main.d
