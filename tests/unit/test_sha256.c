/* SPDX-License-Identifier: MIT */
/* test_sha256.c: apps/lib/sha256.c against the FIPS 180-4 examples (NIST's "abc", the
 * two-block message, a million 'a'), the padding's edge lengths, and input in pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"

static void hex_of(const void *data, size_t len, char hex[SHA256_HEX_LEN])
{
    struct sha256 s;
    uint8_t digest[SHA256_DIGEST_LEN];
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, digest);
    sha256_hex(digest, hex);
}

static void assert_digest(const char *msg, const char *want)
{
    char hex[SHA256_HEX_LEN];
    hex_of(msg, strlen(msg), hex);
    assert_string_equal(hex, want);
}

/* --- FIPS 180-4 examples (NIST CSRC "SHA256.pdf", and FIPS 180-2 appendix B) --- */

static void test_abc_one_block(void **state)
{
    (void)state;
    assert_digest("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_448_bit_message_needs_two_blocks(void **state)
{
    (void)state;
    /* 56 bytes: the 0x80 fits, the length does not, so padding adds a block. */
    assert_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_896_bit_message(void **state)
{
    (void)state;
    assert_digest("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                  "klmnopqrlmnopqrsmnopqrstnopqrstu",
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a_in_odd_pieces(void **state)
{
    (void)state;
    static char a[1000];
    memset(a, 'a', sizeof(a));
    struct sha256 s;
    uint8_t digest[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN];
    sha256_init(&s);
    /* 1,000,000 = 1000 x 997 + 3000: pieces that straddle every block boundary offset. */
    for (int i = 0; i < 1000; i++)
        sha256_update(&s, a, 997);
    for (int i = 0; i < 3; i++)
        sha256_update(&s, a, 1000);
    sha256_final(&s, digest);
    sha256_hex(digest, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* --- padding (§5.1.1) at the lengths where it changes shape --- */

static void test_empty_message(void **state)
{
    (void)state;
    assert_digest("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_lengths_around_the_block_edges(void **state)
{
    (void)state;
    /* n 'a's; the references are coreutils' sha256sum. 55 is the longest message whose
     * padding fits its own block, 56 the shortest that needs another; 64 and 128 fill
     * blocks exactly, so padding is a block of its own. */
    static const struct {
        size_t n;
        const char *hex;
    } cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
    };
    char a[128], hex[SHA256_HEX_LEN];
    memset(a, 'a', sizeof(a));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hex_of(a, cases[i].n, hex);
        assert_string_equal(hex, cases[i].hex);
    }
}

/* --- input in pieces --- */

static void test_every_two_way_split_gives_the_same_digest(void **state)
{
    (void)state;
    uint8_t msg[300], whole[SHA256_DIGEST_LEN], split[SHA256_DIGEST_LEN];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 37 + 11);
    struct sha256 s;
    sha256_init(&s);
    sha256_update(&s, msg, sizeof(msg));
    sha256_final(&s, whole);
    for (size_t cut = 0; cut <= sizeof(msg); cut++) {
        sha256_init(&s);
        sha256_update(&s, msg, cut);
        sha256_update(&s, msg + cut, sizeof(msg) - cut);
        sha256_final(&s, split);
        assert_memory_equal(split, whole, SHA256_DIGEST_LEN);
    }
}

static void test_byte_at_a_time_equals_one_call(void **state)
{
    (void)state;
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    struct sha256 s;
    uint8_t digest[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN];
    sha256_init(&s);
    for (size_t i = 0; msg[i]; i++)
        sha256_update(&s, msg + i, 1);
    sha256_update(&s, msg, 0); /* an empty update changes nothing */
    sha256_final(&s, digest);
    sha256_hex(digest, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abc_one_block),
        cmocka_unit_test(test_448_bit_message_needs_two_blocks),
        cmocka_unit_test(test_896_bit_message),
        cmocka_unit_test(test_million_a_in_odd_pieces),
        cmocka_unit_test(test_empty_message),
        cmocka_unit_test(test_lengths_around_the_block_edges),
        cmocka_unit_test(test_every_two_way_split_gives_the_same_digest),
        cmocka_unit_test(test_byte_at_a_time_equals_one_call),
    };
    return cmocka_run_group_tests_name("sha256", tests, NULL, NULL);
}
