/* SPDX-License-Identifier: MIT */
/* test_shim_udp.c: the blocking shim in real threads, two hosts over a real-time wire. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pair.h"

/* A datagram from A to B is received by a blocking recvfrom with A's address as source. */
static void test_blocking_recv_gets_datagram(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 1);
    int rx = pair_udp(p.b, 5000), tx = pair_udp(p.a, 0);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 5000);
    assert_int_equal(tapir_sendto(tx, "hello", 5, 0, (struct sockaddr *)&to, sizeof(to)), 5);
    char buf[64];
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    assert_int_equal(tapir_recvfrom(rx, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(from_len, sizeof(from));
    char text[INET_ADDRSTRLEN];
    assert_string_equal(inet_ntop(AF_INET, &from.sin_addr, text, sizeof(text)), PAIR_ADDR_A);
    assert_int_equal(tapir_close(rx), 0);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocking_recv_gets_datagram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
