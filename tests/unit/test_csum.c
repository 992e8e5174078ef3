/* SPDX-License-Identifier: MIT */
/* test_csum.c: the Internet checksum (RFC 1071): worked example, odd lengths, pieces, checks. */
#include "fixture.h"

#include "csum.h"

/* --- RFC 1071 §3 numerical example --- */

static void test_rfc1071_example_sums_to_ddf2(void **state)
{
    (void)state;
    static const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    /* The example's one's complement sum is 0xddf2 (from 0x2ddf0 with the carry folded). */
    uint32_t sum = csum_add(0, data, sizeof(data));
    assert_int_equal(csum_fold(sum), (uint16_t)~0xddf2u);
    assert_int_equal(csum(data, sizeof(data)), 0x220d);
}

static void test_all_zero_buffer_checksums_to_ffff(void **state)
{
    (void)state;
    static const uint8_t zero[40];
    assert_int_equal(csum(zero, sizeof(zero)), 0xffff);
}

/* --- odd lengths --- */

static void test_odd_length_pads_last_byte_with_zero(void **state)
{
    (void)state;
    static const uint8_t odd[] = {0x12, 0x34, 0x56};
    static const uint8_t even[] = {0x12, 0x34, 0x56, 0x00};
    /* 0x1234 + 0x5600 = 0x6834: the odd byte is the high half of a word, not the low. */
    assert_int_equal(csum(odd, sizeof(odd)), (uint16_t)~0x6834u);
    assert_int_equal(csum(odd, sizeof(odd)), csum(even, sizeof(even)));
    static const uint8_t one[] = {0xab};
    assert_int_equal(csum(one, 1), (uint16_t)~0xab00u);
}

static void test_matches_reference_for_every_length_up_to_300(void **state)
{
    (void)state;
    uint8_t buf[300];
    fx_pattern(buf, sizeof(buf), 7);
    for (size_t len = 0; len <= sizeof(buf); len++)
        assert_int_equal(csum(buf, len), fx_csum(buf, len));
}

/* --- pieces --- */

static void test_split_at_even_offsets_equals_whole(void **state)
{
    (void)state;
    uint8_t buf[1501];
    fx_pattern(buf, sizeof(buf), 11);
    uint16_t whole = csum(buf, sizeof(buf));
    for (size_t cut = 0; cut <= sizeof(buf); cut += 2) {
        uint32_t s = csum_add(0, buf, cut);
        s = csum_add(s, buf + cut, sizeof(buf) - cut);
        assert_int_equal(csum_fold(s), whole);
    }
    /* Three pieces, the last odd. */
    uint32_t s = csum_add(csum_add(csum_add(0, buf, 20), buf + 20, 1000), buf + 1020, 481);
    assert_int_equal(csum_fold(s), whole);
}

static void test_running_sum_over_megabyte_of_ones_folds_carries(void **state)
{
    (void)state;
    /* 0xffff words push the 32-bit running sum past its top many times over. */
    static uint8_t ones[65536];
    memset(ones, 0xff, sizeof(ones));
    uint32_t s = 0;
    for (int i = 0; i < 16; i++)
        s = csum_add(s, ones, sizeof(ones));
    /* One's complement: any number of 0xffff words sums to 0xffff; the checksum is 0. */
    assert_int_equal(csum_fold(s), 0x0000);

    static uint8_t mixed[65536];
    fx_pattern(mixed, sizeof(mixed), 3);
    uint32_t piecewise = 0;
    for (size_t off = 0; off < sizeof(mixed); off += 4096)
        piecewise = csum_add(piecewise, mixed + off, 4096);
    assert_int_equal(csum_fold(piecewise), fx_csum(mixed, sizeof(mixed)));
}

/* --- verification --- */

static void test_buffer_containing_its_checksum_verifies_to_zero(void **state)
{
    (void)state;
    uint8_t hdr[20] = {0x45, 0x00, 0x00, 0x54, 0xab, 0xcd, 0x40, 0x00, 0x40, 0x01,
                       0x00, 0x00, 10,   0,    0,    1,    10,   0,    0,    2};
    uint16_t c = csum(hdr, sizeof(hdr));
    hdr[10] = (uint8_t)(c >> 8);
    hdr[11] = (uint8_t)c;
    assert_int_equal(csum(hdr, sizeof(hdr)), 0);
    hdr[15] ^= 1; /* any flipped bit shows */
    assert_int_not_equal(csum(hdr, sizeof(hdr)), 0);
}

static void test_odd_length_message_with_checksum_verifies_to_zero(void **state)
{
    (void)state;
    /* An ICMP echo with 5 data bytes: the checksum field sits at an even offset. */
    uint8_t msg[13];
    fx_icmp_echo(msg, 1, 2, "hello", 5);
    assert_int_equal(csum(msg, sizeof(msg)), 0);
}

static void test_stack_output_checksums_verify(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    uint8_t data[37];
    fx_pattern(data, sizeof(data), 5);
    fx_inject_ping(f, 9, 10, data, sizeof(data));
    struct fx_ip_view ip;
    fx_as_icmp(fx_expect_one(f), &ip); /* asserts both checksums with the reference */
    assert_int_equal(csum(ip.hdr, ip.hdr_len), 0);
    assert_int_equal(csum(ip.payload, ip.payload_len), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_rfc1071_example_sums_to_ddf2),
        FX_TEST(test_all_zero_buffer_checksums_to_ffff),
        FX_TEST(test_odd_length_pads_last_byte_with_zero),
        FX_TEST(test_matches_reference_for_every_length_up_to_300),
        FX_TEST(test_split_at_even_offsets_equals_whole),
        FX_TEST(test_running_sum_over_megabyte_of_ones_folds_carries),
        FX_TEST(test_buffer_containing_its_checksum_verifies_to_zero),
        FX_TEST(test_odd_length_message_with_checksum_verifies_to_zero),
        FX_TEST(test_stack_output_checksums_verify),
    };
    return cmocka_run_group_tests_name("csum", tests, NULL, NULL);
}
