# tapir: a user-space TCP/IP stack over a Linux TAP device.
# `make` builds; `make run` starts the demo host on tap0; `make test` runs everything.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -g
SAN     ?=
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(SAN) $(WARN) -Istack/include -Istack -Idrivers -Iapps/lib -MMD -MP
LDFLAGS += $(SAN)
LDLIBS  += -lpthread

STACK_SRC  := $(wildcard stack/*.c)
DRIVER_SRC := $(wildcard drivers/*.c)
LIB_OBJ    := $(patsubst %.c,$(BUILD)/obj/%.o,$(STACK_SRC) $(DRIVER_SRC))
LIB        := $(BUILD)/libtapir.a

APP_SRC    := $(wildcard apps/*.c)
APPS       := $(patsubst apps/%.c,$(BUILD)/%,$(APP_SRC))
APP_LIB    := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard apps/lib/*.c))

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
SIM_SRC    := $(wildcard tests/sim/test_*.c)
SHIM_SRC   := $(wildcard tests/shim/test_*.c)
TEST_LIB   := $(patsubst %.c,$(BUILD)/obj/%.o,tests/unit/fixture.c tests/shim/pair.c)
TESTS      := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC) $(SIM_SRC) $(SHIM_SRC))
BENCH_SRC  := $(wildcard tests/bench/bench_*.c)
BENCHES    := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
# The raw TAP references and host-side tools of scripts/bench: each its own small program,
# none linked with tapir (tests/bench/tapbench.c is all they share).
BENCH_TOOLS := $(patsubst %,$(BUILD)/bench/%,tap_floor tap_ingress tap_egress udp_blast tcp_stream)
# Host-side load for the request/response, UDP echo and connection benchmarks (items 2, 4, 5
# and 6) and the kernel's services (echo, discard, chargen) for the Linux reference: plain
# Linux sockets, each one file.
BENCH_HOST := $(patsubst %,$(BUILD)/bench/%,conn_rate hold_conns kecho tcp_rr udp_rr)

FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang

# Keep the objects the chained pattern rules make (apps, tests): otherwise make deletes them
# as intermediates and rebuilds them every time.
.SECONDARY:

.PHONY: all run test tests debug asan bench bench-build soak fuzz fuzz-build install clean deps

all: $(LIB) $(APPS)

tests: $(TESTS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/%: $(BUILD)/obj/apps/%.o $(APP_LIB) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(filter %.a,$^) $(LDLIBS) -lcmocka -o $@

# Helpers shared by some tests (their names do not start with test_, so they make no binary of
# their own); the link puts objects before the library, wherever a rule added them. The TCP
# unit tests share one conversation helper (the peer's side of a connection), the sim tests
# one harness (two stacks over the wire in virtual time).
TCP_UNIT_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_tcp_*.c))
SIM_TESTS      := $(patsubst tests/%.c,$(BUILD)/tests/%,$(SIM_SRC))
$(TCP_UNIT_TESTS): $(BUILD)/obj/tests/unit/tcp_conv.o
$(SIM_TESTS): $(BUILD)/obj/tests/sim/sim.o
# The one unit test of a demo-program helper (apps/lib), not of the stack.
$(BUILD)/tests/unit/test_sha256: $(BUILD)/obj/apps/lib/sha256.o

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BENCH_TOOLS): $(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(BUILD)/obj/tests/bench/tapbench.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@

$(BENCH_HOST): $(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@

# The demo host on tap0, in the foreground. Needs root (it creates tap0).
run: all
	scripts/tap-up tap0 10.0.0.1/24
	$(BUILD)/tapir --tap tap0 --ip 10.0.0.2/24 --gw 10.0.0.1

# Installs what the tests need (when missing), then runs unit, sim (plain and sanitized),
# integration, the benchmark's smoke run (BENCH_SMOKE=1: lines, not speed) and a short fuzz
# run; ends with "N passed, N failed".
test: deps
	$(MAKE) all tests bench-build
	$(MAKE) BUILD=build/asan OPT="-O1 -g" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" all tests
	$(MAKE) fuzz-build
	scripts/run-tests

deps:
	scripts/install-deps

debug:
	$(MAKE) BUILD=build/debug OPT="-O0 -g3" all tests

# Everything built with ASan and UBSan, and every test (integration too) run against it.
asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" all tests
	TAPIR_BUILD=build/asan TAPIR_SUITES="unit sim shim integration" scripts/run-tests

# The TCP soak of issue 6 with more seeds (make test runs one per loss rate).
SOAK_SEEDS ?= 8
soak: tests
	SOAK_SEEDS=$(SOAK_SEEDS) $(BUILD)/tests/sim/test_sim_soak

# Issue 8's measurements against the raw TAP references (scripts/bench: root, a network
# namespace of its own, a few minutes); BENCH_SMOKE=1 runs each one briefly, as make test does.
bench-build: all $(BENCHES) $(BENCH_TOOLS) $(BENCH_HOST)

bench: bench-build
	TAPIR_BUILD=$(BUILD) scripts/bench

# The fuzzers drive the core alone: the shim (socket.c) needs threads and drivers. Two targets,
# each with its seed corpus and dictionary: fuzz_input feeds frames to a fresh stack
# (tests/fuzz/corpus, tapir.dict); fuzz_stateful acts on a stack with connections in every
# state (tests/fuzz/corpus_stateful, tapir.dict and stateful.dict). Crashes land in
# $(BUILD)/fuzz/ as crash-*; each becomes a file in tests/fuzz/regress/, which
# tests/unit/test_fuzz_regress replays (with the corpora) in every `make test`.
CORE_SRC     := $(filter-out stack/socket.c,$(STACK_SRC))
FUZZ_FLAGS   := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Istack/include -Istack
FUZZ_TARGETS := fuzz_input fuzz_stateful
FUZZ_BINS    := $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_TARGETS))
# ASan's quarantine, smaller than its 256 MiB: every input builds and frees a whole stack, and
# faulting in fresh pages would otherwise cost half of each run.
FUZZ_ENV     := ASAN_OPTIONS=quarantine_size_mb=16$${ASAN_OPTIONS:+:$$ASAN_OPTIONS}
fuzz-build: $(FUZZ_BINS) $(BUILD)/fuzz/fuzz_stateful.dict

$(FUZZ_BINS): $(BUILD)/fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(wildcard stack/*.h stack/include/tapir/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $< $(CORE_SRC) -o $@

# libFuzzer takes one dictionary: the record format's entries join the header fields.
$(BUILD)/fuzz/fuzz_stateful.dict: tests/fuzz/tapir.dict tests/fuzz/stateful.dict
	@mkdir -p $(dir $@)
	cat $^ >$@

# Each target for FUZZ_SECONDS (default 60), from its seeds and what earlier runs kept;
# `make fuzz FUZZ_SECONDS=600` for a longer run.
fuzz: fuzz-build
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/corpus_stateful
	$(FUZZ_ENV) $(BUILD)/fuzz/fuzz_input -max_total_time=$(FUZZ_SECONDS) \
		-artifact_prefix=$(BUILD)/fuzz/ -dict=tests/fuzz/tapir.dict \
		$(BUILD)/fuzz/corpus tests/fuzz/corpus
	$(FUZZ_ENV) $(BUILD)/fuzz/fuzz_stateful -max_total_time=$(FUZZ_SECONDS) \
		-artifact_prefix=$(BUILD)/fuzz/ -dict=$(BUILD)/fuzz/fuzz_stateful.dict \
		$(BUILD)/fuzz/corpus_stateful tests/fuzz/corpus_stateful

# The same two entry points built with the tests' compiler and flags (plain, or ASan and UBSan
# in build/asan), each under a name of its own, for test_fuzz_regress.
$(BUILD)/obj/tests/fuzz/%_entry.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DLLVMFuzzerTestOneInput=$*_entry -c $< -o $@
$(BUILD)/tests/unit/test_fuzz_regress: $(patsubst %,$(BUILD)/obj/tests/fuzz/%_entry.o,$(FUZZ_TARGETS))

PREFIX ?= /usr/local
VERSION := 0.4.0
# The library, its headers, the demo programs and a pkg-config file, so that
# `cc app.c $(pkg-config --cflags --libs tapir)` builds a program against tapir.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/tapir
	install -m 755 $(APPS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libtapir.a
	install -m 644 stack/include/tapir/*.h $(DESTDIR)$(PREFIX)/include/tapir/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' tapir.pc.in \
		>$(DESTDIR)$(PREFIX)/lib/pkgconfig/tapir.pc

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
