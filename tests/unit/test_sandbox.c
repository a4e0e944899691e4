/* SPDX-License-Identifier: ISC */
/*
 * test_sandbox.c: each worker role's sandbox, applied in a forked child.
 * A child that then makes a call its role must not make (open a file,
 * execve, fork, socket, connect, ptrace, and for fwd accept) must die by
 * SIGSYS; a child that makes only allowed calls must exit cleanly; with
 * the seccomp filter left out, Landlock alone must refuse each role's
 * forbidden file, TCP, abstract socket and signal operations; the debug
 * mode's SIGSYS handler must report a call without allocating; the
 * Landlock probe must tell "no Landlock" from "Landlock refused". Each
 * check would fail without the sandbox: the same calls succeed in the
 * child before it is sandboxed. Every wait on a child is bounded.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "relayd.h"
#include "unit.h"

/* How long a sandboxed child may take; it never takes long. */
#define CHILD_WAIT_SEC	30

/*
 * Allocation counter for the debug handler's test: the handler must not
 * allocate. A normal build interposes malloc (glibc's own stays behind
 * it); ASan has its own allocator, with a hook for this.
 */
static volatile sig_atomic_t	 counting;
static volatile long		 nallocs;

#ifdef __SANITIZE_ADDRESS__
int	__sanitizer_install_malloc_and_free_hooks(
	    void (*)(const volatile void *, size_t),
	    void (*)(const volatile void *));

static void
count_malloc(const volatile void *p, size_t n)
{
	if (counting)
		nallocs++;
}

static void
count_free(const volatile void *p)
{
}

static void
alloc_counter_init(void)
{
	__sanitizer_install_malloc_and_free_hooks(count_malloc, count_free);
}
#else
void	*__libc_malloc(size_t);
void	*__libc_calloc(size_t, size_t);
void	*__libc_realloc(void *, size_t);

void *
malloc(size_t n)
{
	if (counting)
		nallocs++;
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	if (counting)
		nallocs++;
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
	if (counting)
		nallocs++;
	return __libc_realloc(p, n);
}

static void
alloc_counter_init(void)
{
}
#endif

enum probe {
	P_OPEN, P_EXEC, P_FORK, P_SOCKET, P_CONNECT, P_PTRACE, P_ACCEPT,
	P_MMAP_EXEC, P_ALLOWED
};
static const char *probe_names[] = {
	"open", "execve", "fork", "socket", "connect", "ptrace", "accept",
	"mmap PROT_EXEC", "allowed calls"
};

static const enum proc_role roles[] = { ROLE_LEASE, ROLE_CONN, ROLE_FWD };
static const char *role_str[] = { "parent", "lease", "conn", "fwd" };

static int	 lfd = -1;	/* a listening socket made before the sandbox */
static int	 cfd = -1;	/* an unconnected socket made before it */

static void
make_sockets(void)
{
	struct sockaddr_in	 sin;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(cfd, 0);
}

/* ---- children: fork, capture stderr, wait a bounded time ---- */

struct child_run {
	int	 status;	/* wait status */
	int	 timed_out;	/* killed after CHILD_WAIT_SEC */
	char	 out[16384];	/* what it wrote on stderr */
	size_t	 outlen;
};

typedef void (*child_fn)(enum proc_role, int, void *);

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs fn(role, mode, arg) in a child whose stderr is cr->out. */
static void
run_child(struct child_run *cr, child_fn fn, enum proc_role role, int mode,
    void *arg)
{
	struct pollfd	 pfd;
	double		 deadline;
	ssize_t		 n;
	pid_t		 pid;
	int		 p[2];
	char		 discard[512];

	memset(cr, 0, sizeof(*cr));
	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		close(p[0]);
		if (dup2(p[1], STDERR_FILENO) == -1)
			_exit(120);
		close(p[1]);
		log_init(LOG_TO_STDERR, 0, 0);
		fn(role, mode, arg);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	close(p[1]);
	deadline = now() + CHILD_WAIT_SEC;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		if (now() > deadline) {
			kill(pid, SIGKILL);
			cr->timed_out = 1;
			break;
		}
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (cr->outlen < sizeof(cr->out) - 1)
			n = read(p[0], cr->out + cr->outlen,
			    sizeof(cr->out) - 1 - cr->outlen);
		else
			n = read(p[0], discard, sizeof(discard));
		if (n == 0 || (n == -1 && errno != EINTR))
			break;
		if (n > 0 && cr->outlen < sizeof(cr->out) - 1)
			cr->outlen += n;
	}
	cr->out[cr->outlen] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &cr->status, 0), pid);
}

static int
killed_by_sigsys(const struct child_run *cr)
{
	return !cr->timed_out && WIFSIGNALED(cr->status) &&
	    WTERMSIG(cr->status) == SIGSYS;
}

static int
exited(const struct child_run *cr, int code)
{
	return !cr->timed_out && WIFEXITED(cr->status) &&
	    WEXITSTATUS(cr->status) == code;
}

/* ---- the seccomp allowlists ---- */

/* In the child, after the sandbox: one probe, then exit 0 if it "worked". */
static void
run_probe(enum probe p)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	char			*mem;
	int			 fds[2], i;

	switch (p) {
	case P_OPEN:
		/* a sanitizer build refuses it with EACCES instead (5) */
		if (open("/etc/passwd", O_RDONLY) == -1 && errno == EACCES)
			_exit(5);
		break;
	case P_EXEC:
		execl("/bin/true", "true", (char *)NULL);
		break;
	case P_FORK:
		if (fork() == 0)
			_exit(0);
		break;
	case P_SOCKET:
		socket(AF_INET, SOCK_STREAM, 0);
		break;
	case P_CONNECT:
		getsockname(lfd, (struct sockaddr *)&sin, &len);
		connect(cfd, (struct sockaddr *)&sin, sizeof(sin));
		break;
	case P_PTRACE:
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		break;
	case P_ACCEPT:
		accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		break;
	case P_MMAP_EXEC:
		mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		break;
	case P_ALLOWED:
		/* what every worker does all day */
		for (i = 0; i < 64; i++) {
			if ((mem = malloc(1 << 20)) == NULL)
				_exit(3);
			memset(mem, 1, 1 << 20);
			free(mem);
		}
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0)
			_exit(4);	/* socketpair must be refused... */
		_exit(0);
	}
	_exit(0);
}

/* mode: 0 the real sandbox, 1 the debug mode (which call, instead) */
static void
child_probe(enum proc_role role, int mode, void *arg)
{
	sandbox_apply(role, mode);
	run_probe(*(enum probe *)arg);
}

/* For a failure message: the calls the debug mode reports, if any. */
static const char *
which_calls(enum proc_role role, enum probe p)
{
	static struct child_run	 cr;
	char			*s;

	run_child(&cr, child_probe, role, 1, &p);
	if ((s = strstr(cr.out, "forbidden system call")) == NULL)
		return "(none reported in debug mode)";
	return s;
}

START_TEST(test_forbidden)
{
	static const enum probe	 probes[] = { P_OPEN, P_EXEC, P_FORK,
	    P_SOCKET, P_CONNECT, P_PTRACE, P_MMAP_EXEC };
	struct child_run	 cr;
	enum proc_role		 role = roles[_i];
	enum probe		 p;
	size_t			 k;

	make_sockets();
	for (k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
		p = probes[k];
		run_child(&cr, child_probe, role, 0, &p);
#ifdef RELAYD_SANITIZERS
		if (p == P_OPEN) {
			ck_assert_msg(exited(&cr, 5), "%s: open was not "
			    "refused with EACCES (status 0x%x)",
			    role_str[role], cr.status);
			continue;
		}
#endif
		ck_assert_msg(killed_by_sigsys(&cr),
		    "%s: %s was not killed by SIGSYS (status 0x%x)",
		    role_str[role], probe_names[p], cr.status);
	}
	close(lfd);
	close(cfd);
}
END_TEST

START_TEST(test_fwd_no_accept)
{
	struct child_run	 cr;
	enum probe		 p = P_ACCEPT;

	make_sockets();
	run_child(&cr, child_probe, ROLE_FWD, 0, &p);
	ck_assert_msg(killed_by_sigsys(&cr),
	    "fwd: accept was not killed (status 0x%x)", cr.status);
	/* conn accepts: the same call is allowed there */
	run_child(&cr, child_probe, ROLE_CONN, 0, &p);
	ck_assert_msg(exited(&cr, 0), "conn: accept was refused (status "
	    "0x%x): %s", cr.status, which_calls(ROLE_CONN, p));
	close(lfd);
	close(cfd);
}
END_TEST

START_TEST(test_allowed)
{
	struct child_run	 cr;
	enum proc_role		 role = roles[_i];
	enum probe		 p = P_ALLOWED;

	run_child(&cr, child_probe, role, 0, &p);
	/* socketpair is forbidden too: that kills, so status is SIGSYS */
	ck_assert_msg(killed_by_sigsys(&cr),
	    "%s: socketpair after ordinary work: status 0x%x", role_str[role],
	    cr.status);
}
END_TEST

/* Allowed work alone exits 0: the sandbox does not break a worker's day. */
static void
child_allowed_work(enum proc_role role, int mode, void *arg)
{
	int	*fds = arg;
	char	*mem;
	int	 i;

	sandbox_apply(role, mode);
	for (i = 0; i < 64; i++) {
		if ((mem = malloc(1 << 20)) == NULL)
			_exit(3);
		memset(mem, 1, 1 << 20);
		free(mem);
	}
	if (write(fds[1], "x", 1) != 1)
		_exit(4);
	close(fds[1]);
	_exit(0);
}

START_TEST(test_allowed_clean)
{
	static struct child_run	 dbg;
	struct child_run	 cr;
	enum proc_role		 role = roles[_i];
	int			 fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	run_child(&cr, child_allowed_work, role, 0, fds);
	if (!exited(&cr, 0))
		/* which call was it? the debug mode says */
		run_child(&dbg, child_allowed_work, role, 1, fds);
	ck_assert_msg(exited(&cr, 0),
	    "%s: allowed calls failed (status 0x%x); debug mode: %s",
	    role_str[role], cr.status, dbg.out);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(test_counts)
{
	/*
	 * Exact: a new entry is a decision, made here and in relayd(8).
	 * A sanitizer build allows sigaltstack and gettid in every role,
	 * and getpid and futex in fwd too.
	 */
#ifdef RELAYD_SANITIZERS
	const int	 extra = 2, extra_fwd = 4;
#else
	const int	 extra = 0, extra_fwd = 0;
#endif
	printf("allowlist sizes: lease %d, conn %d, fwd %d\n",
	    sandbox_count(ROLE_LEASE), sandbox_count(ROLE_CONN),
	    sandbox_count(ROLE_FWD));
	ck_assert_int_eq(sandbox_count(ROLE_LEASE), 25 + extra);
	ck_assert_int_eq(sandbox_count(ROLE_CONN), 26 + extra);
	ck_assert_int_eq(sandbox_count(ROLE_FWD), 24 + extra_fwd);
}
END_TEST

/* ---- the debug mode's SIGSYS handler ---- */

/*
 * Two forbidden calls in debug mode: each must fail with EPERM, be
 * reported on stderr, and the handler must not allocate (malloc there
 * can deadlock or corrupt the heap when the call interrupted malloc).
 */
static void
child_trap(enum proc_role role, int mode, void *arg)
{
	long	 n;
	int	 r1, e1, r2, e2;

	alloc_counter_init();
	sandbox_apply(role, 1);
	nallocs = 0;
	counting = 1;
	r1 = socket(AF_INET, SOCK_STREAM, 0);
	e1 = errno;
	r2 = mkdir("/nonexistent-sbxrl", 0700);
	e2 = errno;
	counting = 0;
	n = nallocs;
	if (r1 != -1 || e1 != EPERM || r2 != -1 || e2 != EPERM)
		_exit(2);
	_exit(n == 0 ? 0 : 3);
}

START_TEST(test_debug_handler)
{
	struct child_run	 cr;
	enum proc_role		 role = roles[_i];
	char			 want[128];

	run_child(&cr, child_trap, role, 1, NULL);
	ck_assert_msg(!cr.timed_out, "%s: the trapped call never returned",
	    role_str[role]);
	ck_assert_msg(!exited(&cr, 3), "%s: the SIGSYS handler allocated "
	    "memory", role_str[role]);
	ck_assert_msg(exited(&cr, 0), "%s: trapped calls did not fail with "
	    "EPERM (status 0x%x): %s", role_str[role], cr.status, cr.out);
	snprintf(want, sizeof(want), "]: sandbox: %s made the forbidden "
	    "system call socket (%d): it fails with EPERM in debug mode\n",
	    role_str[role], SCMP_SYS(socket));
	ck_assert_msg(strstr(cr.out, want) != NULL, "%s: no line \"%s\" in "
	    "\"%s\"", role_str[role], want, cr.out);
	snprintf(want, sizeof(want), "made the forbidden system call "
	    "mkdir (%d)", SCMP_SYS(mkdir));
	ck_assert_msg(strstr(cr.out, want) != NULL, "%s: no line \"%s\" in "
	    "\"%s\"", role_str[role], want, cr.out);
}
END_TEST

#ifdef RELAYD_SANITIZERS
/* ---- a sanitizer build: reports get out of a sandboxed worker ---- */

static void
child_sanitizer_error(enum proc_role role, int mode, void *arg)
{
	char *volatile	 hidden;	/* its size unknown to the compiler */
	volatile char	*p;
	volatile size_t	 past = 16;
	volatile int	 x = 0x7fffffff;

	sandbox_apply(role, 0);
	p = hidden = malloc(16);
	if (mode == 0)
		((volatile char *)hidden)[past] = 1;	/* ASan */
	else if (mode == 1)
		x = x + (int)role;		/* UBSan: signed overflow */
	else
		p[past] = 1;			/* UBSan: past the object */
	free(hidden);
	_exit(x == 0 ? 3 : 2);
}

START_TEST(test_sanitizer_reports)
{
	struct child_run	 cr;
	enum proc_role		 role = roles[_i];

	/* ASan and UBSan report and exit 1: not SIGSYS, not silence */
	run_child(&cr, child_sanitizer_error, role, 0, NULL);
	ck_assert_msg(exited(&cr, 1) && strstr(cr.out, "ERROR: "
	    "AddressSanitizer: heap-buffer-overflow") != NULL,
	    "%s: ASan's report (status 0x%x): %s", role_str[role], cr.status,
	    cr.out);
	run_child(&cr, child_sanitizer_error, role, 1, NULL);
	ck_assert_msg(exited(&cr, 1) && strstr(cr.out, "runtime error: "
	    "signed integer overflow") != NULL,
	    "%s: UBSan's report (status 0x%x): %s", role_str[role], cr.status,
	    cr.out);
	/* this report also shows the memory around the address */
	run_child(&cr, child_sanitizer_error, role, 2, NULL);
	ck_assert_msg(exited(&cr, 1) && strstr(cr.out, "runtime error: "
	    "store to address") != NULL,
	    "%s: UBSan's report (status 0x%x): %s", role_str[role], cr.status,
	    cr.out);
}
END_TEST
#endif

/* ---- Landlock, with the seccomp filter left out ---- */

struct ll_ctx {
	char	 dir[64];	/* a directory made before the sandbox */
	int	 failed;
	int	 abi;
};

static void
ll_report(struct ll_ctx *c, enum proc_role role, const char *op,
    int need_abi, int r, int want)
{
	if (c->abi < need_abi) {
		dprintf(STDERR_FILENO, "landlock %s: %s: not handled by ABI "
		    "%d (needs %d): not proven here\n", role_str[role], op,
		    c->abi, need_abi);
		return;
	}
	if (r == -1 && errno == want) {
		dprintf(STDERR_FILENO, "landlock %s: %s: refused (%s)\n",
		    role_str[role], op, strerrorname_np(want));
		return;
	}
	c->failed++;
	dprintf(STDERR_FILENO, "landlock %s: %s: NOT REFUSED (r=%d, %s)\n",
	    role_str[role], op, r, r == -1 ? strerror(errno) : "success");
}

static void
ll_path(char *buf, size_t size, const struct ll_ctx *c, const char *name,
    int k)
{
	snprintf(buf, size, "%s/%s%d", c->dir, name, k);
}

/* Open and close path: 0 if it opened, else -1 and open()'s errno. */
static int
ll_open(const char *path, int flags)
{
	int	 fd;

	if ((fd = open(path, flags, 0600)) == -1)
		return -1;
	close(fd);
	return 0;
}

/* Close the socket fd and give back r with the errno r left. */
static int
ll_sock_done(int fd, int r)
{
	int	 saved = errno;

	close(fd);
	errno = saved;
	return r;
}

/* Each operation: k 0 before the sandbox (must work), k 1 after. */
static int
ll_op(const struct ll_ctx *c, int op, int k)
{
	struct sockaddr_in	 sin;
	struct sockaddr_un	 sun;
	socklen_t		 len;
	char			 p[128], q[128];
	int			 fd, r;

	switch (op) {
	case 0:		/* read a file */
		return ll_open("/etc/passwd", O_RDONLY);
	case 1:		/* write a file */
		ll_path(p, sizeof(p), c, "f", 0);
		return ll_open(p, O_WRONLY);
	case 2:		/* list a directory */
		return ll_open(c->dir, O_RDONLY | O_DIRECTORY);
	case 3:		/* create a file */
		ll_path(p, sizeof(p), c, "new", k);
		return ll_open(p, O_WRONLY | O_CREAT | O_EXCL);
	case 4:		/* make a directory */
		ll_path(p, sizeof(p), c, "dir", k);
		return mkdir(p, 0700);
	case 5:		/* remove a file */
		ll_path(p, sizeof(p), c, "rm", k);
		return unlink(p);
	case 6:		/* make a symbolic link */
		ll_path(p, sizeof(p), c, "sym", k);
		return symlink("/etc/passwd", p);
	case 7:		/* hard-link a file */
		ll_path(p, sizeof(p), c, "f", 0);
		ll_path(q, sizeof(q), c, "ln", k);
		return link(p, q);
	case 8:		/* truncate a file (ABI 3) */
		ll_path(p, sizeof(p), c, "f", 0);
		return truncate(p, 0);
	case 9:		/* TCP connect (ABI 4) */
	case 10:	/* TCP bind (ABI 4) */
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			return -1;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (op == 9) {
			len = sizeof(sin);
			getsockname(lfd, (struct sockaddr *)&sin, &len);
			r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		} else
			r = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
		return ll_sock_done(fd, r);
	case 11:	/* connect to an abstract unix socket (ABI 6) */
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			return -1;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
		    "sbxrl-ll-%ld", (long)getppid());
		r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
		return ll_sock_done(fd, r);
	case 12:	/* signal a process outside the domain (ABI 6) */
		return kill(getppid(), 0);
	}
	return -1;
}

static const struct {
	const char	*name;
	int		 abi;
	int		 err;
} ll_ops[] = {
	{ "read /etc/passwd",			1, EACCES },
	{ "open a file for writing",		1, EACCES },
	{ "list a directory",			1, EACCES },
	{ "create a file",			1, EACCES },
	{ "make a directory",			1, EACCES },
	{ "remove a file",			1, EACCES },
	{ "make a symbolic link",		1, EACCES },
	{ "hard-link a file",			1, EACCES },
	{ "truncate a file",			3, EACCES },
	{ "TCP connect to 127.0.0.1",		4, EACCES },
	{ "TCP bind to 127.0.0.1",		4, EACCES },
	{ "connect to an abstract unix socket",	6, EPERM },
	{ "signal a process outside",		6, EPERM },
};
#define LL_NOPS	(int)(sizeof(ll_ops) / sizeof(ll_ops[0]))

static void
child_landlock(enum proc_role role, int mode, void *arg)
{
	struct ll_ctx	*c = arg;
	pid_t		 pid;
	int		 op, r, st;

	for (op = 0; op < LL_NOPS; op++)
		if (ll_op(c, op, 0) == -1) {
			dprintf(STDERR_FILENO, "landlock %s: %s fails even "
			    "before the sandbox: %s\n", role_str[role],
			    ll_ops[op].name, strerror(errno));
			_exit(2);
		}
	if ((pid = fork()) == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(2);
	}
	if (pid == -1 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		dprintf(STDERR_FILENO, "landlock %s: /bin/true fails even "
		    "before the sandbox\n", role_str[role]);
		_exit(2);
	}
	sandbox_apply_unfiltered(role);
	c->abi = sandbox_landlock_abi;
	if (c->abi < 1) {
		dprintf(STDERR_FILENO, "landlock: the kernel has none\n");
		_exit(77);
	}
	dprintf(STDERR_FILENO, "landlock %s: ABI %d, no seccomp filter\n",
	    role_str[role], c->abi);
	for (op = 0; op < LL_NOPS; op++) {
		r = ll_op(c, op, 1);
		ll_report(c, role, ll_ops[op].name, ll_ops[op].abi, r,
		    ll_ops[op].err);
	}
	/* last: if this worked, the child is /bin/true and says nothing */
	r = execl("/bin/true", "true", (char *)NULL);
	ll_report(c, role, "execute /bin/true", 1, r, EACCES);
	dprintf(STDERR_FILENO, "landlock %s: done, %d not refused\n",
	    role_str[role], c->failed);
	_exit(c->failed == 0 ? 0 : 1);
}

START_TEST(test_landlock_role)
{
	struct sockaddr_un	 sun;
	struct child_run	 cr;
	struct ll_ctx		 c;
	enum proc_role		 role = roles[_i];
	char			 p[128];
	int			 ufd, fd, i;
	static const char	*files[] = { "f0", "rm1", "rm0" };

	memset(&c, 0, sizeof(c));
	strlcpy(c.dir, "/tmp/sbxrl-ll.XXXXXX", sizeof(c.dir));
	ck_assert_ptr_nonnull(mkdtemp(c.dir));
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", c.dir, files[i]);
		fd = open(p, O_WRONLY | O_CREAT, 0600);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	make_sockets();
	ufd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "sbxrl-ll-%ld",
	    (long)getpid());
	ck_assert_int_eq(bind(ufd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(ufd, 16), 0);

	run_child(&cr, child_landlock, role, 0, &c);
	fputs(cr.out, stdout);
	if (exited(&cr, 77))
		/* not a pass: this kernel has no Landlock to test */
		ck_abort_msg("Landlock unavailable: cannot test it here");
	ck_assert_msg(exited(&cr, 0), "%s: Landlock let something through "
	    "(status 0x%x):\n%s", role_str[role], cr.status, cr.out);
	snprintf(p, sizeof(p), "landlock %s: done, 0 not refused\n",
	    role_str[role]);
	ck_assert_msg(strstr(cr.out, p) != NULL, "%s: the child did not "
	    "finish its checks: %s", role_str[role], cr.out);

	close(ufd);
	close(lfd);
	close(cfd);
	snprintf(p, sizeof(p), "rm -rf '%s'", c.dir);
	ck_assert_int_eq(system(p), 0);
}
END_TEST

/* ---- the Landlock probe ---- */

/* mode: the errno a filter gives landlock_create_ruleset, 0 for none */
static void
child_probe_landlock(enum proc_role role, int mode, void *arg)
{
	scmp_filter_ctx	 sc;
	int		 abi;

	if (mode != 0) {
		if ((sc = seccomp_init(SCMP_ACT_ALLOW)) == NULL ||
		    seccomp_rule_add(sc, SCMP_ACT_ERRNO(mode),
		    SCMP_SYS(landlock_create_ruleset), 0) < 0 ||
		    seccomp_load(sc) < 0)
			_exit(120);
		seccomp_release(sc);
	}
	if (arg != NULL) {
		/* the worker's own path: sandbox_landlock() */
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		sandbox_landlock();
		abi = sandbox_landlock_abi;
		dprintf(STDERR_FILENO, "landlock: ABI %d\n", abi);
	} else {
		abi = sandbox_landlock_probe();
		dprintf(STDERR_FILENO, "probe: ABI %d\n", abi);
	}
	_exit(abi >= 0 && abi < 100 ? abi : 101);
}

/*
 * The probe's child under a filter that gives landlock_create_ruleset the
 * errno err (0: no filter), through the probe alone or, with wpath, the
 * worker's own path: it must exit with the status want.
 */
static void
expect_probe(struct child_run *cr, int err, int wpath, int want)
{
	run_child(cr, child_probe_landlock, ROLE_LEASE, err,
	    wpath ? cr : NULL);
	ck_assert_msg(exited(cr, want), "%s: want %d, status 0x%x: %s",
	    err != 0 ? strerrorname_np(err) : "no filter", want, cr->status,
	    cr->out);
}

START_TEST(test_landlock_probe_absent)
{
	struct child_run	 cr;
	int			 wpath;

	/* ENOSYS (not built in), EOPNOTSUPP (off at boot): no Landlock */
	for (wpath = 0; wpath < 2; wpath++) {
		expect_probe(&cr, ENOSYS, wpath, 0);
		expect_probe(&cr, EOPNOTSUPP, wpath, 0);
		if (wpath)
			ck_assert_msg(strstr(cr.out, "landlock: ABI 0\n") !=
			    NULL, "wpath: %s", cr.out);
	}
}
END_TEST

START_TEST(test_landlock_probe_refused)
{
	struct child_run	 cr;
	int			 wpath;

	/* EPERM (e.g. SystemCallFilter= without landlock_*): fatal */
	for (wpath = 0; wpath < 2; wpath++) {
		expect_probe(&cr, EPERM, wpath, 1);
		ck_assert_msg(strstr(cr.out, "SystemCallFilter=") != NULL &&
		    strstr(cr.out, "Operation not permitted") != NULL,
		    "EPERM: the error does not name the cause: %s", cr.out);
		ck_assert_msg(strstr(cr.out, "ABI") == NULL,
		    "EPERM: the probe returned: %s", cr.out);
	}
	/* any other error is just as fatal */
	expect_probe(&cr, EINVAL, 0, 1);
}
END_TEST

START_TEST(test_landlock_probe_kernel)
{
	struct child_run	 cr;
	int			 abi, saved;

	/* unfiltered, the probe says what the kernel says */
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U);
	saved = errno;
	if (abi < 0)
		abi = 0;
	expect_probe(&cr, 0, 0, abi);
	printf("Landlock ABI of this kernel: %d (%s)\n", abi,
	    abi > 0 ? "available" : strerrorname_np(saved));
}
END_TEST

#ifdef RELAYD_SANITIZERS
#define SANITIZER_TESTS	{ test_sanitizer_reports, 3 }
#else
#define SANITIZER_TESTS	{ NULL }
#endif

/*
 * Three cases, so that a kernel without Landlock (tests/vm/landlock.sh
 * boots one) can run the probe's alone: CK_RUN_CASE=probe.
 */
UNIT_MAIN("sandbox",
	{ "seccomp", { { test_forbidden, 3 }, { test_fwd_no_accept },
	    { test_allowed, 3 }, { test_allowed_clean, 3 },
	    { test_debug_handler, 3 }, { test_counts }, SANITIZER_TESTS },
	    .timeout = 120 },
	{ "landlock", { { test_landlock_role, 3 } }, .timeout = 120 },
	{ "probe", { { test_landlock_probe_absent },
	    { test_landlock_probe_refused },
	    { test_landlock_probe_kernel } }, .timeout = 120 });
