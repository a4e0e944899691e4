/* SPDX-License-Identifier: ISC */
/*
 * log.h: the small logging API shared by every program. Each line carries
 * the process tag set with log_procname(), except on the journal, which
 * tags lines itself (log.c). errno is preserved across calls.
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stdarg.h>
#include <syslog.h>

enum log_dest {
	LOG_TO_STDERR,
	LOG_TO_SYSLOG
};

void	log_init(enum log_dest, int verbose, int facility);
void	log_procname(const char *);
void	log_setverbose(int);
void	log_exit_immediately(int);
int	log_getverbose(void);
void	log_at(int, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	vlog(int, const char *, va_list) __attribute__((format(printf, 2, 0)));
void	log_exit(int) __attribute__((noreturn));

/* log_at()'s flags */
#define LOG_F_ERRNO	0x1	/* the message, then ": " and errno's text */

/*
 * The levels, as syslog priorities; log_debug() says nothing unless
 * verbose. log_warn() and fatal() add errno's text (the message is
 * optional then); fatal() and fatalx() exit after the line.
 */
#define log_warn(...)	log_at(LOG_ERR, LOG_F_ERRNO, __VA_ARGS__)
#define log_warnx(...)	log_at(LOG_ERR, 0, __VA_ARGS__)
#define log_info(...)	log_at(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...)	log_at(LOG_DEBUG, 0, __VA_ARGS__)
#define fatal(...)	\
	(log_at(LOG_CRIT, LOG_F_ERRNO, __VA_ARGS__), log_exit(1))
#define fatalx(...)	(log_at(LOG_CRIT, 0, __VA_ARGS__), log_exit(1))

#endif /* RELAY_LOG_H */
