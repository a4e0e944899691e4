/* SPDX-License-Identifier: ISC */
/*
 * relayd.h: the one private header of relayd: configuration, the
 * internal message types and their payloads, and the prototypes of every
 * file, grouped by file.
 *
 * Internal payloads are fixed C structs, read only through imsg_get_data()
 * (exact size). Strings in them are NUL-terminated inside their array;
 * a receiver checks that before use (see str_terminated()).
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
#define EXIT_PEER_GONE		3	/* a worker's status when another died */

enum proc_role {
	ROLE_PARENT = 0,
	ROLE_LEASE,
	ROLE_CONN,
	ROLE_FWD
};

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

/* Every number a worker needs: sent to each worker as one message. */
struct relayd_limits {
	uint32_t	 lease_ttl_min;		/* lease ttl MIN max MAX */
	uint32_t	 lease_ttl_max;
	uint32_t	 leases_per_id;		/* lease limit N per id, M total */
	uint32_t	 leases_total;
	uint32_t	 sessions_per_lease;	/* session limit N per lease, M total */
	uint32_t	 sessions_total;
	uint32_t	 conns_per_addr;	/* connection limit N per address, M total */
	uint32_t	 conns_total;
	uint32_t	 timeout_handshake;	/* timeout handshake N pairing N idle N session N */
	uint32_t	 timeout_pairing;
	uint32_t	 timeout_idle;
	uint32_t	 timeout_session;	/* 0: no idle limit on data sessions */
	uint32_t	 timeout_accept;	/* how long a holder has to Accept */
	uint32_t	 connect_rate;		/* connect rate N burst M (per ID) */
	uint32_t	 connect_burst;
	uint32_t	 register_any;		/* register allow any */
	uint32_t	 listing;		/* listing on|off */
	uint32_t	 workers_conn;		/* workers conn N fwd M */
	uint32_t	 workers_fwd;
	uint32_t	 sandbox_debug;		/* sandbox debug: trap and log */
	uint32_t	 direct_paths;		/* direct-paths on|off */
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

/* Defaults (DESIGN 6); relayd.conf(5) must say the same. */
#define DEF_LEASE_TTL_MIN	60
#define DEF_LEASE_TTL_MAX	3600
#define DEF_LEASES_PER_ID	16
#define DEF_LEASES_TOTAL	100000
#define DEF_SESSIONS_PER_LEASE	256
#define DEF_SESSIONS_TOTAL	100000
#define DEF_CONNS_PER_ADDR	64
#define DEF_CONNS_TOTAL		10000
#define DEF_TIMEOUT_HANDSHAKE	HANDSHAKE_DEADLINE
#define DEF_TIMEOUT_PAIRING	TOKEN_LIFETIME
#define DEF_TIMEOUT_IDLE	DEFAULT_IDLE_TIMEOUT
#define DEF_TIMEOUT_SESSION	3600
#define DEF_TIMEOUT_ACCEPT	10
#define DEF_CONNECT_RATE	10
#define DEF_CONNECT_BURST	20

/* ---- internal messages ---- */

enum imsg_type {
	IMSG_NONE = 0,
	/* parent -> worker, start-up */
	IMSG_PRIV,		/* struct priv_msg: first message, read blocking */
	IMSG_PEER_FD,		/* fd + struct peer_msg: a mesh channel */
	IMSG_LISTENER_FD,	/* fd + struct listener_msg (conn) */
	IMSG_CONTROL_FD,	/* fd (lease): the control socket */
	IMSG_CFG_LIMITS,	/* struct relayd_limits */
	IMSG_CFG_RESERVE,	/* struct reservation_msg */
	IMSG_CFG_ALLOW,		/* struct allow_msg */
	IMSG_CFG_INFO,		/* struct cfg_info (lease: for show summary) */
	IMSG_CFG_WORKER,	/* struct ctl_worker (lease: pids) */
	IMSG_CFG_END,		/* empty: configuration complete */
	IMSG_LOG_VERBOSE,	/* int32 */
	/* worker -> parent */
	IMSG_READY,		/* empty: configured and serving */
	IMSG_SIGN_REQ,		/* struct sign_req (conn) */
	IMSG_SIGN_RESP,		/* struct sign_resp (parent -> conn) */
	IMSG_CTL_RELOAD,	/* struct ctl_fwd (lease -> parent) */
	IMSG_CTL_LOG,		/* struct ctl_fwd + level (lease -> parent) */
	IMSG_CTL_REPLY,		/* struct ctl_fwd_reply (parent -> lease) */
	/* conn <-> lease */
	IMSG_L_HELLO,		/* struct l_hello: a control client authenticated */
	IMSG_L_GONE,		/* struct l_client: it went away */
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
	IMSG_L_LEASEINFO,	/* struct l_leaseinfo */
	IMSG_L_LIST_END,	/* struct l_list_end */
	IMSG_L_NOTICE,		/* struct l_notice */
	IMSG_L_KICK,		/* struct l_client: close this client */
	IMSG_L_DONE,		/* struct l_client: an Accept/Reject went through */
	/* lease <-> fwd, conn -> fwd */
	IMSG_F_SESSION,		/* struct f_session: tokens of a new session */
	IMSG_F_CANCEL,		/* struct f_session_id */
	IMSG_F_KILL,		/* struct f_session_id */
	IMSG_F_PAIRED,		/* struct f_session_id (fwd -> lease) */
	IMSG_F_ENDED,		/* struct f_ended (fwd -> lease) */
	IMSG_F_DATA_FD,		/* fd + struct f_data (conn -> fwd) */
	IMSG_F_BYTES_REQ,	/* struct stats_req: live byte counts, please */
	IMSG_F_BYTES,		/* struct f_bytes, one per paired session */
	IMSG_F_BYTES_END,	/* struct stats_req: that was all */
	/* statistics, lease <-> every other worker */
	IMSG_STATS_REQ,		/* struct stats_req */
	IMSG_STATS,		/* struct stats_msg */
	IMSG_MAX
};

struct priv_msg {
	char		 user[64];
	char		 chroot[PATH_MAX];
	int32_t		 sandbox_debug;
	int32_t		 verbose;
	int32_t		 root;		/* the parent runs as root */
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
};

struct sign_req {
	uint32_t	 reqid;
	uint8_t		 h[HS_HASH_LEN];
};

struct sign_resp {
	uint32_t	 reqid;
	uint8_t		 sig[ED25519_SIG_LEN];
};

struct ctl_fwd {
	uint32_t	 ctlid;		/* the lease's control client */
	int32_t		 arg;
};

struct ctl_fwd_reply {
	uint32_t	 ctlid;
	struct ctl_result result;
};

struct wire_addr {
	uint8_t		 ip[16];
	uint8_t		 len;		/* 0 (none), 4 or 16 */
	uint16_t	 port;
};

/* A control client is (conn worker, client id); the peerid carries neither. */
struct l_client {
	uint32_t	 cid;
};

struct l_hello {
	uint32_t	 cid;
	char		 id[ID_BUFSZ];
	char		 addr[64];
	struct wire_addr waddr;
};

struct l_register {
	uint32_t	 cid;
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
	uint32_t	 cid;
	uint32_t	 request_id;
	uint8_t		 lease_id[LEASE_ID_LEN];
};

struct l_connect {
	uint32_t	 cid;
	uint32_t	 request_id;
	uint32_t	 by_name;
	char		 target[NAME_MAX_LEN + 1];	/* a name or an ID */
	char		 alpn[ALPN_MAX_LEN + 1];
	struct wire_addr local[ADDR_MAX_COUNT];	/* for direct paths */
	uint32_t	 nlocal;
	uint32_t	 direct;		/* the requester tries them */
};

struct l_session_op {
	uint32_t	 cid;
	uint8_t		 session_id[SESSION_ID_LEN];
	uint32_t	 direct;		/* Accept: the holder tries them */
};

struct l_path {
	uint32_t	 cid;
	uint8_t		 session_id[SESSION_ID_LEN];
	int32_t		 outcome;		/* relay.v1 PathOutcome */
};

struct l_reject {
	uint32_t	 cid;
	uint8_t		 session_id[SESSION_ID_LEN];
	char		 reason[REASON_MAX_LEN + 1];
};

struct l_list {
	uint32_t	 cid;
	uint32_t	 request_id;
	uint32_t	 offset;
};

struct l_registered {
	uint32_t	 cid;
	uint32_t	 request_id;
	uint8_t		 lease_id[LEASE_ID_LEN];
	char		 name[NAME_MAX_LEN + 1];
	uint32_t	 ttl;
	uint64_t	 expires;
};

struct l_ack {
	uint32_t	 cid;
	uint32_t	 request_id;
};

struct l_error {
	uint32_t	 cid;
	uint32_t	 request_id;
	int32_t		 code;		/* relay.v1 ErrorCode */
	uint32_t	 answer;	/* it answers a request in flight */
	char		 message[REASON_MAX_LEN + 1];
};

struct l_incoming {
	uint32_t	 cid;
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
	uint32_t	 cid;
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
	uint32_t	 cid;
	uint32_t	 request_id;
	char		 name[NAME_MAX_LEN + 1];
	char		 id[ID_BUFSZ];
	char		 alpn[ALPN_MAX_COUNT][ALPN_MAX_LEN + 1];
	uint32_t	 nalpn;
	char		 description[DESC_MAX_LEN + 1];
	uint64_t	 expires;
};

struct l_list_end {
	uint32_t	 cid;
	uint32_t	 request_id;
	uint32_t	 more;
};

struct l_notice {
	uint32_t	 cid;
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
	uint32_t	 ctlid;
	uint8_t		 session_id[SESSION_ID_LEN];
	uint64_t	 bytes_i2r;
	uint64_t	 bytes_r2i;
};

struct f_data {
	uint8_t		 token[TOKEN_LEN];
	char		 addr[64];
};

struct stats_req {
	uint32_t	 ctlid;
};

struct stats_msg {
	uint32_t	 ctlid;
	struct ctl_stats stats;
};

/* ---- per-process state shared by the files of one worker ---- */

struct peer {
	enum proc_role	 role;
	int		 index;
	struct imsgbuf	 ibuf;
	struct event	*ev;
	short		 events;
	int		 connected;
};

typedef void (*peer_dispatch_fn)(struct peer *, struct imsg *);

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
	int		 configured;
};

extern struct relayd_worker *worker;
extern uint8_t relay_pk[ED25519_PK_LEN];
extern const char *role_names[];

/* relayd.c (parent) */
__attribute__((noreturn)) void parent_main(struct relayd_config *, int, int,
	    const char *);

/* proc.c */
__attribute__((noreturn)) void worker_main(enum proc_role, int, int);
void	 peer_init(struct peer *, enum proc_role, int, int, int,
	    peer_dispatch_fn);
void	 peer_compose(struct peer *, uint32_t, int, const void *, size_t);
void	 peer_update(struct peer *);
void	 peer_set_dispatch(peer_dispatch_fn);
struct peer *peer_for(enum proc_role, int);
int	 str_terminated(const char *, size_t);
void	 worker_send_stats(struct peer *, uint32_t);
__attribute__((noreturn)) void bad_imsg(struct peer *, struct imsg *,
	    const char *);
void	 stats_add(struct ctl_stats *, const struct ctl_stats *);
void	 wire_addr_from_sockaddr(struct wire_addr *, const struct sockaddr *);
void	 sockaddr_str(const struct sockaddr *, char *, size_t);

/* privdrop.c */
void	 privdrop(const struct priv_msg *, const char *);

/* sandbox.c */
extern int sandbox_landlock_abi;
void	 sandbox_apply(enum proc_role, int debug);
int	 sandbox_count(enum proc_role);
void	 sandbox_landlock(void);

/* lease.c */
enum session_state {
	SESS_PENDING,		/* Incoming sent, waiting for Accept/Reject */
	SESS_ACCEPTED,		/* Connected sent, waiting for both halves */
	SESS_PAIRED		/* forwarding */
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
};

struct lease {
	RB_ENTRY(lease)		 id_entry;
	RB_ENTRY(lease)		 name_entry;
	TAILQ_ENTRY(lease)	 all_entry;	/* oldest first */
	TAILQ_ENTRY(lease)	 holder_entry;
	uint8_t			 lease_id[LEASE_ID_LEN];
	char			 name[NAME_MAX_LEN + 1];
	char			 id[ID_BUFSZ];
	char			 alpn[ALPN_MAX_COUNT][ALPN_MAX_LEN + 1];
	uint32_t		 nalpn;
	char			 description[DESC_MAX_LEN + 1];
	int			 hidden;
	struct wire_addr	 local[ADDR_MAX_COUNT];
	uint32_t		 nlocal;
	uint32_t		 ttl;
	time_t			 created;
	time_t			 expires;
	uint32_t		 nsessions;
	struct holder		*holder;
	struct event		*ev_expire;
};

struct session {
	RB_ENTRY(session)	 entry;
	uint8_t			 session_id[SESSION_ID_LEN];
	uint8_t			 lease_id[LEASE_ID_LEN];
	struct lease		*lease;		/* NULL once the lease ended */
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
	time_t			 created;
	struct event		*ev_timer;
	int			 direct_offer;	/* the requester and the relay */
	int			 direct;	/* ... and the holder: they try */
	int			 on_direct;	/* the holder says it went direct */
	int			 path_reported;	/* direct or relayed, counted */
};

struct bucket {				/* connect rate per requester ID */
	RB_ENTRY(bucket)	 entry;
	char			 id[ID_BUFSZ];
	double			 tokens;
	double			 last;
};

RB_HEAD(lease_id_tree, lease);
RB_HEAD(lease_name_tree, lease);
RB_HEAD(holder_tree, holder);
RB_HEAD(session_tree, session);
RB_HEAD(bucket_tree, bucket);
int	 lease_id_cmp(struct lease *, struct lease *);
int	 lease_name_cmp(struct lease *, struct lease *);
int	 holder_cmp(struct holder *, struct holder *);
int	 session_cmp(struct session *, struct session *);
int	 bucket_cmp(struct bucket *, struct bucket *);
RB_PROTOTYPE(lease_id_tree, lease, id_entry, lease_id_cmp)
RB_PROTOTYPE(lease_name_tree, lease, name_entry, lease_name_cmp)
RB_PROTOTYPE(holder_tree, holder, entry, holder_cmp)
RB_PROTOTYPE(session_tree, session, entry, session_cmp)
RB_PROTOTYPE(bucket_tree, bucket, entry, bucket_cmp)

struct lease_state {
	struct lease_id_tree	 by_id;
	struct lease_name_tree	 by_name;
	struct holder_tree	 holders;
	struct session_tree	 sessions;
	struct bucket_tree	 buckets;
	TAILQ_HEAD(, lease)	 all;
	TAILQ_HEAD(, reservation) reserved;
	TAILQ_HEAD(, allowed_id) allowed;
	TAILQ_HEAD(, reservation) new_reserved;	/* a configuration in transit */
	TAILQ_HEAD(, allowed_id) new_allowed;
	uint32_t		 nleases;
	uint32_t		 nsessions;
	uint32_t		 nholders;
	struct cfg_info		 info;
	struct ctl_worker	 workers[CTL_MAX_WORKERS];
	uint32_t		 nworkers;
};
extern struct lease_state ls;

void	 lease_init(void);
void	 lease_dispatch(struct peer *, struct imsg *);
void	 lease_configured(void);
void	 lease_swap_lists(void);
struct lease *lease_find_id(const uint8_t *);
struct lease *lease_find_name(const char *);
struct session *session_find(const uint8_t *);
void	 lease_remove(struct lease *, const char *);
void	 session_remove(struct session *, int);
int	 lease_revoke(const char *);
int	 session_kill(const uint8_t *);

/* conn.c */
void	 conn_init(void);
void	 conn_dispatch(struct peer *, struct imsg *);
void	 conn_configured(void);

/* fwd.c */
void	 fwd_init(void);
void	 fwd_dispatch(struct peer *, struct imsg *);
void	 fwd_configured(void);

/* control.c */
void	 control_init(int fd);
void	 control_start(void);
void	 control_stats_reply(struct peer *, struct imsg *);
void	 control_bytes_reply(struct peer *, struct imsg *);
void	 control_event(int, const char *, const char *, const uint8_t *,
	    const char *);
void	 control_reply_from_parent(const struct ctl_fwd_reply *);

/* config.c */
void	 config_defaults(struct relayd_config *, int as_root);
void	 config_clear(struct relayd_config *);
int	 config_check(struct relayd_config *, char *, size_t);

/* parse.y */
int	 parse_config(const char *, struct relayd_config *, int as_root);
int	 cmdline_symset(const char *);
const char *parse_first_error(int *);

/* printconf.c */
void	 print_config(const struct relayd_config *);

/* notify.c */
void	 notify_send(const char *);
void	 notify_status(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif /* RELAYD_H */
