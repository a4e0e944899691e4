/* SPDX-License-Identifier: ISC */
/*
 * activate.c: the listening sockets systemd passes to the parent (socket
 * activation, the protocol of sd_listen_fds(3) written out): $LISTEN_PID
 * names this process and $LISTEN_FDS counts the descriptors from 3 on.
 * Each must be a listening TCP socket, IPv4 or IPv6: anything else is an
 * error, never silently skipped. The variables are removed, so the
 * workers, which inherit the parent's environment, see none of them.
 *
 * relayd.service runs in a private network namespace and sets
 * RELAYD_SOCKETS=systemd: without the sockets of relayd.socket it would
 * listen where no client can reach it, so no sockets is an error then.
 * This file only inspects descriptors it was given: it opens, binds and
 * closes nothing.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relayd.h"

#define LISTEN_FDS_START	3	/* SD_LISTEN_FDS_START */

static void
activate_unsetenv(void)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	unsetenv("RELAYD_SOCKETS");
}

/* A listening TCP socket: its label ("192.0.2.1:7420", "[::]:7420"). */
static int
activate_check(int fd, char *label, size_t labellen, char *err,
    size_t errlen)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	char			 host[INET6_ADDRSTRLEN];
	int			 val, flags;

	len = sizeof(val);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &val, &len) == -1) {
		snprintf(err, errlen, "descriptor %d from systemd: %s", fd,
		    errno == ENOTSOCK ? "not a socket" : strerror(errno));
		return -1;
	}
	if (val != SOCK_STREAM) {
		snprintf(err, errlen, "descriptor %d from systemd is not a "
		    "stream socket (ListenStream= in relayd.socket)", fd);
		return -1;
	}
	len = sizeof(val);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) == -1 ||
	    val != 1) {
		snprintf(err, errlen, "descriptor %d from systemd is not a "
		    "listening socket (Accept=no in relayd.socket)", fd);
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		snprintf(err, errlen, "descriptor %d from systemd: "
		    "getsockname: %s", fd, strerror(errno));
		return -1;
	}
	if (ss.ss_family == AF_INET && len >= sizeof(*sin) &&
	    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) != NULL)
		snprintf(label, labellen, "%s:%u", host,
		    (unsigned)ntohs(sin->sin_port));
	else if (ss.ss_family == AF_INET6 && len >= sizeof(*sin6) &&
	    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)) != NULL)
		snprintf(label, labellen, "[%s]:%u", host,
		    (unsigned)ntohs(sin6->sin6_port));
	else {
		snprintf(err, errlen, "descriptor %d from systemd is not an "
		    "IPv4 or IPv6 socket", fd);
		return -1;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		snprintf(err, errlen, "descriptor %d from systemd: fcntl: %s",
		    fd, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Returns how many listeners systemd passed (their descriptors in fds,
 * their labels in labels), 0 when relayd was not socket-activated, -1
 * with a message in err when the descriptors or the variables are wrong
 * or the unit wanted sockets and got none.
 */
int
activate_listeners(int *fds, char labels[][64], int max, char *err,
    size_t errlen)
{
	const char	*pid_s = getenv("LISTEN_PID");
	const char	*fds_s = getenv("LISTEN_FDS");
	const char	*want = getenv("RELAYD_SOCKETS");
	const char	*errstr;
	long long	 pid, n;
	int		 i, required = 0;

	if (want != NULL && want[0] != '\0') {
		if (strcmp(want, "systemd") != 0) {
			snprintf(err, errlen, "RELAYD_SOCKETS=%.64s: the only "
			    "value is \"systemd\"", want);
			return -1;
		}
		required = 1;
	}
	if (pid_s == NULL || fds_s == NULL)
		n = 0;
	else {
		pid = strtonum(pid_s, 1, INT_MAX, &errstr);
		if (errstr != NULL) {
			snprintf(err, errlen, "LISTEN_PID=%.32s is %s", pid_s,
			    errstr);
			return -1;
		}
		if ((pid_t)pid != getpid())
			n = 0;		/* meant for another process */
		else {
			n = strtonum(fds_s, 0, max, &errstr);
			if (errstr != NULL) {
				snprintf(err, errlen, "LISTEN_FDS=%.32s is %s "
				    "(at most %d listeners)", fds_s, errstr,
				    max);
				return -1;
			}
		}
	}
	activate_unsetenv();
	if (n == 0) {
		if (required) {
			snprintf(err, errlen, "started without the sockets of "
			    "relayd.socket, which this unit needs (it has no "
			    "network of its own): start relayd.socket, or see "
			    "relayd(8), SYSTEMD, to run without it");
			return -1;
		}
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (activate_check(LISTEN_FDS_START + i, labels[i], 64, err,
		    errlen) == -1)
			return -1;
		fds[i] = LISTEN_FDS_START + i;
	}
	return (int)n;
}
