/* SPDX-License-Identifier: ISC */
/*
 * ctl.h: the messages on relayd's control socket, between relay-ctl and
 * relayd's lease process. They travel as imsgs (imsg.h) with fixed-size
 * payloads; both programs are built from the same tree, and
 * CTL_VERSION is checked on every request so a mismatched relay-ctl gets
 * a clear error instead of a misread struct. Bump it on any change here.
 *
 * A request is answered by zero or more data messages and then either
 * CTL_END (success) or CTL_RESULT (an error with a message).
 */
#ifndef RELAY_CTL_H
#define RELAY_CTL_H

#include <stdint.h>

#include "protocol.h"

#define CTL_VERSION		2
#define CTL_TARGET_LEN		64	/* an ID or a lease name, NUL-terminated */
#define CTL_MAX_LISTENERS	16
#define CTL_MAX_WORKERS		65	/* 32 conn + 32 fwd + the lease worker */

/*
 * What a lease says of itself, as its holder registered it: the same
 * members, in this order, in ctl_lease and in relayd's struct lease and
 * struct l_leaseinfo.
 */
#define LEASE_DESC_MEMBERS						\
	char		 name[NAME_MAX_LEN + 1];			\
	char		 id[ID_BUFSZ];					\
	char		 alpn[ALPN_MAX_COUNT][ALPN_MAX_LEN + 1];	\
	uint32_t	 nalpn;						\
	char		 description[DESC_MAX_LEN + 1]

enum ctl_type {
	/* requests: payload struct ctl_request */
	CTL_SHOW_SUMMARY = 1,
	CTL_SHOW_LEASES,
	CTL_SHOW_SESSIONS,
	CTL_SHOW_STATS,
	CTL_LEASE_REVOKE,	/* changing: root or the relay's own uid */
	CTL_SESSION_KILL,	/* changing */
	CTL_RELOAD,		/* changing */
	CTL_LOG_VERBOSE,	/* changing */
	CTL_LOG_BRIEF,		/* changing */
	CTL_MONITOR,

	/* replies */
	CTL_SUMMARY = 100,	/* struct ctl_summary */
	CTL_LEASE,		/* struct ctl_lease */
	CTL_SESSION,		/* struct ctl_session */
	CTL_STATS,		/* struct ctl_stats */
	CTL_EVENT,		/* struct ctl_event (monitor) */
	CTL_RESULT,		/* struct ctl_result: the request failed */
	CTL_END			/* empty: the request is complete */
};

struct ctl_request {
	uint32_t	 version;	/* CTL_VERSION */
	char		 target[CTL_TARGET_LEN];	/* filter or object, may be empty */
};

struct ctl_result {
	int32_t		 code;		/* 0 success, else an errno-like value */
	char		 message[256];
};

struct ctl_worker {
	char		 role[8];	/* "lease", "conn", "fwd" */
	int32_t		 index;
	int32_t		 pid;
	int64_t		 started;	/* unix time this process started */
	uint32_t	 respawns;	/* times this slot was restarted */
};

struct ctl_summary {
	char		 version[32];
	uint32_t	 protocol;
	int64_t		 started;	/* unix time */
	int64_t		 now;
	char		 relay_id[ID_BUFSZ];
	int32_t		 parent_pid;
	uint32_t	 nlisteners;
	char		 listeners[CTL_MAX_LISTENERS][64];
	uint32_t	 nworkers;
	struct ctl_worker workers[CTL_MAX_WORKERS];
	uint64_t	 leases;
	uint64_t	 sessions;
	uint64_t	 control_conns;
	int32_t		 verbose;
	uint64_t	 respawns;	/* workers restarted since the start */
	uint64_t	 nofile;	/* RLIMIT_NOFILE of each worker */
	uint64_t	 conns_max;	/* effective connection limit */
	uint64_t	 sessions_max;	/* effective session limit */
};

struct ctl_lease {
	uint8_t		 lease_id[LEASE_ID_LEN];
	LEASE_DESC_MEMBERS;
	uint32_t	 hidden;
	int64_t		 created;
	int64_t		 expires;
	uint32_t	 ttl;
	uint32_t	 sessions;
	char		 addr[64];	/* the holder's address as seen */
	int32_t		 conn;		/* conn worker of its control connection */
};

struct ctl_session {
	uint8_t		 session_id[SESSION_ID_LEN];
	char		 lease_name[NAME_MAX_LEN + 1];
	char		 from_id[ID_BUFSZ];
	char		 to_id[ID_BUFSZ];
	char		 alpn[ALPN_MAX_LEN + 1];
	char		 state[16];	/* pending, accepted, paired */
	int64_t		 created;
	uint64_t	 bytes_i2r;
	uint64_t	 bytes_r2i;
	int32_t		 fwd;		/* fwd worker index */
	uint32_t	 direct;	/* the clients moved it to a direct path */
};

/* Counters: every refusal and every outcome, summed over all workers. */
#define CTL_NERR	12	/* relay.v1 ErrorCode values */
struct ctl_stats {
	uint64_t	 conn_accepted;
	uint64_t	 conn_refused_limit;
	uint64_t	 conn_bad_preamble;
	uint64_t	 control_conns;
	uint64_t	 data_conns;
	uint64_t	 handshakes_ok;
	uint64_t	 handshakes_failed;
	uint64_t	 handshake_timeouts;
	uint64_t	 idle_timeouts;
	uint64_t	 bad_requests;
	uint64_t	 records_bad;
	uint64_t	 registrations;
	uint64_t	 renewals;
	uint64_t	 unregistrations;
	uint64_t	 leases_expired;
	uint64_t	 leases_revoked;
	uint64_t	 connects;
	uint64_t	 errors_sent[CTL_NERR];	/* by ErrorCode */
	uint64_t	 sessions_accepted;
	uint64_t	 sessions_rejected;
	uint64_t	 sessions_timed_out;
	uint64_t	 sessions_paired;
	uint64_t	 sessions_expired;	/* unpaired past the deadline */
	uint64_t	 sessions_ended;
	uint64_t	 tokens_unknown;
	uint64_t	 bytes_forwarded;
	uint64_t	 signatures;
	uint64_t	 conn_refused_nofile;	/* no descriptor for a connection */
	uint64_t	 conn_refused_rate;	/* accept rate limit per listener */
	uint64_t	 conn_read_paused;	/* replies not drained: reading stopped */
	uint64_t	 conn_output_overflow;	/* closed: replies past every bound */
	uint64_t	 sessions_refused_pending; /* pending limit per lease/address */
	uint64_t	 sessions_pending_dropped; /* oldest pending made room */
	uint64_t	 sessions_refused_nofile; /* no descriptor or pipe for it */
	uint64_t	 sessions_direct;	/* moved to a direct path */
	uint64_t	 punch_failures;	/* direct path tried, relayed instead */
};

enum ctl_event_kind {
	CTL_EV_LEASE_ADD = 1,
	CTL_EV_LEASE_RENEW,
	CTL_EV_LEASE_DEL,
	CTL_EV_SESSION_NEW,
	CTL_EV_SESSION_ACCEPT,
	CTL_EV_SESSION_PAIRED,
	CTL_EV_SESSION_END
};

struct ctl_event {
	int64_t		 time;
	int32_t		 kind;		/* enum ctl_event_kind */
	char		 name[NAME_MAX_LEN + 1];
	char		 id[ID_BUFSZ];
	uint8_t		 object_id[16];	/* lease or session id */
	char		 detail[128];
};

#endif /* RELAY_CTL_H */
