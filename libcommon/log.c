/* SPDX-License-Identifier: ISC */
/*
 * log.c: logging to stderr or syslog with a process tag. Workers in a
 * chroot log to stderr (the journal under systemd), so this file must
 * never open a file or a socket after log_init().
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_dest	 log_dest = LOG_TO_STDERR;
static int		 log_verbose;
static char		 log_tag[64] = "relay";
static long		 log_pid;	/* cached: a sandboxed worker may not ask */
static int		 log_quick_exit;

void
log_init(enum log_dest dest, int verbose, int facility)
{
	log_dest = dest;
	log_verbose = verbose;
	log_pid = (long)getpid();
	if (dest == LOG_TO_SYSLOG)
		openlog(log_tag, LOG_PID | LOG_NDELAY, facility);
	tzset();
}

void
log_procname(const char *name)
{
	if (name != NULL)
		strlcpy(log_tag, name, sizeof(log_tag));
	log_pid = (long)getpid();
}

/*
 * fatal() in a sandboxed worker ends with _exit(): cleanup handlers that
 * libraries registered with atexit() would make forbidden system calls.
 */
void
log_exit_immediately(int on)
{
	log_quick_exit = on;
}

static __attribute__((noreturn)) void
log_exit(int status)
{
	if (log_quick_exit)
		_exit(status);
	exit(status);
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return log_verbose;
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 msg[1024];
	int	 saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_dest == LOG_TO_SYSLOG)
		syslog(pri, "%s: %s", log_tag, msg);
	else
		fprintf(stderr, "%s[%ld]: %s\n", log_tag, log_pid, msg);
	errno = saved;
}

static void	log_errno(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

static void
log_errno(int pri, const char *fmt, va_list ap)
{
	char	 msg[1024];
	int	 saved = errno;

	if (fmt == NULL) {
		strlcpy(msg, strerror(saved), sizeof(msg));
	} else {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		strlcat(msg, ": ", sizeof(msg));
		strlcat(msg, strerror(saved), sizeof(msg));
	}
	if (log_dest == LOG_TO_SYSLOG)
		syslog(pri, "%s: %s", log_tag, msg);
	else
		fprintf(stderr, "%s[%ld]: %s\n", log_tag, log_pid, msg);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_errno(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	log_exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	log_exit(1);
}
