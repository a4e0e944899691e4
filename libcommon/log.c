/* SPDX-License-Identifier: ISC */
/*
 * log.c: logging to stderr or syslog with a process tag. Workers in a
 * chroot log to stderr (the journal under systemd), so this file must
 * never open a file or a socket after log_init().
 *
 * When stderr is the journal's stream ($JOURNAL_STREAM names its device
 * and inode), the journal already tags each line with the program and its
 * pid: lines then carry no "tag[pid]: " of their own, but a syslog
 * priority prefix ("<3>") so that `journalctl -p err` selects them. A
 * relayd worker writes into a pipe that its parent copies to the journal:
 * the parent says so in $RELAY_LOG_PRIORITY, and the worker keeps its tag
 * (it names the worker) and adds the priority. A line is written with one
 * write(2) and never holds a control character: a message cannot forge a
 * second line or a priority.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
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

/* how a line to stderr looks */
enum log_style {
	STYLE_PLAIN,		/* tag[pid]: message */
	STYLE_JOURNAL,		/* <pri>message: stderr is the journal */
	STYLE_PRIORITY		/* <pri>tag[pid]: message: a pipe to it */
};
static enum log_style	 log_style = STYLE_PLAIN;

#define LOG_PRIORITY_ENV	"RELAY_LOG_PRIORITY"

static int
stderr_is_journal(void)
{
	const char		*js = getenv("JOURNAL_STREAM");
	char			*end;
	struct stat		 st;
	uintmax_t		 dev, ino;

	if (js == NULL || fstat(STDERR_FILENO, &st) == -1)
		return 0;
	/* "device:inode", both decimal; anything else is not ours */
	if (*js < '0' || *js > '9')
		return 0;
	errno = 0;
	dev = strtoumax(js, &end, 10);
	if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
		return 0;
	ino = strtoumax(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	return dev == (uintmax_t)st.st_dev && ino == (uintmax_t)st.st_ino;
}

static void
log_choose_style(void)
{
	const char	*pe = getenv(LOG_PRIORITY_ENV);
	struct stat	 st;

	if (stderr_is_journal()) {
		log_style = STYLE_JOURNAL;
		/* for the processes this one starts with stderr on a pipe */
		setenv(LOG_PRIORITY_ENV, "1", 1);
	} else if (pe != NULL && strcmp(pe, "1") == 0 &&
	    fstat(STDERR_FILENO, &st) == 0 && S_ISFIFO(st.st_mode))
		log_style = STYLE_PRIORITY;
	else
		log_style = STYLE_PLAIN;
}

void
log_init(enum log_dest dest, int verbose, int facility)
{
	log_dest = dest;
	log_verbose = verbose;
	log_pid = (long)getpid();
	if (dest == LOG_TO_SYSLOG)
		openlog(log_tag, LOG_PID | LOG_NDELAY, facility);
	else
		log_choose_style();
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

void
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

/* One line to stderr, in one write(2); control characters become '?'. */
static void
log_line(int pri, const char *msg)
{
	char		 line[1200];
	size_t		 i, start = 0;
	int		 n;

	if (log_style == STYLE_JOURNAL)
		n = snprintf(line, sizeof(line), "<%d>", LOG_PRI(pri));
	else if (log_style == STYLE_PRIORITY)
		n = snprintf(line, sizeof(line), "<%d>%s[%ld]: ",
		    LOG_PRI(pri), log_tag, log_pid);
	else
		n = snprintf(line, sizeof(line), "%s[%ld]: ", log_tag,
		    log_pid);
	if (n < 0)
		return;
	start = (size_t)n < sizeof(line) / 2 ? (size_t)n : sizeof(line) / 2;
	strlcpy(line + start, msg, sizeof(line) - start - 1);
	for (i = start; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[i++] = '\n';
	/* stderr is unbuffered: nothing of stdio's is bypassed */
	if (write(STDERR_FILENO, line, i) == -1)
		return;		/* nowhere left to say so */
}

static void
log_out(int pri, const char *msg)
{
	if (log_dest == LOG_TO_SYSLOG)
		syslog(pri, "%s: %s", log_tag, msg);
	else
		log_line(pri, msg);
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 msg[1024];
	int	 saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_out(pri, msg);
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
	log_out(pri, msg);
	errno = saved;
}

void
log_at(int pri, int flags, const char *fmt, ...)
{
	va_list	 ap;

	if (pri == LOG_DEBUG && log_verbose < 1)
		return;
	va_start(ap, fmt);
	if (flags & LOG_F_ERRNO)
		log_errno(pri, fmt, ap);
	else
		vlog(pri, fmt, ap);
	va_end(ap);
}
