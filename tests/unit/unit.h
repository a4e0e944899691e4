/* SPDX-License-Identifier: ISC */
/*
 * unit.h: what every Check test program shares: run its suite and exit 0
 * only when nothing failed.
 */
#ifndef RELAY_UNIT_H
#define RELAY_UNIT_H

#include <stdlib.h>

#include <check.h>

static inline int
unit_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* RELAY_UNIT_H */
