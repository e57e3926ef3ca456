# weft - build everything into build/.
#
#   make            the library (build/libweft.a, build/libweft.so, build/weft.pc),
#                   the examples (build/examples/NAME) and build/bench/weft-bench
#   make check      build and run every test: ASan+UBSan, TSan and valgrind
#                   (see tests/run.sh); ends with "N passed, N failed"
#   make run        run the main program (the echo example) on 127.0.0.1:7000
#   make install    PREFIX=/usr/local (headers, libraries, pkg-config file)
#   make lint       build with clang too, and check the rules a compiler does
#                   not (scripts/lint.sh); part of make check
#
# Needs gcc or clang, make, valgrind; `make deps` installs what is missing.

CC ?= gcc
BUILD ?= build
PREFIX ?= /usr/local
VERSION := 0.1.0

SRCS := $(sort $(shell find src -name '*.c'))
HDRS := $(shell find include src -name '*.h')
TESTS := $(sort $(shell find tests -name 'test_*.c'))
EXAMPLES := $(sort $(wildcard examples/*.c))

CC_KIND := $(shell $(CC) --version 2>/dev/null | grep -q clang && echo clang || echo gcc)
WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
ARCHIVE := ar
ifeq ($(CC_KIND),gcc)
WARN += -Wjump-misses-init
ARCHIVE := gcc-ar
endif
CPPFLAGS := -Iinclude -Isrc
LDLIBS := -pthread

# Build modes: release (the library users get), and the test modes.
CFLAGS_release := -O2 -g -DNDEBUG -fPIC
CFLAGS_asan := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
CFLAGS_tsan := -O1 -g -fsanitize=thread
CFLAGS_plain := -O1 -g
ifeq ($(CC_KIND),gcc)
# Link-time optimisation lets the hot paths (spawn, wake, channel ops) inline
# across files; fat objects keep the archive usable without LTO too.
CFLAGS_release += -flto=auto -ffat-lto-objects
endif

.PHONY: all check run install uninstall clean deps lint tests-asan tests-tsan tests-plain

all: $(BUILD)/libweft.a $(BUILD)/libweft.so $(BUILD)/weft.pc examples bench

# ---- objects and libraries per mode --------------------------------------

define MODE
$(BUILD)/$(1)/obj/%.o: %.c $(HDRS) | deps-checked
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WARN) $$(CFLAGS_$(1)) $$(CPPFLAGS) -c $$< -o $$@

$(BUILD)/$(1)/libweft.a: $(SRCS:%.c=$(BUILD)/$(1)/obj/%.o)
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $$(ARCHIVE) rcs $$@ $$^

$(BUILD)/$(1)/tests/%: tests/%.c tests/test.h $(wildcard tests/*/*.h) $(BUILD)/$(1)/libweft.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WARN) $$(CFLAGS_$(1)) $$(CPPFLAGS) -D_GNU_SOURCE -Itests $$< $(BUILD)/$(1)/libweft.a $$(LDLIBS) -o $$@

tests-$(1): $(TESTS:tests/%.c=$(BUILD)/$(1)/tests/%)
endef

$(eval $(call MODE,release))
$(eval $(call MODE,asan))
$(eval $(call MODE,tsan))
$(eval $(call MODE,plain))

$(BUILD)/libweft.a: $(BUILD)/release/libweft.a
	cp $< $@

$(BUILD)/libweft.so: $(SRCS:%.c=$(BUILD)/release/obj/%.o)
	$(CC) -shared -Wl,-soname,libweft.so.0 $^ $(LDLIBS) -o $@

$(BUILD)/weft.pc: weft.pc.in
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# ---- examples and the benchmark ------------------------------------------

examples: $(EXAMPLES:examples/%.c=$(BUILD)/examples/%)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libweft.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS_release) $(CPPFLAGS) $< $(BUILD)/libweft.a $(LDLIBS) -o $@

bench: $(BUILD)/bench/weft-bench

$(BUILD)/bench/weft-bench: $(wildcard bench/*.c) $(wildcard bench/*.h) $(BUILD)/libweft.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS_release) $(CPPFLAGS) $(wildcard bench/*.c) $(BUILD)/libweft.a $(LDLIBS) -o $@

# ---- tests ------------------------------------------------------------------

check: tests-asan tests-tsan tests-plain all lint
	BUILD=$(BUILD) sh tests/run.sh

run: $(BUILD)/examples/echo
	$(BUILD)/examples/echo 127.0.0.1:7000

# ---- setup, install, hygiene ----------------------------------------------

# Installs missing tools (gcc, clang, valgrind) with apt-get, once.
deps-checked:
	@sh scripts/deps.sh

deps:
	@sh scripts/deps.sh --force

lint: deps-checked $(BUILD)/libweft.a
	$(MAKE) --no-print-directory CC=clang BUILD=$(BUILD)/clang $(BUILD)/clang/release/libweft.a \
	    $(BUILD)/clang/examples/echo
	BUILD=$(BUILD) sh scripts/lint.sh

install: $(BUILD)/libweft.a $(BUILD)/libweft.so $(BUILD)/weft.pc
	install -d $(DESTDIR)$(PREFIX)/include/weft $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/weft.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/weft/*.h $(DESTDIR)$(PREFIX)/include/weft/
	install -m 644 $(BUILD)/libweft.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libweft.so $(DESTDIR)$(PREFIX)/lib/libweft.so.$(VERSION)
	ln -sf libweft.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libweft.so.0
	ln -sf libweft.so.0 $(DESTDIR)$(PREFIX)/lib/libweft.so
	# Generated again here: build/weft.pc may carry another PREFIX.
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' weft.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/weft.pc
	chmod 644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/weft.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/weft $(DESTDIR)$(PREFIX)/include/weft.h
	rm -f $(DESTDIR)$(PREFIX)/lib/libweft.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/weft.pc

clean:
	rm -rf $(BUILD)

.SECONDARY:
