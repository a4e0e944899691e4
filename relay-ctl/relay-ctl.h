/* SPDX-License-Identifier: ISC */
/*
 * relay-ctl.h: the one private header of relay-ctl: the actions the
 * command parser produces, the output table (one instance for people,
 * one for JSON), the table of counters shared by every output, and the
 * prototypes of every file, grouped by file.
 *
 * Everything handed to an output function has already been size-checked
 * and its strings checked to end inside their arrays (relay-ctl.c); an
 * output function never has to distrust what it prints.
 */
#ifndef RELAY_CTL_PRIV_H
#define RELAY_CTL_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl.h"

enum actions {
	NONE,
	SHOW_SUMMARY,
	SHOW_LEASES,
	SHOW_SESSIONS,
	SHOW_STATS,
	SHOW_METRICS,
	LEASE_REVOKE,
	SESSION_KILL,
	RELOAD,
	LOG_VERBOSE,
	LOG_BRIEF,
	MONITOR
};

struct parse_result {
	enum actions	 action;
	char		 target[CTL_TARGET_LEN];	/* "" when none */
};

/*
 * One instance per output format: for people, JSON (-j) and the metrics
 * of show metrics. head and tail bracket the replies of one command; the
 * others print one reply each.
 */
struct output {
	void	(*head)(enum actions);
	void	(*summary)(const struct ctl_summary *);
	void	(*lease)(const struct ctl_lease *);
	void	(*session)(const struct ctl_session *);
	void	(*stats)(const struct ctl_stats *);
	void	(*event)(const struct ctl_event *);
	void	(*result)(const struct ctl_result *);
	void	(*tail)(enum actions);
};

/* The output whose functions are named prefix_head, prefix_summary, ... */
#define OUTPUT_OF(prefix) {						\
	.head = prefix##_head,						\
	.summary = prefix##_summary,					\
	.lease = prefix##_lease,					\
	.session = prefix##_session,					\
	.stats = prefix##_stats,					\
	.event = prefix##_event,					\
	.result = prefix##_result,					\
	.tail = prefix##_tail						\
}

/* A uint64_t member of struct ctl_stats, and how each output names it. */
struct stat_field {
	const char	*key;		/* the member: the JSON key */
	const char	*label;		/* show stats */
	const char	*metric;	/* relayd_<metric>_total */
	const char	*help;		/* # HELP text */
	size_t		 offset;
};

/* parser.c */
struct parse_result	*parse(int, char *[]);
void			 print_commands(FILE *);

/* output.c */
extern const struct output	 show_output;
extern const struct stat_field	 stat_fields[];
extern const size_t		 nstat_fields;
uint64_t	 stat_value(const struct ctl_stats *,
		    const struct stat_field *);
const char	*event_kind_name(int32_t);
const char	*fmt_duration(int64_t, char *, size_t);
int64_t		 secs_between(int64_t, int64_t);
int		 fmt_time(int64_t, int, char *, size_t);
extern const struct output	 metrics_output;

/* output_json.c */
extern const struct output	 json_output;
void		 json_error(const char *);

#endif /* RELAY_CTL_PRIV_H */
