/* SPDX-License-Identifier: MIT */
/* test_fuzz_regress.c: replays what the fuzzers found (tests/fuzz/regress/) and their seed
 * corpora (tests/fuzz/corpus/, tests/fuzz/corpus_stateful/) through both fuzz targets, built
 * with the tests' own compiler and flags, so `make test` runs every one of them plain and under
 * ASan and UBSan without clang or libFuzzer. A target checks its own invariants and aborts on a
 * broken one; the input being replayed is named on stderr first. Run from the repository root. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

/* The two targets' LLVMFuzzerTestOneInput, renamed by the Makefile as each is compiled. */
int fuzz_input_entry(const uint8_t *data, size_t size);
int fuzz_stateful_entry(const uint8_t *data, size_t size);

typedef int (*fuzz_target_fn)(const uint8_t *data, size_t size);

/* Reads a whole file; NULL (and a failed test) if it cannot. *len may be 0. */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

/* Every regular file in dir (but notes, *.md) through fn; returns how many. */
static unsigned replay_dir(const char *dir, fuzz_target_fn fn, const char *target)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s (run the test from the repository root)", dir);
    unsigned count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[1024];
        struct stat sb;
        size_t nlen = strlen(e->d_name);
        if (e->d_name[0] == '.' || (nlen > 3 && strcmp(e->d_name + nlen - 3, ".md") == 0))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        size_t len;
        uint8_t *data = read_all(path, &len);
        fprintf(stderr, "# %s < %s\n", target, path);
        assert_int_equal(fn(data, len), 0);
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

/* --- what the fuzzers found --- */

static void test_regressions_replay_through_fuzz_input(void **state)
{
    (void)state;
    replay_dir("tests/fuzz/regress", fuzz_input_entry, "fuzz_input");
}

static void test_regressions_replay_through_fuzz_stateful(void **state)
{
    (void)state;
    replay_dir("tests/fuzz/regress", fuzz_stateful_entry, "fuzz_stateful");
}

/* --- the seed corpora, each through both targets (any bytes are an input to either) --- */

static void test_input_corpus_replays_through_both_targets(void **state)
{
    (void)state;
    assert_true(replay_dir("tests/fuzz/corpus", fuzz_input_entry, "fuzz_input") > 0);
    replay_dir("tests/fuzz/corpus", fuzz_stateful_entry, "fuzz_stateful");
}

static void test_stateful_corpus_replays_through_both_targets(void **state)
{
    (void)state;
    assert_true(replay_dir("tests/fuzz/corpus_stateful", fuzz_stateful_entry, "fuzz_stateful") > 0);
    replay_dir("tests/fuzz/corpus_stateful", fuzz_input_entry, "fuzz_input");
}

/* An empty input and a run of zeros: the smallest cases each target must take. */
static void test_trivial_inputs_pass_both_targets(void **state)
{
    (void)state;
    static const uint8_t zeros[64];
    fuzz_target_fn fns[2] = {fuzz_input_entry, fuzz_stateful_entry};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fns[i](zeros, 0), 0);
        assert_int_equal(fns[i](zeros, sizeof(zeros)), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* A broken invariant aborts the binary: the regressions, likeliest to, come last. */
        cmocka_unit_test(test_trivial_inputs_pass_both_targets),
        cmocka_unit_test(test_input_corpus_replays_through_both_targets),
        cmocka_unit_test(test_stateful_corpus_replays_through_both_targets),
        cmocka_unit_test(test_regressions_replay_through_fuzz_input),
        cmocka_unit_test(test_regressions_replay_through_fuzz_stateful),
    };
    return cmocka_run_group_tests_name("fuzz_regress", tests, NULL, NULL);
}
