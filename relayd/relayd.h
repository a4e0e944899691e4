/* SPDX-License-Identifier: ISC */
/*
 * relayd.h: the one private header of relayd: process roles and the
 * launcher's table, configuration, the internal message types with their
 * payloads, and the prototypes of every file, grouped by file.
 *
 * Internal payloads are fixed C structs. Every message is checked against
 * the message table (msgtab.c) before any dispatcher sees it: sender,
 * receiver, size, descriptor, phase, string termination and counts. A
 * dispatcher reads a payload only through imsg_get_data() (exact size).
 * A control client or a relay-ctl connection travels in the header's
 * peerid, never in a payload.
 */
#ifndef RELAYD_H
#define RELAYD_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "crypto.h"
#include "ctl.h"
#include "imsg.h"
#include "protocol.h"

#define RELAYD_USER		"_relayd"
#define RELAYD_CONF		RELAYD_SYSCONFDIR "/relayd.conf"
#define RELAYD_IDENTITY		RELAYD_LOCALSTATEDIR "/lib/relayd/identity"
#define RELAYD_SOCKET		RELAYD_RUNSTATEDIR "/relayd/relayd.sock"
#define RELAYD_CHROOT		RELAYD_RUNSTATEDIR "/relayd/empty"
#define RELAYD_MAX_WORKERS	32	/* per kind */
#define PARENT_FD		3	/* a worker's channel to the parent */

/* Respawn: at most RESPAWN_MAX restarts within RESPAWN_WINDOW seconds. */
#define RESPAWN_MAX		5
#define RESPAWN_WINDOW		60
/* An orderly stop: workers get this long to finish before SIGKILL. */
#define STOP_WAIT_MS		3000
/* A channel between workers: past this many queued bytes the receiver of
 * the requests that fill it stops reading them until it drains. */
#define CHANNEL_QUEUE_MAX	(4 * 1024 * 1024)
/* Descriptors a worker keeps for itself (channels, event loop, logs). */
#define NOFILE_RESERVE		32
#define FDS_PER_CONN		1
/*
 * A session holds its two sockets; a pipe only while bytes are in flight
 * (fwd.c), taken from the descriptors sessions leave over.
 */
#define FDS_PER_SESSION		2
/* A fwd worker gives sessions this share of its room; the rest is for
 * pipes in flight and data connections waiting for their other half. */
#define SESSION_ROOM_NUM	2
#define SESSION_ROOM_DEN	3

enum proc_role {
	ROLE_PARENT = 0,
	ROLE_LEASE,
	ROLE_CONN,
	ROLE_FWD,
	ROLE_MAX
};
#define R_PARENT	(1 << ROLE_PARENT)
#define R_LEASE		(1 << ROLE_LEASE)
#define R_CONN		(1 << ROLE_CONN)
#define R_FWD		(1 << ROLE_FWD)
#define R_WORKERS	(R_LEASE | R_CONN | R_FWD)

/* ---- configuration ---- */

struct listen_addr {
	TAILQ_ENTRY(listen_addr)	 entry;
	struct sockaddr_storage		 ss;
	socklen_t			 sslen;
	char				 host[64];	/* as printed */
	in_port_t			 port;		/* host order */
};

struct reservation {
	TAILQ_ENTRY(reservation)	 entry;
	char				 name[NAME_MAX_LEN + 1];
	char				 id[ID_BUFSZ];
};

struct allowed_id {
	TAILQ_ENTRY(allowed_id)		 entry;
	char				 id[ID_BUFSZ];
};

/*
 * Every number a worker needs: sent to each worker as one message. The
 * ranges and defaults of the ones a file can set are in config.c's
 * limit table, which parse.y, printconf.c and the tests read.
 */
struct relayd_limits {
	uint32_t	 lease_ttl_min;		/* lease ttl MIN max MAX */
	uint32_t	 lease_ttl_max;
	uint32_t	 leases_per_id;		/* lease limit N per id, M total */
	uint32_t	 leases_total;
	uint32_t	 sessions_per_lease;	/* session limit N per lease, M total */
	uint32_t	 sessions_total;
	uint32_t	 pending_per_lease;	/* pending limit N per lease, M per address */
	uint32_t	 pending_per_addr;
	uint32_t	 conns_per_addr;	/* connection limit N per address, M total */
	uint32_t	 conns_total;
	uint32_t	 conn_rate;		/* connection rate N (per listener, s) */
	uint32_t	 timeout_handshake;	/* timeout handshake N pairing N idle N session N */
	uint32_t	 timeout_pairing;
	uint32_t	 timeout_idle;
	uint32_t	 timeout_session;	/* 0: no idle limit on data sessions */
	uint32_t	 timeout_accept;	/* how long a holder has to Accept */
	uint32_t	 connect_rate;		/* connect rate N burst M (per ID) */
	uint32_t	 connect_burst;
	uint32_t	 register_any;		/* register allow any */
	uint32_t	 listing;		/* listing on|off */
	uint32_t	 direct_paths;		/* direct-paths yes|no */
	uint32_t	 workers_conn;		/* workers conn N fwd M */
	uint32_t	 workers_fwd;
	uint32_t	 sandbox_debug;		/* relayd -S: trap and log */
	/* derived by the parent from RLIMIT_NOFILE, not configured */
	uint32_t	 nofile;
	uint32_t	 conns_per_worker;
	uint32_t	 sessions_per_fwd;
};

struct relayd_config {
	struct relayd_limits		 lim;
	TAILQ_HEAD(, listen_addr)	 listens;
	TAILQ_HEAD(, reservation)	 reserved;
	TAILQ_HEAD(, allowed_id)	 allowed;
	char				 identity[PATH_MAX];
	char				 socket[PATH_MAX];
	char				 user[64];
	char				 chroot[PATH_MAX];
	char				 path[PATH_MAX];	/* the file read, "" for defaults */
};

/* One line of the limit table (config.c): a number relayd.conf sets. */
struct limit_def {
	const char	*name;		/* e.g. "session limit per lease" */
	const char	*what;		/* in errors: "session limit" */
	size_t		 offset;	/* in struct relayd_limits */
	uint32_t	 def;
	uint32_t	 min;
	uint32_t	 max;
};
extern const struct limit_def limit_defs[];
extern const size_t nlimit_defs;

/* ---- internal messages ---- */

enum imsg_type {
	IMSG_NONE = 0,
	/* parent -> worker */
	IMSG_PRIV,		/* struct priv_msg: first message, read blocking */
	IMSG_PEER_FD,		/* fd + struct peer_msg: a mesh channel */
	IMSG_PEER_GONE,		/* struct peer_msg: that worker died */
	IMSG_LISTENER_FD,	/* fd + struct listener_msg (conn) */
	IMSG_CONTROL_FD,	/* fd (lease): the control socket */
	IMSG_CFG_LIMITS,	/* struct relayd_limits: a configuration begins */
	IMSG_CFG_RESERVE,	/* struct reservation_msg (lease) */
	IMSG_CFG_ALLOW,		/* struct allow_msg (lease) */
	IMSG_CFG_INFO,		/* struct cfg_info (lease: for show summary) */
	IMSG_CFG_WORKER,	/* struct ctl_worker (lease: pids) */
	IMSG_CFG_END,		/* uint32 generation: configuration complete */
	IMSG_TREE_READY,	/* empty: every worker is configured: serve */
	IMSG_LOG_VERBOSE,	/* int32 */
	IMSG_STOP,		/* empty: finish what is owed, then exit */
	IMSG_SIGN_RESP,		/* struct sign_resp (parent -> conn) */
	IMSG_CTL_REPLY,		/* struct ctl_result (parent -> lease) */
	/* worker -> parent */
	IMSG_CFG_DONE,		/* uint32 generation: running with it */
	IMSG_SIGN_REQ,		/* struct sign_req (conn) */
	IMSG_CTL_RELOAD,	/* empty (lease), peerid: the relay-ctl client */
	IMSG_CTL_LOG,		/* int32 level (lease) */
	/* conn <-> lease, peerid: the control client */
	IMSG_L_HELLO,		/* struct l_hello: a control client authenticated */
	IMSG_L_GONE,		/* empty: it went away */
	IMSG_L_REGISTER,	/* struct l_register */
	IMSG_L_RENEW,		/* struct l_lease_op */
	IMSG_L_UNREGISTER,	/* struct l_lease_op */
	IMSG_L_CONNECT,		/* struct l_connect */
	IMSG_L_ACCEPT,		/* struct l_session_op */
	IMSG_L_REJECT,		/* struct l_reject */
	IMSG_L_LIST,		/* struct l_list */
	IMSG_L_PATH,		/* struct l_path: a holder's PathReport */
	IMSG_L_REGISTERED,	/* struct l_registered */
	IMSG_L_ACK,		/* struct l_ack */
	IMSG_L_ERROR,		/* struct l_error */
	IMSG_L_INCOMING,	/* struct l_incoming */
	IMSG_L_CONNECTED,	/* struct l_connected */
	IMSG_L_LEASELIST,	/* struct l_leaselist + entries: one page */
	IMSG_L_NOTICE,		/* struct l_notice */
	IMSG_L_KICK,		/* empty: close this client */
	IMSG_L_DONE,		/* empty: an Accept or Reject went through */
	/* lease <-> fwd, conn -> fwd */
	IMSG_F_SESSION,		/* struct f_session: tokens of a new session */
	IMSG_F_CANCEL,		/* struct f_session_id */
	IMSG_F_KILL,		/* struct f_session_id */
	IMSG_F_PAIRED,		/* struct f_session_id (fwd -> lease) */
	IMSG_F_ENDED,		/* struct f_ended (fwd -> lease) */
	IMSG_F_DATA_FD,		/* fd + struct f_data (conn -> fwd) */
	IMSG_F_BYTES_REQ,	/* empty, peerid: relay-ctl client */
	IMSG_F_BYTES,		/* struct f_bytes, one per paired session */
	IMSG_F_BYTES_END,	/* empty: that was all */
	/* statistics, lease <-> every other worker, peerid: relay-ctl client */
	IMSG_STATS_REQ,		/* empty */
	IMSG_STATS,		/* struct ctl_stats */
	IMSG_MAX
};

struct priv_msg {
	char		 user[64];
	char		 chroot[PATH_MAX];
	int32_t		 sandbox_debug;
	int32_t		 verbose;
	uint8_t		 relay_pk[ED25519_PK_LEN];	/* public half only */
};

struct peer_msg {
	int32_t		 role;		/* enum proc_role of the other end */
	int32_t		 index;
};

struct listener_msg {
	char		 name[64];
};

struct reservation_msg {
	char		 name[NAME_MAX_LEN + 1];
	char		 id[ID_BUFSZ];
};

struct allow_msg {
	char		 id[ID_BUFSZ];
};

struct cfg_info {
	int64_t		 started;
	char		 relay_id[ID_BUFSZ];
	int32_t		 parent_pid;
	int32_t		 relay_uid;	/* uid allowed changing ctl commands */
	uint32_t	 nlisteners;
	char		 listeners[CTL_MAX_LISTENERS][64];
	uint64_t	 respawns;
};

struct sign_req {
	uint8_t		 h[HS_HASH_LEN];
};

struct sign_resp {
	uint8_t		 sig[ED25519_SIG_LEN];
};

struct wire_addr {
	uint8_t		 ip[16];
	uint8_t		 len;		/* 0 (none), 4 or 16 */
	uint16_t	 port;
};

struct l_hello {
	char		 id[ID_BUFSZ];
	char		 addr[64];
	struct wire_addr waddr;
};

struct l_register {
	uint32_t	 request_id;
	char		 name[NAME_MAX_LEN + 1];
	char		 alpn[ALPN_MAX_COUNT][ALPN_MAX_LEN + 1];
	uint32_t	 nalpn;
	uint32_t	 ttl;
	char		 description[DESC_MAX_LEN + 1];
	uint32_t	 hidden;
	struct wire_addr local[ADDR_MAX_COUNT];
	uint32_t	 nlocal;
};

struct l_lease_op {
	uint32_t	 request_id;
	uint8_t		 lease_id[LEASE_ID_LEN];
};

struct l_connect {
	uint32_t	 request_id;
	uint32_t	 by_name;
	char		 target[NAME_MAX_LEN + 1];	/* a name or an ID */
	char		 alpn[ALPN_MAX_LEN + 1];
	struct wire_addr local[ADDR_MAX_COUNT];	/* for direct paths */
	uint32_t	 nlocal;
	uint32_t	 direct;		/* the requester tries them */
};

struct l_session_op {
	uint8_t		 session_id[SESSION_ID_LEN];
	uint32_t	 direct;		/* Accept: the holder tries them */
};

struct l_path {
	uint8_t		 session_id[SESSION_ID_LEN];
	int32_t		 outcome;		/* relay.v1 PathOutcome */
};

struct l_reject {
	uint8_t		 session_id[SESSION_ID_LEN];
	char		 reason[REASON_MAX_LEN + 1];
};

struct l_list {
	uint32_t	 request_id;
	uint32_t	 offset;
};

struct l_registered {
	uint32_t	 request_id;
	uint8_t		 lease_id[LEASE_ID_LEN];
	char		 name[NAME_MAX_LEN + 1];
	uint32_t	 ttl;
	uint64_t	 expires;
};

struct l_ack {
	uint32_t	 request_id;
};

struct l_error {
	uint32_t	 request_id;
	int32_t		 code;		/* relay.v1 ErrorCode */
	uint32_t	 answer;	/* it answers a request in flight */
	char		 message[REASON_MAX_LEN + 1];
};

struct l_incoming {
	uint8_t		 session_id[SESSION_ID_LEN];
	uint8_t		 lease_id[LEASE_ID_LEN];
	char		 alpn[ALPN_MAX_LEN + 1];
	char		 from_id[ID_BUFSZ];
	struct wire_addr from_addr;
	uint8_t		 token[TOKEN_LEN];
	uint32_t	 deadline_ms;
	struct wire_addr from_local[ADDR_MAX_COUNT];
	uint32_t	 nfrom_local;
	uint32_t	 direct;
};

struct l_connected {
	uint32_t	 request_id;
	uint8_t		 session_id[SESSION_ID_LEN];
	char		 id[ID_BUFSZ];
	struct wire_addr peer_addr;
	uint8_t		 token[TOKEN_LEN];
	struct wire_addr peer_local[ADDR_MAX_COUNT];
	uint32_t	 npeer_local;
	uint32_t	 direct;
};

#define LIST_PAGE	20	/* leases per LeaseList: always fits one record */

struct l_leaseinfo {
	LEASE_DESC_MEMBERS;
	uint64_t	 expires;
};

/* One page of a listing, its entries right behind it. */
struct l_leaselist {
	uint32_t	 request_id;
	uint32_t	 more;
	uint32_t	 n;		/* entries that follow, at most LIST_PAGE */
	uint32_t	 pad;		/* entries start 8-byte aligned */
};

struct l_notice {
	int32_t		 kind;		/* relay.v1 Notice.Kind */
	uint8_t		 lease_id[LEASE_ID_LEN];
	char		 message[REASON_MAX_LEN + 1];
};

struct f_session {
	uint8_t		 session_id[SESSION_ID_LEN];
	uint8_t		 token_i[TOKEN_LEN];	/* requester */
	uint8_t		 token_r[TOKEN_LEN];	/* lease holder */
	uint32_t	 deadline_ms;		/* from now, to pair both halves */
};

struct f_session_id {
	uint8_t		 session_id[SESSION_ID_LEN];
};

struct f_ended {
	uint8_t		 session_id[SESSION_ID_LEN];
	uint64_t	 bytes_i2r;
	uint64_t	 bytes_r2i;
	int32_t		 paired;
	char		 reason[64];
};

struct f_bytes {
	uint8_t		 session_id[SESSION_ID_LEN];
	uint64_t	 bytes_i2r;
	uint64_t	 bytes_r2i;
};

struct f_data {
	uint8_t		 token[TOKEN_LEN];
	char		 addr[64];
};

/* ---- processes: the launcher's table and each worker's channels ---- */

struct peer {
	enum proc_role	 role;
	int		 index;
	struct imsgbuf	 ibuf;
	struct event	*ev_read;
	struct event	*ev_write;	/* only while the socket is full */
	int		 reading;
	int		 writing;
	TAILQ_ENTRY(peer) flush_entry;	/* queued output, flushed once */
	int		 flush_queued;
	int		 connected;
	int		 paused;	/* we stopped reading it */
	int		 backlog;	/* our queue to it is past the bound */
};

typedef void (*peer_dispatch_fn)(struct peer *, struct imsg *);

/*
 * A worker role, declared by its own file (lease.c, conn.c, fwd.c).
 * proc.c starts the instances the limits ask for (proc_role_count()),
 * links every pair of roles
 * that name each other in peers, passes descriptors only on the channels
 * fd_peers names, and hands each message to dispatch[sender's role].
 */
struct proc {
	int		 peers;		/* R_* of the roles it has channels to */
	int		 fd_peers;	/* R_* of those that pass descriptors */
	int		 pause_peers;	/* R_*: not read while our queue to
					 * them is past CHANNEL_QUEUE_MAX */
	void		 (*init)(void);		/* before the sandbox */
	void		 (*configured)(int first);
	void		 (*serve)(void);	/* the whole tree is configured */
	void		 (*peer_gone)(enum proc_role, int);
	void		 (*drained)(struct peer *);	/* its queue went down */
	void		 (*stop)(void);		/* an orderly stop begins */
	peer_dispatch_fn dispatch[ROLE_MAX];
};
extern const struct proc lease_proc, conn_proc, fwd_proc;
extern const struct proc *const procs[ROLE_MAX];

struct relayd_worker {
	enum proc_role	 role;
	int		 index;
	struct event_base *base;
	struct peer	 parent;
	struct peer	*lease;				/* NULL in the lease itself */
	struct peer	*conn[RELAYD_MAX_WORKERS];
	struct peer	*fwd[RELAYD_MAX_WORKERS];
	struct relayd_limits lim;
	struct ctl_stats stats;
	uint32_t	 generation;		/* of the configuration in use */
	int		 configured;
	int		 serving;		/* TREE_READY came */
	int		 stopping;
};

extern struct relayd_worker *worker;
extern uint8_t relay_pk[ED25519_PK_LEN];
extern const char *role_names[];

/* A worker the parent started (proc.c). */
struct child {
	enum proc_role	 role;
	int		 index;
	pid_t		 pid;
	struct imsgbuf	 ibuf;
	struct event	*ev;
	short		 events;
	int		 alive;		/* its channel is open */
	int		 running;	/* acknowledged its first configuration */
	uint32_t	 generation;	/* the last configuration it acknowledged */
	time_t		 started;
	uint32_t	 respawns;
};

/* What the parent's role (relayd.c) gives the launcher. */
struct parent_ops {
	void	 (*setup)(struct child *);	/* descriptors, then config */
	void	 (*dispatch)(struct child *, struct imsg *);
	void	 (*tree_ready)(void);		/* every child acknowledged */
	__attribute__((noreturn)) void (*shutdown)(int status);
};

/* relayd.c (parent) */
__attribute__((noreturn)) void parent_main(struct relayd_config *, int, int,
	    const char *);

/* msgtab.c: phases of a process, for msg_check() */
#define PH_START	0x1	/* its first configuration is not complete */
#define PH_RUN		0x2	/* it is configured */
#define PH_TREE		0x4	/* and so is every worker (the parent's view) */
const char *msg_name(uint32_t);
int	 msg_check(enum proc_role to, enum proc_role from, int now,
	    const struct imsg *, const char **why);

/* proc.c: the parent's side, the launcher */
void	 proc_init(struct event_base *, const char *self,
	    const struct priv_msg *, const struct relayd_limits *,
	    const struct parent_ops *);
void	 proc_start(void);
void	 proc_reap(void);
__attribute__((noreturn)) void proc_shutdown(int status);
void	 proc_child_send(struct child *, uint32_t, uint32_t, int,
	    const void *, size_t);
void	 proc_broadcast(uint32_t, const void *, size_t);
struct child *proc_child(enum proc_role, int);
int	 proc_nchildren(void);
struct child *proc_child_at(int);
uint64_t proc_respawns(void);
void	 proc_child_kill(struct child *, const char *);
void	 proc_set_limits(const struct relayd_limits *);

/* proc.c: the worker's side */
__attribute__((noreturn)) void worker_main(enum proc_role, int, int);
void	 peer_compose(struct peer *, uint32_t, uint32_t, int, const void *,
	    size_t);
int	 peer_up(const struct peer *);
void	 peer_pause(struct peer *, int);
size_t	 peer_queued(const struct peer *);
int	 peer_backlogged(const struct peer *);
struct peer *peer_for(enum proc_role, int);
__attribute__((noreturn)) void bad_imsg(struct peer *, struct imsg *,
	    const char *);

/* event_free() for an event that may not have been made. */
static inline void
event_free_opt(struct event *ev)
{
	if (ev != NULL)
		event_free(ev);
}

/* Exactly len bytes of imsg's data into data, or p sent a bad message. */
static inline void
peer_get_data(struct peer *p, struct imsg *imsg, void *data, size_t len)
{
	if (imsg_get_data(imsg, data, len) == -1)
		bad_imsg(p, imsg, "size");
}
__attribute__((noreturn)) void worker_exit(void);
void	 stats_add(struct ctl_stats *, const struct ctl_stats *);
void	 wire_addr_from_sockaddr(struct wire_addr *, const struct sockaddr *);
void	 proc_title_init(int, char *[]);
void	 proc_title(const char *);

/* privdrop.c */
void	 privdrop(const struct priv_msg *, const char *);
void	 chroot_setup(const char *);

/* sandbox.c */
extern int sandbox_landlock_abi;
void	 sandbox_apply(enum proc_role, int debug);
void	 sandbox_apply_unfiltered(enum proc_role);
int	 sandbox_count(enum proc_role);
void	 sandbox_landlock(void);
int	 sandbox_landlock_probe(void);

/* lease.c */
enum session_state {
	SESS_PENDING,		/* Incoming sent, waiting for Accept/Reject */
	SESS_ACCEPTED,		/* Connected sent, waiting for both halves */
	SESS_PAIRED		/* forwarding */
};

struct addr_pending {			/* pending sessions per source address */
	RB_ENTRY(addr_pending)	 entry;
	uint8_t			 key[17];
	uint32_t		 count;
};

struct holder {				/* an authenticated control client */
	RB_ENTRY(holder)	 entry;
	int			 conn;
	uint32_t		 cid;
	char			 id[ID_BUFSZ];
	char			 addr[64];
	struct wire_addr	 waddr;
	time_t			 since;
	TAILQ_HEAD(, lease)	 leases;
	TAILQ_HEAD(, session)	 requested;	/* sessions it asked for, pending */
	struct id_count		*idc;
};

struct id_count {			/* leases per ID */
	RB_ENTRY(id_count)	 entry;
	char			 id[ID_BUFSZ];
	uint32_t		 leases;
	TAILQ_HEAD(, lease)	 list;		/* oldest first */
};

struct lease {
	RB_ENTRY(lease)		 id_entry;
	RB_ENTRY(lease)		 name_entry;
	TAILQ_ENTRY(lease)	 all_entry;	/* oldest first */
	TAILQ_ENTRY(lease)	 holder_entry;
	TAILQ_ENTRY(lease)	 idc_entry;
	uint8_t			 lease_id[LEASE_ID_LEN];
	LEASE_DESC_MEMBERS;
	int			 hidden;
	struct wire_addr	 local[ADDR_MAX_COUNT];
	uint32_t		 nlocal;
	uint32_t		 ttl;
	time_t			 created;
	time_t			 expires;
	uint32_t		 nsessions;	/* accepted or paired */
	uint32_t		 npending;	/* not yet paired */
	TAILQ_HEAD(, session)	 pending;	/* oldest first */
	TAILQ_HEAD(, session)	 paired;
	struct holder		*holder;
	struct id_count		*idc;
	struct event		*ev_expire;
};

struct session {
	RB_ENTRY(session)	 entry;
	TAILQ_ENTRY(session)	 lease_entry;	/* lease's pending or paired */
	TAILQ_ENTRY(session)	 req_entry;	/* requester's pending */
	uint8_t			 session_id[SESSION_ID_LEN];
	uint8_t			 lease_id[LEASE_ID_LEN];
	struct lease		*lease;		/* NULL once the lease ended */
	struct holder		*requester;	/* NULL once it went away */
	struct addr_pending	*ap;		/* while pending */
	char			 lease_name[NAME_MAX_LEN + 1];
	char			 from_id[ID_BUFSZ];
	char			 to_id[ID_BUFSZ];
	char			 alpn[ALPN_MAX_LEN + 1];
	uint8_t			 token_i[TOKEN_LEN];
	uint8_t			 token_r[TOKEN_LEN];
	uint32_t		 fwd;
	int			 req_conn;
	uint32_t		 req_cid;
	uint32_t		 request_id;
	enum session_state	 state;
	int			 counted;	/* in its lease's nsessions */
	int			 direct;	/* the holder says it went direct */
	time_t			 created;
	struct event		*ev_timer;
	struct wire_addr	 req_local[ADDR_MAX_COUNT];	/* its Connect's */
	uint32_t		 req_nlocal;
	int			 direct_offer;	/* the requester and the relay */
	int			 direct_agreed;	/* ... and the holder: they try */
	int			 path_reported;	/* direct or relayed, counted */
};

struct bucket {				/* connect rate per requester ID */
	RB_ENTRY(bucket)	 entry;
	char			 id[ID_BUFSZ];
	double			 tokens;
	double			 last;
};

/* The lease worker's trees: name, element, entry and comparison. */
#define LEASE_TREES(X)							\
	X(lease_id_tree, lease, id_entry, lease_id_cmp)			\
	X(lease_name_tree, lease, name_entry, lease_name_cmp)		\
	X(holder_tree, holder, entry, holder_cmp)			\
	X(session_tree, session, entry, session_cmp)			\
	X(bucket_tree, bucket, entry, bucket_cmp)			\
	X(id_count_tree, id_count, entry, id_count_cmp)			\
	X(addr_pending_tree, addr_pending, entry, addr_pending_cmp)

#define LEASE_TREE_DECLARE(name, type, field, cmp)			\
	RB_HEAD(name, type);						\
	RB_PROTOTYPE(name, type, field, cmp)

/* A tree's order: a key member compared as bytes, or as a string. */
#define TREE_CMP_BYTES(cmp, type, key)					\
static int								\
cmp(struct type *a, struct type *b)					\
{									\
	return memcmp(a->key, b->key, sizeof(a->key));			\
}
#define TREE_CMP_STRING(cmp, type, key)					\
static int								\
cmp(struct type *a, struct type *b)					\
{									\
	return strcmp(a->key, b->key);					\
}

LEASE_TREES(LEASE_TREE_DECLARE)

struct lease_state {
	struct lease_id_tree	 by_id;
	struct lease_name_tree	 by_name;
	struct holder_tree	 holders;
	struct session_tree	 sessions;
	struct bucket_tree	 buckets;
	struct id_count_tree	 ids;
	struct addr_pending_tree pending_addrs;
	TAILQ_HEAD(, lease)	 all;
	TAILQ_HEAD(, reservation) reserved;
	TAILQ_HEAD(, allowed_id) allowed;
	TAILQ_HEAD(, reservation) new_reserved;	/* a configuration in transit */
	TAILQ_HEAD(, allowed_id) new_allowed;
	uint32_t		 nleases;
	uint32_t		 nsessions;
	uint32_t		 nholders;
	uint32_t		 fwd_sessions[RELAYD_MAX_WORKERS];
	struct cfg_info		 info;
	struct ctl_worker	 workers[CTL_MAX_WORKERS];
	uint32_t		 nworkers;
};
extern struct lease_state ls;

struct lease *lease_find_id(const uint8_t *);
struct lease *lease_find_name(const char *);
struct session *session_find(const uint8_t *);
void	 lease_remove(struct lease *, const char *);
void	 session_remove(struct session *, int);
int	 lease_revoke(const char *);
int	 session_kill(const uint8_t *);
int	 lease_conn_up(int);

/* conn.c */
int	 conn_listener_open(const struct listen_addr *, int *, int);
void	 conn_listener_defer(int);
void	 conn_listener_label(const struct listen_addr *, char *, size_t);

/* control.c */
int	 control_open(const char *, int as_root, gid_t);
void	 control_init(int fd);
void	 control_start(void);
void	 control_stats_reply(struct peer *, struct imsg *);
void	 control_bytes_reply(struct peer *, struct imsg *);
void	 control_peer_gone(enum proc_role, int);
void	 control_event(int, const char *, const char *, const uint8_t *,
	    const char *);
void	 control_reply_from_parent(uint32_t, const struct ctl_result *);

/* config.c */
void	 config_defaults(struct relayd_config *, int as_root);
void	 config_clear(struct relayd_config *);
int	 config_check(struct relayd_config *, char *, size_t);
int	 config_merge(struct relayd_config *cur, struct relayd_config *next);
void	 config_send(struct child *, const struct relayd_config *, uint32_t);
uint32_t *limit_field(struct relayd_limits *, const struct limit_def *);
int	 config_file_secure(const char *, int as_root, char *, size_t);

/* parse.y */
int	 parse_config(const char *, struct relayd_config *, int as_root);
int	 cmdline_symset(const char *);
const char *parse_first_error(int *);

/* printconf.c */
void	 print_config(const struct relayd_config *);

/* activate.c */
int	 activate_listeners(int *, char [][64], int, char *, size_t);

/* notify.c */
void	 notify_send(const char *);
void	 notify_status(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif /* RELAYD_H */
