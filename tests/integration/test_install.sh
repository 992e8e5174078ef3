#!/usr/bin/env bash
# test_install.sh: `make install PREFIX=...` installs the library, the headers, the programs and
# a pkg-config file, and `cc app.c $(pkg-config --cflags --libs tapir)` builds a program that
# runs: with no host open, tapir_socket fails with ENETDOWN, as the header promises.
set -u
. "$(dirname "$0")/lib.sh"

prefix=$TEST_TMP/prefix
if bounded 300 make -s -C "$TAPIR_ROOT" install BUILD="$(dirname "$TAPIR")" PREFIX="$prefix" \
    >"$TEST_TMP/install.log" 2>&1; then
    ok "make install PREFIX=... succeeds"
else
    not_ok "make install PREFIX=... succeeds"
    diag <"$TEST_TMP/install.log"
fi
check "libtapir.a is installed" test -f "$prefix/lib/libtapir.a"
check "tapir/socket.h is installed" test -f "$prefix/include/tapir/socket.h"
check "the tapir program is installed" test -x "$prefix/bin/tapir"
check "udp_echo_server is installed" test -x "$prefix/bin/udp_echo_server"
check "tapir.pc is installed" test -f "$prefix/lib/pkgconfig/tapir.pc"

cat >"$TEST_TMP/app.c" <<'C'
#include <errno.h>
#include <stdio.h>
#include <tapir/socket.h>
int main(void)
{
    int fd = tapir_socket(AF_INET, SOCK_DGRAM, 0);
    printf("fd %d errno %s\n", fd, errno == ENETDOWN ? "ENETDOWN" : "other");
    return fd == -1 && errno == ENETDOWN ? 0 : 1;
}
C
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs tapir 2>"$TEST_TMP/pc.err")
check_eq "pkg-config knows tapir" "$?" 0
# A sanitized build (make asan) installs a sanitized library: link the runtime too.
tapir_is_sanitized && flags="$flags -fsanitize=address,undefined"
# shellcheck disable=SC2086 # the flags are words
if cc -std=c11 -Wall -Werror "$TEST_TMP/app.c" $flags -o "$TEST_TMP/app" 2>"$TEST_TMP/cc.err"; then
    ok "cc app.c \$(pkg-config --cflags --libs tapir) builds"
else
    not_ok "cc app.c \$(pkg-config --cflags --libs tapir) builds"
    diag <"$TEST_TMP/cc.err"
fi
out=$("$TEST_TMP/app" 2>&1)
check_eq "the program runs against the library" "$out" "fd -1 errno ENETDOWN"

done_testing
