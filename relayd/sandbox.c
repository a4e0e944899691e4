/* SPDX-License-Identifier: ISC */
/*
 * sandbox.c: what a worker may still do after privdrop(): no new
 * privileges, no new processes, no file writes, no core dumps.
 * The per-role seccomp allowlists and the Landlock ruleset come next
 * (issue: sandboxing every worker); this file is their one home.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include "log.h"
#include "relayd.h"

static void
sandbox_rlimit(int res, rlim_t v, const char *name)
{
	struct rlimit	 rl = { v, v };

	if (setrlimit(res, &rl) == -1)
		fatal("setrlimit %s", name);
}

void
sandbox_apply(enum proc_role role, int debug)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");
	sandbox_rlimit(RLIMIT_NPROC, 0, "NPROC");
	sandbox_rlimit(RLIMIT_FSIZE, 0, "FSIZE");
	if (!debug)
		sandbox_rlimit(RLIMIT_CORE, 0, "CORE");
}
