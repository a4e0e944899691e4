/* SPDX-License-Identifier: ISC */
/*
 * sandbox.c: what a worker may still do once privdrop() is done, per role.
 * In order: no new privileges; rlimits (no processes, no file writes, no
 * core dumps); a Landlock domain with no filesystem access at all, no TCP
 * bind or connect (ABI 4+) and, where the kernel has it (ABI 6+), no
 * signals or abstract sockets outside the domain; then a libseccomp
 * allowlist whose default action kills the process.
 *
 * With sandbox debug (relayd -S, or "sandbox debug"), a forbidden call
 * traps instead: the worker logs the call's name and its role and the call
 * fails with EPERM, so a missing entry is found at once. No list here may
 * grow without a reason written next to the entry.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <seccomp.h>

#include "log.h"
#include "relayd.h"

/*
 * The Landlock ABI, written out: the system headers of the build host may
 * be older than the kernel relayd runs on.
 */
struct rl_landlock_attr {
	uint64_t	 handled_access_fs;
	uint64_t	 handled_access_net;	/* ABI 4 */
	uint64_t	 scoped;		/* ABI 6 */
};
#define RL_LANDLOCK_CREATE_RULESET_VERSION	(1U << 0)
#define RL_LANDLOCK_FS_ABI1			((1ULL << 13) - 1)
#define RL_LANDLOCK_FS_REFER			(1ULL << 13)	/* ABI 2 */
#define RL_LANDLOCK_FS_TRUNCATE			(1ULL << 14)	/* ABI 3 */
#define RL_LANDLOCK_FS_IOCTL_DEV		(1ULL << 15)	/* ABI 5 */
#define RL_LANDLOCK_NET_BIND_TCP		(1ULL << 0)	/* ABI 4 */
#define RL_LANDLOCK_NET_CONNECT_TCP		(1ULL << 1)
#define RL_LANDLOCK_SCOPE_ABSTRACT_UNIX		(1ULL << 0)	/* ABI 6 */
#define RL_LANDLOCK_SCOPE_SIGNAL		(1ULL << 1)

/* What sandbox_apply() found, for tests and for relayd(8)'s checks. */
int	sandbox_landlock_abi = -1;

static const char *sandbox_role = "?";

static void
sandbox_rlimit(int res, rlim_t v, const char *name)
{
	struct rlimit	 rl = { v, v };

	if (setrlimit(res, &rl) == -1)
		fatal("setrlimit %s", name);
}

/* Exported for the unit tests, which check Landlock apart from seccomp. */
void
sandbox_landlock(void)
{
	struct rl_landlock_attr	 attr;
	size_t			 size;
	int			 abi, fd;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    RL_LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		/* an old kernel, or Landlock off: seccomp still applies */
		log_debug("Landlock is not available (%s): skipped",
		    strerror(errno));
		sandbox_landlock_abi = 0;
		return;
	}
	sandbox_landlock_abi = abi;
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = RL_LANDLOCK_FS_ABI1;
	if (abi >= 2)
		attr.handled_access_fs |= RL_LANDLOCK_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= RL_LANDLOCK_FS_TRUNCATE;
	if (abi >= 5)
		attr.handled_access_fs |= RL_LANDLOCK_FS_IOCTL_DEV;
	size = offsetof(struct rl_landlock_attr, handled_access_net);
	if (abi >= 4) {
		/* no role connects or binds: listeners come bound */
		attr.handled_access_net = RL_LANDLOCK_NET_BIND_TCP |
		    RL_LANDLOCK_NET_CONNECT_TCP;
		size = offsetof(struct rl_landlock_attr, scoped);
	}
	if (abi >= 6) {
		attr.scoped = RL_LANDLOCK_SCOPE_ABSTRACT_UNIX |
		    RL_LANDLOCK_SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	/* a ruleset with no rules: every handled access is denied */
	if ((fd = syscall(SYS_landlock_create_ruleset, &attr, size, 0)) == -1)
		fatal("landlock_create_ruleset");
	if (syscall(SYS_landlock_restrict_self, fd, 0) == -1)
		fatal("landlock_restrict_self");
	close(fd);
}

/* ---- seccomp ---- */

#define R_LEASE		(1 << ROLE_LEASE)
#define R_CONN		(1 << ROLE_CONN)
#define R_FWD		(1 << ROLE_FWD)
#define R_ALL		(R_LEASE | R_CONN | R_FWD)

struct sc_rule {
	int		 nr;
	int		 roles;
	const char	*why;
};

/*
 * The allowlists. Calls with argument filters (mmap and mprotect, never
 * with PROT_EXEC) are added separately in sandbox_seccomp().
 */
static const struct sc_rule sc_rules[] = {
	{ SCMP_SYS(read),		R_ALL,
	    "client input (conn), libevent's signal pipe (all)" },
	{ SCMP_SYS(write),		R_ALL,	"log lines to stderr" },
	{ SCMP_SYS(writev),		R_CONN,	"evbuffer output to clients" },
	{ SCMP_SYS(recvmsg),		R_ALL,	"imsg channels, passed fds" },
	{ SCMP_SYS(sendmsg),		R_ALL,	"imsg channels, passed fds" },
	{ SCMP_SYS(close),		R_ALL,	"connections end" },
	{ SCMP_SYS(epoll_wait),		R_ALL,	"libevent" },
	{ SCMP_SYS(epoll_pwait),	R_ALL,	"libevent" },
	{ SCMP_SYS(epoll_ctl),		R_ALL,	"libevent" },
	{ SCMP_SYS(clock_gettime),	R_ALL,	"timers (when not in the vDSO)" },
	{ SCMP_SYS(gettimeofday),	R_ALL,	"timers (when not in the vDSO)" },
	{ SCMP_SYS(brk),		R_ALL,	"malloc" },
	{ SCMP_SYS(munmap),		R_ALL,	"malloc" },
	{ SCMP_SYS(mremap),		R_ALL,	"realloc" },
	{ SCMP_SYS(madvise),		R_ALL,	"free" },
	{ SCMP_SYS(futex),		R_LEASE | R_CONN, "OpenSSL's locks" },
	{ SCMP_SYS(getpid),		R_LEASE | R_CONN,
	    "OpenSSL's RNG checks for a fork on every call" },
	{ SCMP_SYS(rt_sigreturn),	R_ALL,	"return from SIGTERM's handler" },
	{ SCMP_SYS(rt_sigprocmask),	R_ALL,	"libevent, exit paths" },
	{ SCMP_SYS(restart_syscall),	R_ALL,	"interrupted sleeps" },
	{ SCMP_SYS(exit),		R_ALL,	"exit" },
	{ SCMP_SYS(exit_group),		R_ALL,	"exit" },
	{ SCMP_SYS(getrandom),		R_LEASE | R_CONN,
	    "ephemeral keys, lease and session ids, tokens" },
	{ SCMP_SYS(accept4),		R_LEASE | R_CONN,
	    "clients (conn), relay-ctl (lease)" },
	{ SCMP_SYS(getsockopt),		R_LEASE, "SO_PEERCRED of relay-ctl" },
	{ SCMP_SYS(shutdown),		R_FWD,	"half-close" },
	{ SCMP_SYS(splice),		R_FWD,	"forwarding" },
	{ SCMP_SYS(pipe2),		R_FWD,	"a pipe per direction" },
};

static void
sandbox_sigsys(int sig, siginfo_t *info, void *vctx)
{
	ucontext_t	*ctx = vctx;
	char		*name;
	int		 saved = errno;

	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
	    info->si_syscall);
	log_warnx("sandbox: %s made the forbidden system call %s (%d): "
	    "it fails with EPERM in debug mode", sandbox_role,
	    name != NULL ? name : "?", info->si_syscall);
	free(name);
#if defined(__x86_64__)
	ctx->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
	ctx->uc_mcontext.regs[0] = -EPERM;
#else
	(void)ctx;
#endif
	errno = saved;
}

static void
sandbox_seccomp(enum proc_role role, int debug)
{
	scmp_filter_ctx	 sc;
	struct sigaction sa;
	size_t		 i;
	int		 r;

	sc = seccomp_init(debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (sc == NULL)
		fatalx("seccomp_init");
	for (i = 0; i < sizeof(sc_rules) / sizeof(sc_rules[0]); i++) {
		if (!(sc_rules[i].roles & (1 << role)))
			continue;
		if ((r = seccomp_rule_add(sc, SCMP_ACT_ALLOW, sc_rules[i].nr,
		    0)) < 0)
			fatalx("seccomp_rule_add %d: %s", sc_rules[i].nr,
			    strerror(-r));
	}
	/* conn: TCP_NODELAY on accepted connections, no other option */
	if (role == ROLE_CONN && seccomp_rule_add(sc, SCMP_ACT_ALLOW,
	    SCMP_SYS(setsockopt), 2, SCMP_A1(SCMP_CMP_EQ, IPPROTO_TCP),
	    SCMP_A2(SCMP_CMP_EQ, TCP_NODELAY)) < 0)
		fatalx("seccomp setsockopt rule");
	/* fwd: larger pipes, and no other fcntl */
	if (role == ROLE_FWD && seccomp_rule_add(sc, SCMP_ACT_ALLOW,
	    SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, F_SETPIPE_SZ)) < 0)
		fatalx("seccomp fcntl rule");
	/* memory, never executable */
	if (seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
	    seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0)
		fatalx("seccomp mmap rules");
	if (debug) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = sandbox_sigsys;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, NULL) == -1)
			fatal("sigaction SIGSYS");
		/* the handler itself logs and may ask for a name */
		seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigreturn), 0);
	}
	if ((r = seccomp_load(sc)) < 0)
		fatalx("seccomp_load: %s", strerror(-r));
	seccomp_release(sc);
}

/* The number of calls a role may make (for tests and relayd(8)). */
int
sandbox_count(enum proc_role role)
{
	size_t	 i;
	int	 n = 2;		/* mmap, mprotect (filtered) */

	if (role == ROLE_FWD)
		n++;		/* fcntl, F_SETPIPE_SZ only */
	if (role == ROLE_CONN)
		n++;		/* setsockopt, TCP_NODELAY only */

	for (i = 0; i < sizeof(sc_rules) / sizeof(sc_rules[0]); i++)
		if (sc_rules[i].roles & (1 << role))
			n++;
	return n;
}

void
sandbox_apply(enum proc_role role, int debug)
{
	static const char	*names[] = { "parent", "lease", "conn", "fwd" };
	uint8_t			 seed;

	sandbox_role = names[role];
	/* let OpenSSL seed itself while it may still open what it wants */
	if (crypto_random(&seed, 1) == -1)
		fatalx("no randomness");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");
	sandbox_rlimit(RLIMIT_NPROC, 0, "NPROC");
	sandbox_rlimit(RLIMIT_FSIZE, 0, "FSIZE");
	if (!debug)
		sandbox_rlimit(RLIMIT_CORE, 0, "CORE");
	sandbox_landlock();
	sandbox_seccomp(role, debug);
	if (debug)
		log_info("sandbox debug: forbidden calls are logged, not fatal");
}
