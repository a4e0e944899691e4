/* SPDX-License-Identifier: ISC */
/*
 * test_sandbox.c: each worker role's sandbox, applied in a forked child.
 * A child that then makes a call its role must not make (open a file,
 * execve, fork, socket, connect, ptrace, and for fwd accept) must die by
 * SIGSYS; a child that makes only allowed calls must exit cleanly; and
 * Landlock alone must refuse to open a file. Each check would fail
 * without the sandbox: the same calls succeed in the unsandboxed parent.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relayd.h"

enum probe {
	P_OPEN, P_EXEC, P_FORK, P_SOCKET, P_CONNECT, P_PTRACE, P_ACCEPT,
	P_MMAP_EXEC, P_ALLOWED
};
static const char *probe_names[] = {
	"open", "execve", "fork", "socket", "connect", "ptrace", "accept",
	"mmap PROT_EXEC", "allowed calls"
};

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
	ck_assert_int_eq(listen(lfd, 1), 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(cfd, 0);
}

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
		open("/etc/passwd", O_RDONLY);
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

/* Fork, sandbox the child as role, probe; returns the wait status. */
static int
sandboxed(enum proc_role role, enum probe p, int allowed_only)
{
	pid_t	 pid;
	int	 status;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		log_init(LOG_TO_STDERR, 0, 0);
		sandbox_apply(role, 0);
		run_probe(p);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	(void)allowed_only;
	return status;
}

static const enum proc_role roles[] = { ROLE_LEASE, ROLE_CONN, ROLE_FWD };
static const char *role_str[] = { "parent", "lease", "conn", "fwd" };

START_TEST(test_forbidden)
{
	static const enum probe	 probes[] = { P_OPEN, P_EXEC, P_FORK,
	    P_SOCKET, P_CONNECT, P_PTRACE, P_MMAP_EXEC };
	enum proc_role		 role = roles[_i];
	size_t			 k;
	int			 st;

	make_sockets();
	for (k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
		st = sandboxed(role, probes[k], 0);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
		    "%s: %s was not killed by SIGSYS (status 0x%x)",
		    role_str[role], probe_names[probes[k]], st);
	}
	close(lfd);
	close(cfd);
}
END_TEST

START_TEST(test_fwd_no_accept)
{
	int	 st;

	make_sockets();
	st = sandboxed(ROLE_FWD, P_ACCEPT, 0);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
	    "fwd: accept was not killed (status 0x%x)", st);
	/* conn accepts: the same call is allowed there */
	st = sandboxed(ROLE_CONN, P_ACCEPT, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "conn: accept was refused (status 0x%x)", st);
	close(lfd);
	close(cfd);
}
END_TEST

START_TEST(test_allowed)
{
	enum proc_role	 role = roles[_i];
	int		 st;

	st = sandboxed(role, P_ALLOWED, 1);
	/* socketpair is forbidden too: that kills, so status is SIGSYS */
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
	    "%s: socketpair after ordinary work: status 0x%x", role_str[role],
	    st);
}
END_TEST

/* Allowed work alone exits 0: the sandbox does not break a worker's day. */
START_TEST(test_allowed_clean)
{
	enum proc_role	 role = roles[_i];
	pid_t		 pid;
	char		*mem;
	int		 st, i, fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		log_init(LOG_TO_STDERR, 0, 0);
		sandbox_apply(role, 0);
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
	waitpid(pid, &st, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "%s: allowed calls failed (status 0x%x)", role_str[role], st);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(test_landlock_alone)
{
	pid_t	 pid;
	int	 st, fd;

	/* the unsandboxed process can open the file... */
	fd = open("/etc/passwd", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	close(fd);
	if ((pid = fork()) == 0) {
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		sandbox_landlock();
		if (sandbox_landlock_abi < 1)
			_exit(77);
		fd = open("/etc/passwd", O_RDONLY);
		_exit(fd == -1 && errno == EACCES ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	ck_assert_msg(WIFEXITED(st), "landlock child died: 0x%x", st);
	if (WEXITSTATUS(st) == 77) {
		/* not a pass: this kernel has no Landlock to test */
		fprintf(stderr, "Landlock is not available on this kernel\n");
		ck_abort_msg("Landlock unavailable: cannot test it here");
	}
	ck_assert_msg(WEXITSTATUS(st) == 0,
	    "...but not under Landlock (exit %d)", WEXITSTATUS(st));
}
END_TEST

START_TEST(test_counts)
{
	/* fwd's list is the smallest, and each role has one */
	ck_assert_int_gt(sandbox_count(ROLE_FWD), 10);
	ck_assert_int_lt(sandbox_count(ROLE_FWD), sandbox_count(ROLE_CONN));
	ck_assert_int_lt(sandbox_count(ROLE_FWD), sandbox_count(ROLE_LEASE));
	printf("allowlist sizes: lease %d, conn %d, fwd %d\n",
	    sandbox_count(ROLE_LEASE), sandbox_count(ROLE_CONN),
	    sandbox_count(ROLE_FWD));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sandbox");
	TCase	*tc = tcase_create("roles");
	SRunner	*sr;
	int	 failed;

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_forbidden, 0, 3);
	tcase_add_test(tc, test_fwd_no_accept);
	tcase_add_loop_test(tc, test_allowed, 0, 3);
	tcase_add_loop_test(tc, test_allowed_clean, 0, 3);
	tcase_add_test(tc, test_landlock_alone);
	tcase_add_test(tc, test_counts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
