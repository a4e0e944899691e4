/* SPDX-License-Identifier: ISC */
/*
 * relay-client.h: the one private header of relay-client, the end-user
 * program of relayd (DESIGN sections 1, 4 and 7). Its components are the
 * design's client side:
 *
 *   RelayClient       relay.c      one control connection to the relay
 *   Handshaker        handshaker.c drives the handshake of crypto.h over
 *                                  byte buffers, for control and e2e alike
 *   LeaseManager      lease.c      register, renew, reconnect, re-register
 *   SecureConnection  secure.c     one end-to-end session over a data
 *                                  connection, piped to a plaintext fd pair
 *   DirectPath        direct.c     the direct TCP paths a session tries
 *                                  beside the relay (hole punching)
 *
 * and the subcommands built on them (expose.c, connect.c, forward.c,
 * list.c, keys.c, main.c). Everything runs in one libevent loop in one
 * process; no function here blocks on the network.
 *
 * The client trusts the relay for nothing it can check: the relay's ID is
 * pinned, the peer's ID is proven in the end-to-end handshake, and every
 * length and message from the network is checked before use.
 */
#ifndef RELAY_CLIENT_H
#define RELAY_CLIENT_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>

#include "buffer.h"
#include "crypto.h"
#include "proto.h"
#include "protocol.h"
#include "util.h"

/*
 * Exit statuses. Everything that is not a refusal by the relay or the
 * peer is 1; each refusal has its own status so that scripts (and ssh
 * users) can tell them apart. Documented in relay-client(1).
 */
enum exit_code {
	EXIT_OK = 0,
	EXIT_ERROR = 1,		/* usage, files, anything else */
	EXIT_UNREACHABLE = 2,	/* cannot reach the relay, or lost it */
	EXIT_NOT_FOUND = 3,	/* no such lease */
	EXIT_REJECTED = 4,	/* the lease holder said no */
	EXIT_ALPN = 5,		/* the lease does not serve that ALPN */
	EXIT_ID_MISMATCH = 6,	/* the peer is not the ID asked for */
	EXIT_RELAY_KEY = 7,	/* the relay's ID differs from the pinned one */
	EXIT_TIMEOUT = 8,	/* the holder or the peer did not answer */
	EXIT_RATE_LIMITED = 9,	/* too many connects: try again later */
	EXIT_LIMIT = 10,	/* a relay limit was reached */
	EXIT_UNAUTHORIZED = 11,	/* this ID may not do that on this relay */
	EXIT_NAME_TAKEN = 12,	/* expose: another ID holds the name */
	EXIT_SESSION = 13	/* the session broke: truncated, tampered */
};

/* Client-side timers and bounds (seconds unless named otherwise). */
#define CLIENT_CONNECT_TIMEOUT	10	/* TCP connect + control handshake */
#define CLIENT_REQUEST_TIMEOUT	30	/* a request the relay never answers */
#define CLIENT_DEAD_AFTER	75	/* nothing heard from the relay */
#define CLIENT_CLOSE_TIMEOUT	2	/* waiting for the relay's close */
#define BACKOFF_MIN_MS		1000
#define BACKOFF_MAX_MS		60000
#define CONTROL_OUT_MAX		(256 * 1024)	/* queued control records */
/* records moved per system call on a busy session, at most */
#define SECURE_BATCH		16
#define SECURE_CIN_MAX		(SECURE_BATCH * REC_MAX_FRAME)
#define SECURE_COUT_MAX		(SECURE_BATCH * REC_MAX_FRAME)
#define SECURE_POUT_MAX		(SECURE_BATCH * REC_MAX_PAYLOAD + 1)
#define CLIENT_MAX_SESSIONS	4096	/* per expose or forward */
#define DEFAULT_LEASE_TTL	60
#define SESSION_LABEL_LEN	(2 * 8 + 1)	/* hex of 8 bytes: for logs */
#define HOST_MAX		256	/* a DNS name is at most 253 */
#define HOSTPORT_MAX		(HOST_MAX + 16)	/* "[host]:port" */
#define CLIENT_NSIGNALS		3	/* HUP, INT, TERM */
#define DIRECT_RETRY_MS		100	/* a refused direct connect, again */
#define DIRECT_MAX_TARGETS	(1 + ADDR_MAX_COUNT)	/* observed + local */
#define DIRECT_MAX_INBOUND	4	/* per session, before one is proven */
#define DIRECT_MAX_PENDING	16	/* per listener, before the preamble */
#define DIRECT_PREAMBLE_WAIT_MS	2000	/* for an inbound connection's */

#define log_trace(...) do {						\
	if (log_getverbose() >= 2)					\
		log_debug(__VA_ARGS__);					\
} while (0)

enum direct_mode {
	DIRECT_AUTO = 0,	/* try direct paths beside the relay */
	DIRECT_OFF,		/* --no-direct: the relay only */
	DIRECT_ONLY		/* --direct-only: never the relay (tests) */
};

/* What every subcommand that talks to a relay shares. */
struct client_opts {
	enum direct_mode direct;
	const char	*alpn[ALPN_MAX_COUNT];	/* -a, in the order given */
	size_t		 nalpn;
	char		 relay_host[HOST_MAX];
	char		 relay_port[8];
	char		 relay_name[HOSTPORT_MAX];	/* "host:port" */
	char		 pin[ID_BUFSZ];		/* the relay ID; "" = TOFU */
	int		 pin_given;		/* -K, else known_relays */
	int		 pin_line;		/* its line in known_relays */
	char		 known_path[PATH_MAX];
	char		 key_path[PATH_MAX];
	int		 key_path_given;	/* -f */
	struct identity	 ident;
};

/*
 * The options a command shares with others (opts_parse in main.c): -h
 * and -v always, and those its OPT_ flags name. Its own options come
 * with their getopt letters and long forms, and a handler that returns
 * -1 (after saying why) to refuse one.
 */
#define OPT_RELAY	0x01	/* -r host[:port], -K relay-id */
#define OPT_KEY		0x02	/* -f key */
#define OPT_ALPN	0x04	/* -a alpn: the one to ask for, the last counts */
#define OPT_ALPNS	0x08	/* -a alpn ...: the ones served, up to 8 */
#define OPT_DIRECT	0x10	/* --no-direct, --direct-only */
#define OPTS_HELP	(-2)	/* opts_parse: -h was given, usage printed */

struct command_opts {
	const char		*name;
	unsigned int		 shared;	/* OPT_* */
	const char		*optstring;	/* its own, getopt(3) syntax */
	const struct option	*longopts;	/* its own, or NULL */
	int			(*option)(void *, int ch, char *arg);
	void			(*usage)(FILE *);	/* opts_usage at its end */
};

/* ---- Handshaker ---- */

enum hsk_result {
	HSK_FAILED = -1,
	HSK_AGAIN = 0,
	HSK_DONE = 1
};

struct handshaker {
	struct handshake	 hs;
	const struct identity	*ident;
};

/* ---- RelayClient ---- */

enum relay_state {
	RC_IDLE,
	RC_CONNECTING,
	RC_HANDSHAKE,
	RC_READY,
	RC_CLOSING,
	RC_CLOSED
};

struct relay_client;

/*
 * m is NULL when the request failed without an answer (code, why). A
 * RelayMessage handed to a callback lives in the client's arena until the
 * next message is unpacked: copy what must outlive the callback.
 */
typedef void (*relay_reply_cb)(struct relay_client *, RelayMessage *m,
    int code, const char *why, void *arg);

struct relay_cb {
	void	(*ready)(struct relay_client *, void *);
	/* Incoming, Notice, Error without request_id */
	void	(*message)(struct relay_client *, RelayMessage *, void *);
	/* code EXIT_OK after relay_finish(), else why it ended */
	void	(*closed)(struct relay_client *, int code, const char *why,
		    void *);
};

struct relay_request {
	TAILQ_ENTRY(relay_request)	 entry;
	uint32_t			 id;
	relay_reply_cb			 cb;
	void				*arg;
	struct timespec			 deadline;
};
TAILQ_HEAD(relay_requests, relay_request);

struct relay_client {
	struct event_base	*base;
	struct client_opts	*opts;
	const struct relay_cb	*cb;
	void			*arg;
	enum relay_state	 state;
	int			 fd;
	struct addrinfo		*ai_list, *ai_next;
	struct sockaddr_storage	 addr;		/* the relay, for data conns */
	socklen_t		 addrlen;
	struct sockaddr_storage	 local;		/* our end: direct paths */
	socklen_t		 locallen;
	char			 addr_str[HOSTPORT_MAX];
	int			 connect_errno;
	struct handshaker	 hsk;
	struct rec_layer	 rec;
	int			 rec_ready;
	struct buf		*in, *out;
	struct proto_arena	 arena;
	uint32_t		 next_request_id;
	struct relay_requests	 requests;
	struct event		*ev_read, *ev_write, *ev_timer;
	unsigned int		 write_on;
	struct timespec		 last_sent, last_heard;
	uint64_t		 ping_nonce;
	char			 relay_id[ID_BUFSZ];
	char			 why[1024];	/* the reason it ended */
	int			 pending;	/* a failure to report */
	int			 pending_code;
	int			 in_cb;		/* calling out: free later */
	int			 dead;
	int			 relay_stopping; /* Notice SHUTTING_DOWN came */
};

/* ---- SecureConnection ---- */

enum secure_state {
	SC_PATH,		/* initiator: waiting for a direct path */
	SC_CONNECTING,
	SC_HANDSHAKE,
	SC_OPEN,
	SC_DONE
};

struct secure_conn;

struct secure_cb {
	/* after the e2e handshake: return -1 (and set *code, *why) to refuse */
	int	(*established)(struct secure_conn *, const char *peer_id,
		    void *, int *code, const char **why);
	/* the end: code EXIT_OK for a clean close in both directions */
	void	(*done)(struct secure_conn *, int code, const char *why,
		    void *);
	/* optional: direct paths were tried; the session took one or not */
	void	(*path)(struct secure_conn *, int direct, void *);
};

/* What a session knows of the peer for direct paths (direct.c). */
struct direct_params {
	int			 only;		/* --direct-only */
	const struct sockaddr	*local;		/* our control connection's */
	socklen_t		 locallen;
	const Relay__V1__Address *observed;	/* the peer's, or NULL */
	Relay__V1__Address	**locals;	/* the peer's local addresses */
	size_t			 nlocals;
	const char		*peer_id;	/* responder: Incoming.from_id */
};

struct secure_params {
	enum hs_role		 role;
	const struct identity	*ident;
	const uint8_t		*session_id;	/* SESSION_ID_LEN */
	const uint8_t		*token;		/* TOKEN_LEN */
	const char		*alpn;
	const char		*expect_id;	/* initiator: Connected.id */
	const struct sockaddr	*relay;
	socklen_t		 relaylen;
	const struct direct_params *direct;	/* NULL: the relay only */
};

struct direct;

struct secure_conn {
	struct event_base	*base;
	const struct secure_cb	*cb;
	void			*arg;
	enum secure_state	 state;
	enum hs_role		 role;
	int			 cfd;		/* ciphertext: to the relay */
	int			 rfd, wfd;	/* plaintext, -1 until set */
	int			 plain_owned;
	int			 wflags;	/* wfd's flags before us, or -1 */
	struct handshaker	 hsk;
	struct rec_layer	 rec;
	int			 rec_ready;
	struct buf		*cin, *cout, *pout;
	int			 plain_eof;	/* local input ended */
	int			 cipher_eof;	/* relay side ended */
	int			 cipher_shut;	/* our write side is shut */
	int			 peer_closed;	/* close record received */
	int			 plain_shut;	/* local output is shut */
	struct event		*ev_cread, *ev_cwrite, *ev_pread, *ev_pwrite;
	struct event		*ev_deadline;
	unsigned int		 ev_on;
	uint8_t			 session_id[SESSION_ID_LEN];
	uint8_t			 token[TOKEN_LEN];	/* for the relay, later */
	struct sockaddr_storage	 relay;
	socklen_t		 relaylen;
	struct direct		*dp;		/* direct paths being tried */
	int			 on_direct;	/* the session took one */
	char			 peer_id[ID_BUFSZ];
	char			 label[SESSION_LABEL_LEN];
	uint64_t		 bytes_in, bytes_out;	/* plaintext */
	int			 err_code;
	char			 err[512];
	int			 pending;	/* an abort to report */
	int			 in_cb;		/* calling out: free later */
	int			 dead;
};

/* ---- LeaseManager ---- */

struct lease_params {
	const char	*name;
	const char	*alpn[ALPN_MAX_COUNT];
	size_t		 nalpn;
	const char	*description;
	int		 hidden;
	uint32_t	 ttl;
};

struct lease_mgr;

struct lease_cb {
	void	(*incoming)(struct lease_mgr *, Relay__V1__Incoming *, void *);
	/* the manager gave up (why), or stopped as asked (EXIT_OK) */
	void	(*ended)(struct lease_mgr *, int code, const char *why,
		    void *);
};

struct lease_mgr {
	struct event_base	*base;
	struct client_opts	*opts;
	struct lease_params	 params;
	const struct lease_cb	*cb;
	void			*arg;
	struct relay_client	*rc;
	int			 registered;
	int			 ever_registered;
	uint8_t			 lease_id[LEASE_ID_LEN];
	uint32_t		 ttl;
	uint32_t		 backoff_ms;
	struct event		*ev_renew, *ev_retry;
	int			 stopping;
};

/* ---- allow lists ---- */

struct allow_list {
	char		(*ids)[ID_BUFSZ];
	size_t		 n;
};

/* main.c */
const char	*exit_code_name(int);
int		 exit_for_error(int);
int	 opts_parse(const struct command_opts *, struct client_opts *,
	    void *arg, int argc, char *argv[]);
void	 opts_usage(FILE *, unsigned int shared);
int	 opts_prepare(struct client_opts *, int need_relay);
void	 opts_clear(struct client_opts *);
struct event_base *client_event_base(int any_fd);
void	 client_signals(struct event_base *, void (*)(int, short, void *),
	    void *, struct event *[CLIENT_NSIGNALS]);
void	 client_signals_free(struct event *[CLIENT_NSIGNALS]);
void	 client_event_free(struct event **);
void	 client_event_want(struct event *, unsigned int *on, unsigned int bit,
	    int want);

/* keys.c */
int	 keys_default_path(char *, size_t, const char *file);
int	 keys_load_identity(struct client_opts *);
int	 cmd_keygen(int, char *[]);
int	 cmd_id(int, char *[]);
int	 known_relays_lookup(struct client_opts *);
int	 known_relays_store(struct client_opts *, const char *id);
int	 allow_list_load(struct allow_list *, const char *path);
int	 allow_list_has(const struct allow_list *, const char *id);
void	 allow_list_free(struct allow_list *);

/* net.c */
int	 net_parse_hostport(const char *, const char *defport, char *host,
	    size_t, char *port, size_t);
int	 net_resolve(const char *host, const char *port, int passive,
	    struct addrinfo **, char *err, size_t errlen);
int	 net_connect_start(const struct sockaddr *, socklen_t);
int	 net_connect_reuse(const struct sockaddr *, socklen_t,
	    const struct sockaddr *local, socklen_t);
int	 net_addr_from_proto(const Relay__V1__Address *,
	    struct sockaddr_storage *, socklen_t *);
int	 net_addr_to_proto(const struct sockaddr *, Relay__V1__Address *,
	    uint8_t ip[16]);
int	 net_addr_usable(const struct sockaddr *);
int	 net_connect_result(int fd);
int	 net_set_nonblock(int fd);
int	 net_is_socket(int fd);
void	 net_close(int *fdp);
int	 net_accept(int lfd, char *peer, size_t);
uint8_t	*iobuf_space(struct buf *, size_t);
void	 iobuf_commit(struct buf *, size_t);
void	 iobuf_consume(struct buf *, size_t);
size_t	 iobuf_free(const struct buf *);
ssize_t	 iobuf_read(struct buf *, int fd, size_t max);
ssize_t	 iobuf_write(struct buf *, int fd);
void	 mono_now(struct timespec *);
double	 mono_since(const struct timespec *);

/* handshaker.c */
int	 handshaker_init(struct handshaker *, enum hs_role, const uint8_t *ctx,
	    size_t ctxlen, const struct identity *, const char *expect_id);
int	 handshaker_start(struct handshaker *, struct buf *out);
int	 handshaker_step(struct handshaker *, struct buf *in, struct buf *out);
const char *handshaker_error(const struct handshaker *);
const char *handshaker_peer_id(const struct handshaker *);
void	 handshaker_clear(struct handshaker *);

/* relay.c */
struct relay_client *relay_new(struct event_base *, struct client_opts *,
	    const struct relay_cb *, void *);
void	 relay_connect(struct relay_client *);
int	 relay_send(struct relay_client *, ClientMessage *);
int	 relay_request(struct relay_client *, ClientMessage *, uint32_t *idp,
	    relay_reply_cb, void *);
void	 relay_cancel(struct relay_client *, uint32_t);
void	 relay_finish(struct relay_client *);
void	 relay_end(struct relay_client *, struct event_base *, int *done,
	    int *exit_code, int code);
void	 relay_free(struct relay_client *);
int	 relay_is_ready(const struct relay_client *);
int	 relay_stopped(const struct relay_client *);
const struct sockaddr *relay_peer_addr(const struct relay_client *,
	    socklen_t *);
const struct sockaddr *relay_local_addr(const struct relay_client *,
	    socklen_t *);
int	 relay_local_proto(const struct relay_client *, Relay__V1__Address *,
	    uint8_t ip[16]);
int	 relay_error_message(const Relay__V1__Error *, char *, size_t);
void	 relay_log_error(const struct relay_client *, const Relay__V1__Error *);

/* secure.c */
struct secure_conn *secure_open(struct event_base *,
	    const struct secure_params *, const struct secure_cb *, void *);
void	 secure_set_plain(struct secure_conn *, int rfd, int wfd, int owned);
void	 secure_free(struct secure_conn *);
void	 secure_abort(struct secure_conn *, int code, const char *why);
void	 secure_path_relayed(struct secure_conn *);
void	 secure_path_direct(struct secure_conn *, int fd, struct rec_layer *,
	    const char *peer_id, const uint8_t *in, size_t inlen,
	    const uint8_t *out, size_t outlen);
void	 secure_path_failed(struct secure_conn *, const char *why);

/* direct.c */
struct direct *direct_new(struct secure_conn *, const struct secure_params *,
	    const uint8_t *ctx, size_t ctxlen);
void	 direct_free(struct direct *);
int	 direct_possible(const struct client_opts *, const struct relay_client *);

/* lease.c */
struct lease_mgr *lease_mgr_new(struct event_base *, struct client_opts *,
	    const struct lease_params *, const struct lease_cb *, void *);
void	 lease_mgr_start(struct lease_mgr *);
void	 lease_mgr_stop(struct lease_mgr *);
int	 lease_mgr_registered(const struct lease_mgr *);
void	 lease_mgr_free(struct lease_mgr *);
struct relay_client *lease_mgr_relay(struct lease_mgr *);
int	 lease_mgr_accept(struct lease_mgr *, const uint8_t *session_id,
	    int direct);
int	 lease_mgr_path(struct lease_mgr *, const uint8_t *session_id,
	    int outcome);
int	 lease_mgr_reject(struct lease_mgr *, const uint8_t *session_id,
	    const char *reason);

/* expose.c */
int	 cmd_expose(int, char *[]);

/* connect.c */
int	 cmd_connect(int, char *[]);
int	 connect_target_parse(const char *, char *id, char *name);
int	 connect_report_error(const char *target, const char *alpn,
	    const char *relay, RelayMessage *m, int code, const char *why);
int	 connect_request(struct relay_client *, const char *id,
	    const char *name, const char *alpn, uint32_t *reqid,
	    relay_reply_cb, void *);
int	 connect_session_params(const char *what, const char *target,
	    const char *want_id, const char *alpn, struct relay_client *,
	    Relay__V1__Connected *, char holder[ID_BUFSZ],
	    struct secure_params *, struct direct_params *);

/* forward.c */
int	 cmd_forward(int, char *[]);

/* list.c */
int	 cmd_list(int, char *[]);

#endif /* RELAY_CLIENT_H */
