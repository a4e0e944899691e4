/* SPDX-License-Identifier: ISC */
/*
 * unit.h: what every Check test program shares: its suite, built from a
 * table of cases, run so that the program exits 0 only when nothing
 * failed.
 */
#ifndef RELAY_UNIT_H
#define RELAY_UNIT_H

#include <stdlib.h>

#include <check.h>

#define UNIT_CASE_TESTS	24

/* A test of a case; with loops set, a loop test run for _i 0 to loops - 1. */
struct unit_test {
	const TTest	*test;
	int		 loops;
};

/*
 * A case of a suite and what Check sets on it: a checked fixture, a
 * timeout in seconds (0: Check's own) and tags. Its tests end at the
 * first empty row.
 */
struct unit_case {
	const char		*name;
	struct unit_test	 tests[UNIT_CASE_TESTS];
	SFun			 setup;
	SFun			 teardown;
	double			 timeout;
	const char		*tags;
};

static inline TCase *
unit_tcase(const struct unit_case *c)
{
	TCase			*tc = tcase_create(c->name);
	const struct unit_test	*t;

	if (c->setup != NULL || c->teardown != NULL)
		tcase_add_checked_fixture(tc, c->setup, c->teardown);
	if (c->timeout > 0)
		tcase_set_timeout(tc, c->timeout);
	if (c->tags != NULL)
		tcase_set_tags(tc, c->tags);
	for (t = c->tests; t < c->tests + UNIT_CASE_TESTS && t->test != NULL;
	    t++) {
		if (t->loops > 0)
			tcase_add_loop_test(tc, t->test, 0, t->loops);
		else
			tcase_add_test(tc, t->test);
	}
	return tc;
}

/* Run the suite of the cases, which end at one without a name. */
static inline int
unit_main(const char *suite, const struct unit_case *cases)
{
	Suite	*s = suite_create(suite);
	SRunner	*sr;
	int	 failed;

	for (; cases->name != NULL; cases++)
		suite_add_tcase(s, unit_tcase(cases));
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The main() of a test program: its suite's name, then its cases. */
#define UNIT_MAIN(suite, ...)						\
int									\
main(void)								\
{									\
	const struct unit_case	 unit_cases[] = {			\
		__VA_ARGS__, { NULL }					\
	};								\
									\
	return unit_main((suite), unit_cases);				\
}

#endif /* RELAY_UNIT_H */
