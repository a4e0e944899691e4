/* SPDX-License-Identifier: ISC */
/*
 * output.c: relay-ctl's output for people (the default instance of
 * struct output), the OpenMetrics text of show metrics, and what every
 * output shares: the table of counters and the time formats.
 *
 * Strings reach this file checked and, for this output, with anything
 * but printable ASCII replaced (relay-ctl.c), so a relayd that sends
 * escape sequences cannot reprogram the operator's terminal.
 */
#include "config.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "util.h"

#include "relay-ctl.h"

#define STAT(member, label, metric, help) \
	{ #member, label, metric, help, offsetof(struct ctl_stats, member) }

/* struct ctl_stats in order, errors_sent apart (it is one per code). */
const struct stat_field stat_fields[] = {
	STAT(conn_accepted, "connections accepted", "connections_accepted",
	    "TCP connections accepted."),
	STAT(conn_refused_limit, "connections refused by a limit",
	    "connections_refused_limit",
	    "TCP connections refused by the per-address or total limit."),
	STAT(conn_bad_preamble, "connections with a bad preamble",
	    "connections_bad_preamble",
	    "Connections closed for a bad preamble."),
	STAT(control_conns, "control connections", "control_connections",
	    "Control connections opened."),
	STAT(data_conns, "data connections", "data_connections",
	    "Data connections opened."),
	STAT(handshakes_ok, "handshakes completed", "handshakes_ok",
	    "Control handshakes completed."),
	STAT(handshakes_failed, "handshakes failed", "handshakes_failed",
	    "Control handshakes that failed verification."),
	STAT(handshake_timeouts, "handshake timeouts", "handshake_timeouts",
	    "Control handshakes that missed the deadline."),
	STAT(idle_timeouts, "idle timeouts", "idle_timeouts",
	    "Control connections closed for idleness."),
	STAT(bad_requests, "bad requests", "bad_requests",
	    "Control messages answered with ERR_BAD_REQUEST."),
	STAT(records_bad, "bad records", "records_bad",
	    "Records that failed to open or broke a rule."),
	STAT(registrations, "lease registrations", "lease_registrations",
	    "Leases registered."),
	STAT(renewals, "lease renewals", "lease_renewals",
	    "Leases renewed."),
	STAT(unregistrations, "lease unregistrations", "lease_unregistrations",
	    "Leases unregistered by their holder."),
	STAT(leases_expired, "leases expired", "leases_expired",
	    "Leases that reached their TTL."),
	STAT(leases_revoked, "leases revoked", "leases_revoked",
	    "Leases revoked by relay-ctl."),
	STAT(connects, "connect requests", "connect_requests",
	    "Connect requests received."),
	STAT(sessions_accepted, "sessions accepted", "sessions_accepted",
	    "Sessions accepted by the lease holder."),
	STAT(sessions_rejected, "sessions rejected", "sessions_rejected",
	    "Sessions rejected by the lease holder."),
	STAT(sessions_timed_out, "sessions not answered in time",
	    "sessions_timed_out",
	    "Sessions the lease holder did not answer in time."),
	STAT(sessions_paired, "sessions paired", "sessions_paired",
	    "Sessions whose two data connections were paired."),
	STAT(sessions_expired, "sessions expired unpaired",
	    "sessions_expired",
	    "Sessions closed unpaired past the pairing deadline."),
	STAT(sessions_ended, "sessions ended", "sessions_ended",
	    "Paired sessions that ended."),
	STAT(tokens_unknown, "unknown or reused tokens", "tokens_unknown",
	    "Data connections with an unknown, reused or expired token."),
	STAT(bytes_forwarded, "bytes forwarded", "forwarded_bytes",
	    "Bytes forwarded between paired data connections."),
	STAT(signatures, "relay signatures", "signatures",
	    "Handshake signatures made by the parent."),
	STAT(conn_refused_nofile, "connections refused: no descriptors",
	    "connections_refused_nofile",
	    "Connections refused because a worker was out of descriptors."),
	STAT(conn_refused_rate, "connections refused by the accept rate",
	    "connections_refused_rate",
	    "Connections refused by a listener's accept rate limit."),
	STAT(conn_read_paused, "clients paused: replies not drained",
	    "control_read_paused",
	    "Times a control client was not read until its replies drained."),
	STAT(conn_output_overflow, "clients closed: replies not drained",
	    "control_output_overflow",
	    "Control clients closed because their replies were never drained."),
	STAT(sessions_refused_pending, "connects refused: pending limit",
	    "sessions_refused_pending",
	    "Connect requests refused by the pending-session limits."),
	STAT(sessions_pending_dropped, "pending sessions dropped for newer",
	    "sessions_pending_dropped",
	    "Pending sessions ended, oldest first, to make room."),
	STAT(sessions_refused_nofile, "sessions refused: no descriptors",
	    "sessions_refused_nofile",
	    "Sessions refused because a worker was out of descriptors."),
	STAT(sessions_direct, "sessions moved to a direct path",
	    "sessions_direct",
	    "Sessions whose clients moved to a direct path."),
	STAT(punch_failures, "direct path attempts failed",
	    "punch_failures",
	    "Sessions whose direct path attempt failed and stayed relayed."),
};
const size_t nstat_fields = sizeof(stat_fields) / sizeof(stat_fields[0]);

uint64_t
stat_value(const struct ctl_stats *st, const struct stat_field *f)
{
	uint64_t	 v;

	memcpy(&v, (const char *)st + f->offset, sizeof(v));
	return v;
}

const char *
event_kind_name(int32_t kind)
{
	switch (kind) {
	case CTL_EV_LEASE_ADD:
		return "lease_add";
	case CTL_EV_LEASE_RENEW:
		return "lease_renew";
	case CTL_EV_LEASE_DEL:
		return "lease_del";
	case CTL_EV_SESSION_NEW:
		return "session_new";
	case CTL_EV_SESSION_ACCEPT:
		return "session_accept";
	case CTL_EV_SESSION_PAIRED:
		return "session_paired";
	case CTL_EV_SESSION_END:
		return "session_end";
	default:
		return "unknown";
	}
}

/* 45s, 3m12s, 2h03m12s, 5d04h03m. */
const char *
fmt_duration(int64_t secs, char *buf, size_t len)
{
	long long	 s = secs < 0 ? 0 : (long long)secs;

	if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh%02lldm%02llds", s / 3600,
		    s % 3600 / 60, s % 60);
	else
		snprintf(buf, len, "%lldd%02lldh%02lldm", s / 86400,
		    s % 86400 / 3600, s % 3600 / 60);
	return buf;
}

/* b - a in seconds, held at the int64 limits: relayd's times are input. */
int64_t
secs_between(int64_t a, int64_t b)
{
	int64_t	 d;

	if (__builtin_sub_overflow(b, a, &d))
		return b < a ? INT64_MIN : INT64_MAX;
	return d;
}

/*
 * A unix time in UTC: ISO 8601 ("2026-11-22T05:00:00Z") when iso is set,
 * else "2026-11-22 05:00:00 UTC". -1 (buf "-") for a time gmtime cannot
 * represent, which only a broken relayd sends.
 */
int
fmt_time(int64_t t, int iso, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, iso ? "%Y-%m-%dT%H:%M:%SZ" :
	    "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
		snprintf(buf, len, "-");
		return -1;
	}
	return 0;
}

static void
show_head(enum actions action)
{
	switch (action) {
	case SHOW_LEASES:
		printf("%-16s %-32s %-12s %-8s %8s  %-21s %s\n", "NAME", "ID",
		    "ALPN", "EXPIRES", "SESSIONS", "ADDRESS", "FLAGS");
		break;
	case SHOW_SESSIONS:
		printf("%-32s %-16s %-32s %-8s %-8s %12s %12s\n", "SESSION",
		    "LEASE", "FROM", "STATE", "AGE", "BYTES I>R", "BYTES R>I");
		break;
	default:
		break;
	}
}

/* "conn 0" when a role has several processes, "lease" when it has one. */
static int
role_count(const struct ctl_summary *s, const char *role)
{
	uint32_t	 i;
	int		 n = 0;

	for (i = 0; i < s->nworkers; i++)
		if (strcmp(s->workers[i].role, role) == 0)
			n++;
	return n;
}

static void
show_summary(const struct ctl_summary *s)
{
	const struct ctl_worker	*w;
	char			 up[32], since[64];
	uint32_t		 i;

	fmt_duration(secs_between(s->started, s->now), up, sizeof(up));
	fmt_time(s->started, 0, since, sizeof(since));
	printf("relayd %s, protocol %u, up %s (since %s)\n", s->version,
	    s->protocol, up, since);
	printf("relay ID:   %s\n", s->relay_id);
	printf("listening:  ");
	if (s->nlisteners == 0)
		printf("nothing");
	for (i = 0; i < s->nlisteners; i++)
		printf("%s%s", i > 0 ? ", " : "", s->listeners[i]);
	printf("\nprocesses:  parent %d", s->parent_pid);
	for (i = 0; i < s->nworkers; i++) {
		w = &s->workers[i];
		if (role_count(s, w->role) > 1)
			printf(", %s %d %d", w->role, w->index, w->pid);
		else
			printf(", %s %d", w->role, w->pid);
	}
	printf("\nleases %" PRIu64 ", sessions %" PRIu64 ", control "
	    "connections %" PRIu64 ", log %s\n", s->leases, s->sessions,
	    s->control_conns, s->verbose > 0 ? "verbose" : "brief");
	printf("limits:     %" PRIu64 " descriptors per worker, %" PRIu64
	    " connections, %" PRIu64 " sessions; workers restarted %" PRIu64
	    "\n", s->nofile, s->conns_max, s->sessions_max, s->respawns);
}

static void
show_lease(const struct ctl_lease *l)
{
	char		 alpn[ALPN_MAX_COUNT * (ALPN_MAX_LEN + 1)];
	char		 expires[32];
	int64_t		 left = secs_between((int64_t)time(NULL), l->expires);
	uint32_t	 i;

	alpn[0] = '\0';
	for (i = 0; i < l->nalpn; i++) {
		if (i > 0)
			strlcat(alpn, ",", sizeof(alpn));
		strlcat(alpn, l->alpn[i], sizeof(alpn));
	}
	if (left > 0)
		fmt_duration(left, expires, sizeof(expires));
	else
		strlcpy(expires, "expired", sizeof(expires));
	printf("%-16s %-32s %-12s %-8s %8u  %-21s %s\n", l->name, l->id,
	    alpn, expires, l->sessions, l->addr[0] != '\0' ? l->addr : "-",
	    l->hidden ? "hidden" : "-");
}

static void
show_session(const struct ctl_session *s)
{
	char	 sid[2 * SESSION_ID_LEN + 1], age[32];

	hex_encode(s->session_id, sizeof(s->session_id), sid, sizeof(sid));
	fmt_duration(secs_between(s->created, (int64_t)time(NULL)), age,
	    sizeof(age));
	printf("%-32s %-16s %-32s %-8s %-8s %12" PRIu64 " %12" PRIu64 "\n",
	    sid, s->lease_name[0] != '\0' ? s->lease_name : "-",
	    s->from_id[0] != '\0' ? s->from_id : "-",
	    s->direct ? "direct" : s->state, age,
	    s->bytes_i2r, s->bytes_r2i);
}

static void
show_stats(const struct ctl_stats *st)
{
	size_t	 i;

	for (i = 0; i < nstat_fields; i++)
		printf("%-36s %" PRIu64 "\n", stat_fields[i].label,
		    stat_value(st, &stat_fields[i]));
	printf("errors sent, by code:\n");
	for (i = 0; i < CTL_NERR; i++)
		printf("  %-34s %" PRIu64 "\n", proto_error_name((int)i),
		    st->errors_sent[i]);
}

static void
show_event(const struct ctl_event *ev)
{
	static const uint8_t	 zero[sizeof(ev->object_id)];
	char			 when[64];
	char			 oid[2 * sizeof(ev->object_id) + 1];
	int			 session;

	fmt_time(ev->time, 1, when, sizeof(when));
	printf("%s %-14s", when, event_kind_name(ev->kind));
	if (ev->name[0] != '\0')
		printf(" %s", ev->name);
	if (ev->id[0] != '\0')
		printf(" id %s", ev->id);
	if (memcmp(ev->object_id, zero, sizeof(zero)) != 0) {
		session = ev->kind >= CTL_EV_SESSION_NEW;
		hex_encode(ev->object_id, sizeof(ev->object_id), oid,
		    sizeof(oid));
		printf(" %s %s", session ? "session" : "lease", oid);
	}
	if (ev->detail[0] != '\0')
		printf(": %s", ev->detail);
	printf("\n");
}

static void
show_result(const struct ctl_result *r)
{
	printf("%s\n", r->message);
}

static void
show_tail(enum actions action)
{
}

const struct output show_output = OUTPUT_OF(show);

/* A label value: backslash, double quote and newline escaped. */
static void
metric_label(const char *name, const char *value)
{
	const char	*p;

	printf("%s=\"", name);
	for (p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			printf("\\%c", *p);
		else if (*p == '\n')
			printf("\\n");
		else
			putchar(*p);
	}
	putchar('"');
}

static void
metric_head(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metric_u64(const char *name, const char *type, const char *help,
    uint64_t value)
{
	metric_head(name, type, help);
	printf("%s %" PRIu64 "\n", name, value);
}

/*
 * show metrics, for node_exporter's textfile collector. That collector
 * reads the Prometheus text format, so a counter's # TYPE line names its
 * sample (relayd_x_total) as Prometheus' own clients write it; the final
 * "# EOF" of OpenMetrics is a comment to it. No "info" or "unknown" type
 * either: the collector rejects them, so relayd_info is a gauge.
 */
static void
metrics_print(const struct ctl_summary *s, const struct ctl_stats *st)
{
	char	 name[96];
	size_t	 i;

	metric_u64("relayd_up", "gauge",
	    "Whether relayd answered on its control socket.", 1);
	metric_head("relayd_info", "gauge",
	    "The relayd version and relay ID, as labels.");
	printf("relayd_info{");
	metric_label("version", s->version);
	putchar(',');
	metric_label("relay_id", s->relay_id);
	printf("} 1\n");
	metric_head("relayd_start_time_seconds", "gauge",
	    "When relayd started, in seconds since the epoch.");
	printf("relayd_start_time_seconds %" PRId64 "\n", s->started);
	metric_u64("relayd_protocol_version", "gauge",
	    "The relay wire protocol version.", s->protocol);
	metric_u64("relayd_leases_active", "gauge",
	    "Leases registered now.", s->leases);
	metric_u64("relayd_sessions_active", "gauge",
	    "Sessions open now.", s->sessions);
	metric_u64("relayd_control_connections_active", "gauge",
	    "Control connections open now.", s->control_conns);
	metric_u64("relayd_processes", "gauge",
	    "relayd processes, the parent included.", 1 + s->nworkers);
	metric_u64("relayd_workers_respawned_total", "counter",
	    "Workers restarted after they died.", s->respawns);
	metric_u64("relayd_connections_max", "gauge",
	    "The effective limit of client connections.", s->conns_max);
	metric_u64("relayd_sessions_max", "gauge",
	    "The effective limit of sessions.", s->sessions_max);

	for (i = 0; i < nstat_fields; i++) {
		snprintf(name, sizeof(name), "relayd_%s_total",
		    stat_fields[i].metric);
		metric_u64(name, "counter", stat_fields[i].help,
		    stat_value(st, &stat_fields[i]));
	}
	metric_head("relayd_errors_total", "counter",
	    "Error replies sent to clients, by relay.v1 ErrorCode.");
	for (i = 0; i < CTL_NERR; i++) {
		printf("relayd_errors_total{");
		metric_label("code", proto_error_name((int)i));
		printf("} %" PRIu64 "\n", st->errors_sent[i]);
	}
	printf("# EOF\n");
}

/* show metrics: the summary comes first, then the counters end the text. */
static struct ctl_summary	 metrics_summary;

static void
metrics_summary_keep(const struct ctl_summary *s)
{
	metrics_summary = *s;
}

static void
metrics_stats(const struct ctl_stats *st)
{
	metrics_print(&metrics_summary, st);
}

/* only what show metrics asks for: the summary, then the counters */
const struct output metrics_output = {
	.head = show_tail,
	.summary = metrics_summary_keep,
	.stats = metrics_stats,
	.tail = show_tail
};
