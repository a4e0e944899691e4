/* SPDX-License-Identifier: ISC */
/*
 * sandbox.c: what a worker may still do once privdrop() is done, per role.
 * In order: no new privileges; rlimits (no processes, no file writes, no
 * core dumps); a Landlock domain with no filesystem access at all, no TCP
 * bind or connect (ABI 4+) and, where the kernel has it (ABI 6+), no
 * signals or abstract sockets outside the domain; then a libseccomp
 * allowlist whose default action kills the process.
 *
 * With relayd -S (a test mode, never a configuration setting), a forbidden
 * call traps instead: the SIGSYS handler writes the role and the call's
 * number and name with write(2) alone and the call fails with EPERM, so a
 * missing entry is found at once. The handler must stay async-signal-safe:
 * no stdio, no malloc, no libseccomp; names are looked up before the
 * filter is loaded. A sanitizer build (configure --enable-asan) allows
 * the few calls the sanitizer runtime makes, and only there. No list here
 * may grow without a reason written next to the entry.
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

static void
sandbox_rlimit(int res, rlim_t v, const char *name)
{
	struct rlimit	 rl = { v, v };

	if (setrlimit(res, &rl) == -1)
		fatal("setrlimit %s", name);
}

/*
 * Which Landlock ABI the kernel offers: 0 when it has none (ENOSYS: not
 * built in; EOPNOTSUPP: built in but not enabled at boot). Any other
 * failure means a kernel with Landlock and something in the way, most
 * likely a system call filter around relayd: that is fatal, because
 * carrying on would silently drop a layer of the sandbox.
 */
int
sandbox_landlock_probe(void)
{
	int	 abi;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    RL_LANDLOCK_CREATE_RULESET_VERSION);
	if (abi >= 1)
		return abi;
	if (abi == -1 && (errno == ENOSYS || errno == EOPNOTSUPP))
		return 0;
	if (abi != -1)
		fatalx("landlock_create_ruleset returned ABI version %d", abi);
	fatal("the Landlock probe (landlock_create_ruleset) was refused, "
	    "not answered: a system call filter around relayd is the likely "
	    "cause (systemd: add landlock_create_ruleset landlock_add_rule "
	    "landlock_restrict_self to SystemCallFilter=, or a container's "
	    "seccomp profile); relayd does not run without the Landlock the "
	    "kernel has");
}

/*
 * One ruleset for every role: no worker opens a file, binds or connects,
 * so a ruleset with no rules (everything it handles is denied) fits all.
 * Exported for the unit tests, which check Landlock apart from seccomp.
 */
void
sandbox_landlock(void)
{
	struct rl_landlock_attr	 attr;
	size_t			 size;
	int			 abi, fd;

	/* no Landlock: the parent said so once; seccomp still applies */
	if ((abi = sandbox_landlock_probe()) == 0) {
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
	int		 err;	/* not 0: refused with this errno, no kill */
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
	    "OpenSSL's RNG checks for a fork (relayd's own random bytes come "
	    "from getrandom, not from it)" },
	{ SCMP_SYS(rt_sigprocmask),	R_ALL,	"libevent, exit paths" },
	{ SCMP_SYS(restart_syscall),	R_ALL,
	    "a sleep resumed after SIGSTOP and SIGCONT" },
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

/*
 * What the sanitizer runtime (ASan, UBSan, LeakSanitizer) calls on its
 * own in a sandboxed process: only in a build made with --enable-asan,
 * which defines RELAYD_SANITIZERS; a normal build has none of these. The
 * calls with an errno are refused without killing, so that a report
 * (which looks for a terminal and reads /proc/self/maps and the binary
 * to name frames) still gets out, unsymbolized: a worker of a sanitizer
 * build opens no more files than any other.
 */
#ifdef RELAYD_SANITIZERS
static const struct sc_rule sc_sanitizer_rules[] = {
	{ SCMP_SYS(sigaltstack),	R_ALL,
	    "ASan takes down its signal stack when the process exits" },
	{ SCMP_SYS(gettid),		R_ALL,
	    "ASan's thread registry, at exit and in reports" },
	{ SCMP_SYS(getpid),		R_FWD,
	    "ASan's reports (lease and conn have it already)" },
	{ SCMP_SYS(futex),		R_FWD,
	    "ASan's report lock (lease and conn have it already)" },
	{ SCMP_SYS(ioctl),		R_ALL,
	    "a report asks whether stderr is a terminal", ENOTTY },
	{ SCMP_SYS(open),		R_ALL,
	    "a report reads /proc/self/maps", EACCES },
	{ SCMP_SYS(openat),		R_ALL,
	    "a report opens the binary for its symbols", EACCES },
	{ SCMP_SYS(readlink),		R_ALL,
	    "UBSan's report reads /proc/self/exe", EACCES },
	{ SCMP_SYS(pipe2),		R_LEASE | R_CONN,
	    "UBSan's report tests memory through a pipe", EMFILE },
};
#define SC_SANITIZER_RULES	(sizeof(sc_sanitizer_rules) / \
	sizeof(sc_sanitizer_rules[0]))
#else
#define SC_SANITIZER_RULES	0
#endif

/*
 * For the SIGSYS handler of the debug mode, filled before the filter is
 * loaded: the handler may call nothing that allocates or locks, so it
 * finds the name of the call here and writes the line itself.
 */
#define SC_NAMES	512
#define SC_NAMELEN	32
static char	sc_names[SC_NAMES][SC_NAMELEN];
static char	sc_prefix[64];		/* "conn[1234]: sandbox: conn" */

/* Async-signal-safe string building for the handler: no stdio. */
static size_t
sig_append(char *buf, size_t off, size_t size, const char *s)
{
	while (*s != '\0' && off + 1 < size)
		buf[off++] = *s++;
	buf[off] = '\0';
	return off;
}

static size_t
sig_append_num(char *buf, size_t off, size_t size, long v)
{
	char		 digits[24];
	unsigned long	 u;
	size_t		 n = 0;

	if (v < 0) {
		off = sig_append(buf, off, size, "-");
		u = -(unsigned long)v;
	} else
		u = (unsigned long)v;
	do {
		digits[n++] = '0' + u % 10;
		u /= 10;
	} while (u != 0 && n < sizeof(digits));
	while (n > 0 && off + 1 < size)
		buf[off++] = digits[--n];
	buf[off] = '\0';
	return off;
}

static void
sandbox_sigsys(int sig, siginfo_t *info, void *vctx)
{
	ucontext_t	*ctx = vctx;
	char		 line[256];
	size_t		 off, done;
	ssize_t		 n;
	int		 nr = info->si_syscall, saved = errno;

	off = sig_append(line, 0, sizeof(line), sc_prefix);
	off = sig_append(line, off, sizeof(line),
	    " made the forbidden system call ");
	if (nr >= 0 && nr < SC_NAMES && sc_names[nr][0] != '\0')
		off = sig_append(line, off, sizeof(line), sc_names[nr]);
	else
		off = sig_append(line, off, sizeof(line), "?");
	off = sig_append(line, off, sizeof(line), " (");
	off = sig_append_num(line, off, sizeof(line), nr);
	off = sig_append(line, off, sizeof(line),
	    "): it fails with EPERM in debug mode\n");
	for (done = 0; done < off; done += n)
		if ((n = write(STDERR_FILENO, line + done, off - done)) <= 0) {
			if (n == -1 && errno == EINTR) {
				n = 0;
				continue;
			}
			break;
		}
#if defined(__x86_64__)
	ctx->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
	ctx->uc_mcontext.regs[0] = -EPERM;
#else
	(void)ctx;
#endif
	errno = saved;
}

/* Debug mode only, before the filter: what the handler will need. */
static void
sandbox_trap_setup(const char *role)
{
	struct sigaction sa;
	char		*name;
	size_t		 off;
	int		 nr;

	for (nr = 0; nr < SC_NAMES; nr++) {
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (name != NULL)
			strlcpy(sc_names[nr], name, sizeof(sc_names[nr]));
		free(name);
	}
	off = sig_append(sc_prefix, 0, sizeof(sc_prefix), role);
	off = sig_append(sc_prefix, off, sizeof(sc_prefix), "[");
	off = sig_append_num(sc_prefix, off, sizeof(sc_prefix),
	    (long)getpid());
	off = sig_append(sc_prefix, off, sizeof(sc_prefix), "]: sandbox: ");
	sig_append(sc_prefix, off, sizeof(sc_prefix), role);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		fatal("sigaction SIGSYS");
}

static void
sandbox_add_rules(scmp_filter_ctx sc, enum proc_role role,
    const struct sc_rule *rules, size_t n)
{
	size_t	 i;
	int	 r;

	for (i = 0; i < n; i++) {
		if (!(rules[i].roles & (1 << role)))
			continue;
		if ((r = seccomp_rule_add(sc, rules[i].err != 0 ?
		    SCMP_ACT_ERRNO(rules[i].err) : SCMP_ACT_ALLOW,
		    rules[i].nr, 0)) < 0)
			fatalx("seccomp_rule_add %d: %s", rules[i].nr,
			    strerror(-r));
	}
}

static void
sandbox_seccomp(enum proc_role role, int debug)
{
	scmp_filter_ctx	 sc;
	int		 r;

	sc = seccomp_init(debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (sc == NULL)
		fatalx("seccomp_init");
	sandbox_add_rules(sc, role, sc_rules,
	    sizeof(sc_rules) / sizeof(sc_rules[0]));
#ifdef RELAYD_SANITIZERS
	sandbox_add_rules(sc, role, sc_sanitizer_rules, SC_SANITIZER_RULES);
#endif
	/* conn: TCP_NODELAY on its listeners (or accepted ones), nothing else */
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
	/*
	 * A worker has no signal handler (it ignores the signals that
	 * reach it and stops over its channel): only the debug mode's
	 * SIGSYS handler returns.
	 */
	if (debug && seccomp_rule_add(sc, SCMP_ACT_ALLOW,
	    SCMP_SYS(rt_sigreturn), 0) < 0)
		fatalx("seccomp rt_sigreturn rule");
	if ((r = seccomp_load(sc)) < 0)
		fatalx("seccomp_load: %s", strerror(-r));
	seccomp_release(sc);
}

static int
sandbox_count_rules(enum proc_role role, const struct sc_rule *rules,
    size_t n)
{
	size_t	 i;
	int	 count = 0;

	for (i = 0; i < n; i++)
		if ((rules[i].roles & (1 << role)) && rules[i].err == 0)
			count++;
	return count;
}

/*
 * The number of calls a role may make (for tests and relayd(8); not the
 * debug mode's rt_sigreturn), the
 * sanitizer runtime's included in a sanitizer build (not the calls it
 * refuses with an errno).
 */
int
sandbox_count(enum proc_role role)
{
	int	 n = 2;		/* mmap, mprotect (filtered) */

	if (role == ROLE_FWD)
		n++;		/* fcntl, F_SETPIPE_SZ only */
	if (role == ROLE_CONN)
		n++;		/* setsockopt, TCP_NODELAY only */
	n += sandbox_count_rules(role, sc_rules,
	    sizeof(sc_rules) / sizeof(sc_rules[0]));
#ifdef RELAYD_SANITIZERS
	n += sandbox_count_rules(role, sc_sanitizer_rules, SC_SANITIZER_RULES);
#endif
	return n;
}

static const char *sandbox_role_names[] = { "parent", "lease", "conn", "fwd" };

static void
sandbox_enter(enum proc_role role, int debug, int filter)
{
	uint8_t		 seed;

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
	if (!filter)
		return;
	if (debug)
		sandbox_trap_setup(sandbox_role_names[role]);
	sandbox_seccomp(role, debug);
	if (debug)
		log_info("sandbox debug: forbidden calls are logged, not fatal");
}

void
sandbox_apply(enum proc_role role, int debug)
{
	sandbox_enter(role, debug, 1);
}

/*
 * For the unit tests only (relayd never calls it): the whole sandbox of
 * a role but the seccomp filter, so that what Landlock refuses can be
 * told apart from what seccomp would.
 */
void
sandbox_apply_unfiltered(enum proc_role role)
{
	sandbox_enter(role, 0, 0);
}
