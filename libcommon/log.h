/* SPDX-License-Identifier: ISC */
/*
 * log.h: the small logging API shared by every program. Each line carries
 * the process tag set with log_procname(), except on the journal, which
 * tags lines itself (log.c). errno is preserved across calls.
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stdarg.h>

enum log_dest {
	LOG_TO_STDERR,
	LOG_TO_SYSLOG
};

void	log_init(enum log_dest, int verbose, int facility);
void	log_procname(const char *);
void	log_setverbose(int);
void	log_exit_immediately(int);
int	log_getverbose(void);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	vlog(int, const char *, va_list) __attribute__((format(printf, 2, 0)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* RELAY_LOG_H */
