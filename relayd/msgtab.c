/* SPDX-License-Identifier: ISC */
/*
 * msgtab.c: the table of relayd's internal messages, and the one check
 * every message passes before a dispatcher sees it: who may send it, who
 * may receive it, its exact size (or the size its own count gives), a
 * descriptor where one belongs and nowhere else, the phase it belongs to,
 * every string NUL-terminated inside its array and every count in range.
 *
 * A message that fails is a broken or hostile process: the receiver
 * treats it as fatal (a worker exits; the parent stops that worker).
 * Adding a message type is one enum name in relayd.h, one row here and
 * one case in the dispatcher of its receiver.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "relayd.h"

enum msg_field_kind {
	MF_END = 0,
	MF_STR,			/* char[len] holding a NUL */
	MF_COUNT,		/* uint32_t in [min, max] */
	MF_STRV			/* count (at cnt) strings of char[len] at off */
};

struct msg_field {
	enum msg_field_kind	 kind;
	size_t			 off;
	size_t			 len;
	size_t			 cnt;
	uint32_t		 min;
	uint32_t		 max;
};

#define PH_ANY		(PH_START | PH_RUN | PH_TREE)

/* Descriptors */
#define FD_NO		0
#define FD_YES		1	/* exactly one, or lost on the way */

struct msg_def {
	const char		*name;
	int			 from;		/* R_* senders */
	int			 to;		/* R_* receivers */
	size_t			 size;		/* exact, or the fixed part */
	size_t			 entry;		/* > 0: entries follow, counted */
	size_t			 entry_cnt;	/* offset of the uint32 count */
	uint32_t		 entry_max;
	int			 fd;
	int			 phase;
	const struct msg_field	*fields;	/* of the fixed part */
	const struct msg_field	*entry_fields;
};

#define F_STR(t, m)		{ MF_STR, offsetof(struct t, m),	\
				    sizeof(((struct t *)0)->m), 0, 0, 0 }
#define F_COUNT(t, m, lo, hi)	{ MF_COUNT, offsetof(struct t, m), 0, 0,	\
				    (lo), (hi) }
#define F_STRV(t, m, c)		{ MF_STRV, offsetof(struct t, m),	\
				    sizeof(((struct t *)0)->m[0]),	\
				    offsetof(struct t, c), 0, 0 }
#define FIELDS(...)		((const struct msg_field[]){ __VA_ARGS__,	\
				    { MF_END, 0, 0, 0, 0, 0 } })
#define NOFIELDS		NULL

#define MSG(n, f, t, sz, fd, ph, fl)					\
	[n] = { #n, (f), (t), (sz), 0, 0, 0, (fd), (ph), (fl), NULL }
#define EMPTY(n, f, t, ph)	MSG(n, f, t, 0, FD_NO, ph, NOFIELDS)

static const struct msg_def msgtab[IMSG_MAX] = {
	/* parent -> worker */
	MSG(IMSG_PRIV, R_PARENT, R_WORKERS, sizeof(struct priv_msg), FD_NO,
	    PH_START, FIELDS(F_STR(priv_msg, user), F_STR(priv_msg, chroot))),
	MSG(IMSG_PEER_FD, R_PARENT, R_WORKERS, sizeof(struct peer_msg),
	    FD_YES, PH_ANY, FIELDS(F_COUNT(peer_msg, role, ROLE_LEASE,
	    ROLE_FWD), F_COUNT(peer_msg, index, 0, RELAYD_MAX_WORKERS - 1))),
	MSG(IMSG_PEER_GONE, R_PARENT, R_WORKERS, sizeof(struct peer_msg),
	    FD_NO, PH_ANY, FIELDS(F_COUNT(peer_msg, role, ROLE_LEASE,
	    ROLE_FWD), F_COUNT(peer_msg, index, 0, RELAYD_MAX_WORKERS - 1))),
	MSG(IMSG_LISTENER_FD, R_PARENT, R_CONN, sizeof(struct listener_msg),
	    FD_YES, PH_START, FIELDS(F_STR(listener_msg, name))),
	MSG(IMSG_CONTROL_FD, R_PARENT, R_LEASE, 0, FD_YES, PH_START,
	    NOFIELDS),
	MSG(IMSG_CFG_LIMITS, R_PARENT, R_WORKERS, sizeof(struct relayd_limits),
	    FD_NO, PH_ANY, FIELDS(
	    F_COUNT(relayd_limits, workers_conn, 1, RELAYD_MAX_WORKERS),
	    F_COUNT(relayd_limits, workers_fwd, 1, RELAYD_MAX_WORKERS))),
	MSG(IMSG_CFG_RESERVE, R_PARENT, R_LEASE, sizeof(struct reservation_msg),
	    FD_NO, PH_ANY, FIELDS(F_STR(reservation_msg, name),
	    F_STR(reservation_msg, id))),
	MSG(IMSG_CFG_ALLOW, R_PARENT, R_LEASE, sizeof(struct allow_msg), FD_NO,
	    PH_ANY, FIELDS(F_STR(allow_msg, id))),
	MSG(IMSG_CFG_INFO, R_PARENT, R_LEASE, sizeof(struct cfg_info), FD_NO,
	    PH_ANY, FIELDS(F_STR(cfg_info, relay_id),
	    F_COUNT(cfg_info, nlisteners, 0, CTL_MAX_LISTENERS),
	    F_STRV(cfg_info, listeners, nlisteners))),
	MSG(IMSG_CFG_WORKER, R_PARENT, R_LEASE, sizeof(struct ctl_worker),
	    FD_NO, PH_ANY, FIELDS(F_STR(ctl_worker, role),
	    F_COUNT(ctl_worker, index, 0, RELAYD_MAX_WORKERS - 1))),
	MSG(IMSG_CFG_END, R_PARENT, R_WORKERS, sizeof(uint32_t), FD_NO,
	    PH_ANY, NOFIELDS),
	EMPTY(IMSG_TREE_READY, R_PARENT, R_WORKERS, PH_RUN),
	MSG(IMSG_LOG_VERBOSE, R_PARENT, R_WORKERS, sizeof(int32_t), FD_NO,
	    PH_ANY, NOFIELDS),
	EMPTY(IMSG_STOP, R_PARENT, R_WORKERS, PH_ANY),
	MSG(IMSG_SIGN_RESP, R_PARENT, R_CONN, sizeof(struct sign_resp), FD_NO,
	    PH_RUN, NOFIELDS),
	MSG(IMSG_CTL_REPLY, R_PARENT, R_LEASE, sizeof(struct ctl_result),
	    FD_NO, PH_RUN, FIELDS(F_STR(ctl_result, message))),

	/* worker -> parent: the few requests the parent serves */
	MSG(IMSG_CFG_DONE, R_WORKERS, R_PARENT, sizeof(uint32_t), FD_NO,
	    PH_ANY, NOFIELDS),
	MSG(IMSG_SIGN_REQ, R_CONN, R_PARENT, sizeof(struct sign_req), FD_NO,
	    PH_RUN, NOFIELDS),
	EMPTY(IMSG_CTL_RELOAD, R_LEASE, R_PARENT, PH_TREE),
	MSG(IMSG_CTL_LOG, R_LEASE, R_PARENT, sizeof(int32_t), FD_NO, PH_TREE,
	    NOFIELDS),

	/* conn <-> lease */
	MSG(IMSG_L_HELLO, R_CONN, R_LEASE, sizeof(struct l_hello), FD_NO,
	    PH_RUN, FIELDS(F_STR(l_hello, id), F_STR(l_hello, addr))),
	EMPTY(IMSG_L_GONE, R_CONN, R_LEASE, PH_RUN),
	MSG(IMSG_L_REGISTER, R_CONN, R_LEASE, sizeof(struct l_register), FD_NO,
	    PH_RUN, FIELDS(F_STR(l_register, name),
	    F_STR(l_register, description),
	    F_COUNT(l_register, nalpn, 1, ALPN_MAX_COUNT),
	    F_STRV(l_register, alpn, nalpn),
	    F_COUNT(l_register, nlocal, 0, ADDR_MAX_COUNT))),
	MSG(IMSG_L_RENEW, R_CONN, R_LEASE, sizeof(struct l_lease_op), FD_NO,
	    PH_RUN, NOFIELDS),
	MSG(IMSG_L_UNREGISTER, R_CONN, R_LEASE, sizeof(struct l_lease_op),
	    FD_NO, PH_RUN, NOFIELDS),
	MSG(IMSG_L_CONNECT, R_CONN, R_LEASE, sizeof(struct l_connect), FD_NO,
	    PH_RUN, FIELDS(F_STR(l_connect, target), F_STR(l_connect, alpn),
	    F_COUNT(l_connect, nlocal, 0, ADDR_MAX_COUNT))),
	MSG(IMSG_L_ACCEPT, R_CONN, R_LEASE, sizeof(struct l_session_op), FD_NO,
	    PH_RUN, NOFIELDS),
	MSG(IMSG_L_REJECT, R_CONN, R_LEASE, sizeof(struct l_reject), FD_NO,
	    PH_RUN, FIELDS(F_STR(l_reject, reason))),
	MSG(IMSG_L_LIST, R_CONN, R_LEASE, sizeof(struct l_list), FD_NO, PH_RUN,
	    NOFIELDS),
	MSG(IMSG_L_PATH, R_CONN, R_LEASE, sizeof(struct l_path), FD_NO, PH_RUN,
	    NOFIELDS),
	MSG(IMSG_L_REGISTERED, R_LEASE, R_CONN, sizeof(struct l_registered),
	    FD_NO, PH_RUN, FIELDS(F_STR(l_registered, name))),
	MSG(IMSG_L_ACK, R_LEASE, R_CONN, sizeof(struct l_ack), FD_NO, PH_RUN,
	    NOFIELDS),
	MSG(IMSG_L_ERROR, R_LEASE, R_CONN, sizeof(struct l_error), FD_NO,
	    PH_RUN, FIELDS(F_STR(l_error, message),
	    F_COUNT(l_error, answer, 0, 1))),
	MSG(IMSG_L_INCOMING, R_LEASE, R_CONN, sizeof(struct l_incoming),
	    FD_NO, PH_RUN, FIELDS(F_STR(l_incoming, alpn),
	    F_STR(l_incoming, from_id),
	    F_COUNT(l_incoming, nfrom_local, 0, ADDR_MAX_COUNT))),
	MSG(IMSG_L_CONNECTED, R_LEASE, R_CONN, sizeof(struct l_connected),
	    FD_NO, PH_RUN, FIELDS(F_STR(l_connected, id),
	    F_COUNT(l_connected, npeer_local, 0, ADDR_MAX_COUNT))),
	[IMSG_L_LEASELIST] = { "IMSG_L_LEASELIST", R_LEASE, R_CONN,
	    sizeof(struct l_leaselist), sizeof(struct l_leaseinfo),
	    offsetof(struct l_leaselist, n), LIST_PAGE, FD_NO, PH_RUN,
	    FIELDS(F_COUNT(l_leaselist, more, 0, 1)),
	    FIELDS(F_STR(l_leaseinfo, name), F_STR(l_leaseinfo, id),
	    F_STR(l_leaseinfo, description),
	    F_COUNT(l_leaseinfo, nalpn, 1, ALPN_MAX_COUNT),
	    F_STRV(l_leaseinfo, alpn, nalpn)) },
	MSG(IMSG_L_NOTICE, R_LEASE, R_CONN, sizeof(struct l_notice), FD_NO,
	    PH_RUN, FIELDS(F_STR(l_notice, message))),
	EMPTY(IMSG_L_KICK, R_LEASE, R_CONN, PH_RUN),
	EMPTY(IMSG_L_DONE, R_LEASE, R_CONN, PH_RUN),

	/* lease <-> fwd, conn -> fwd: a fwd worker may be new to the tree
	 * and meet sessions before its configuration is complete */
	MSG(IMSG_F_SESSION, R_LEASE, R_FWD, sizeof(struct f_session), FD_NO,
	    PH_ANY, NOFIELDS),
	MSG(IMSG_F_CANCEL, R_LEASE, R_FWD, sizeof(struct f_session_id), FD_NO,
	    PH_ANY, NOFIELDS),
	MSG(IMSG_F_KILL, R_LEASE, R_FWD, sizeof(struct f_session_id), FD_NO,
	    PH_ANY, NOFIELDS),
	MSG(IMSG_F_PAIRED, R_FWD, R_LEASE, sizeof(struct f_session_id), FD_NO,
	    PH_RUN, NOFIELDS),
	MSG(IMSG_F_ENDED, R_FWD, R_LEASE, sizeof(struct f_ended), FD_NO,
	    PH_RUN, FIELDS(F_STR(f_ended, reason),
	    F_COUNT(f_ended, paired, 0, 1))),
	MSG(IMSG_F_DATA_FD, R_CONN, R_FWD, sizeof(struct f_data), FD_YES,
	    PH_ANY, FIELDS(F_STR(f_data, addr))),
	EMPTY(IMSG_F_BYTES_REQ, R_LEASE, R_FWD, PH_ANY),
	MSG(IMSG_F_BYTES, R_FWD, R_LEASE, sizeof(struct f_bytes), FD_NO,
	    PH_RUN, NOFIELDS),
	EMPTY(IMSG_F_BYTES_END, R_FWD, R_LEASE, PH_RUN),

	/* statistics */
	EMPTY(IMSG_STATS_REQ, R_LEASE, R_CONN | R_FWD, PH_ANY),
	MSG(IMSG_STATS, R_CONN | R_FWD, R_LEASE, sizeof(struct ctl_stats),
	    FD_NO, PH_RUN, NOFIELDS),
};

const char *
msg_name(uint32_t type)
{
	if (type >= IMSG_MAX || msgtab[type].name == NULL)
		return "unknown";
	return msgtab[type].name + sizeof("IMSG_") - 1;
}

static int
fields_check(const struct msg_field *f, const uint8_t *p, const char **why)
{
	uint32_t	 v, i;

	for (; f != NULL && f->kind != MF_END; f++) {
		switch (f->kind) {
		case MF_STR:
			if (memchr(p + f->off, '\0', f->len) == NULL) {
				*why = "unterminated string";
				return -1;
			}
			break;
		case MF_COUNT:
			memcpy(&v, p + f->off, sizeof(v));
			if (v < f->min || v > f->max) {
				*why = "count out of range";
				return -1;
			}
			break;
		case MF_STRV:
			/* the count's own MF_COUNT row comes first */
			memcpy(&v, p + f->cnt, sizeof(v));
			for (i = 0; i < v; i++)
				if (memchr(p + f->off + i * f->len, '\0',
				    f->len) == NULL) {
					*why = "unterminated string in a list";
					return -1;
				}
			break;
		case MF_END:
			break;
		}
	}
	return 0;
}

/*
 * 0 when the message may go from `from` to `to` now, in this form;
 * -1 and a reason otherwise. `now`: PH_START before the worker (the
 * receiver, or for requests to the parent the sender) completed its first
 * configuration, then PH_RUN, with PH_TREE once every worker has.
 */
int
msg_check(enum proc_role to, enum proc_role from, int now,
    const struct imsg *imsg, const char **why)
{
	const struct msg_def	*d;
	uint32_t		 n, i;

	if (imsg->hdr.type >= IMSG_MAX ||
	    (d = &msgtab[imsg->hdr.type])->name == NULL) {
		*why = "unknown type";
		return -1;
	}
	if (!(d->from & (1 << from)) || !(d->to & (1 << to))) {
		*why = "wrong sender or receiver";
		return -1;
	}
	if (!(d->phase & now)) {
		*why = now == PH_START ? "not allowed during start-up" :
		    "only allowed during start-up";
		return -1;
	}
	if ((d->fd == FD_YES) != (imsg->fd != -1 || imsg->fd_lost)) {
		*why = d->fd == FD_YES ? "descriptor missing" :
		    "unexpected descriptor";
		return -1;
	}
	if (d->entry == 0) {
		if (imsg->len != d->size) {
			*why = "wrong size";
			return -1;
		}
		return fields_check(d->fields, imsg->data, why);
	}
	/* a fixed part with a count, then that many entries */
	if (imsg->len < d->size) {
		*why = "shorter than its fixed part";
		return -1;
	}
	memcpy(&n, imsg->data + d->entry_cnt, sizeof(n));
	if (n > d->entry_max || imsg->len != d->size + (size_t)n * d->entry) {
		*why = "entry count and size disagree";
		return -1;
	}
	if (fields_check(d->fields, imsg->data, why) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (fields_check(d->entry_fields, imsg->data + d->size +
		    (size_t)i * d->entry, why) == -1)
			return -1;
	return 0;
}
