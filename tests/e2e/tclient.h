/* SPDX-License-Identifier: ISC */
/*
 * tclient.h: a small blocking client of the relay protocol for the test
 * suite, built on libcommon: control connections (handshake, records,
 * protobuf messages) and data connections (preamble + token, then an
 * end-to-end handshake). Every call has a timeout so a broken relay makes
 * a test fail instead of hang.
 */
#ifndef RELAY_TCLIENT_H
#define RELAY_TCLIENT_H

#include "crypto.h"
#include "proto.h"
#include "util.h"

struct tconn {
	int			 fd;
	struct rec_layer	 rec;
	char			 peer_id[ID_BUFSZ];
	struct proto_arena	 arena;
	uint8_t			 in[REC_MAX_FRAME * 2];
	size_t			 inlen;
	int			 peer_closed;
	int			 close_record;	/* the peer's close record came */
};

int	 t_tcp_connect(int port);
int	 t_tcp_connect_from(const char *src, int port);
int	 t_ctl_open(struct tconn *, int port, const struct identity *,
	    const char *expect_relay_id);
int	 t_ctl_open_from(struct tconn *, const char *src, int port,
	    const struct identity *, const char *expect_relay_id);
int	 t_send(struct tconn *, const ClientMessage *);
int	 t_send_raw_record(struct tconn *, const uint8_t *, size_t);
RelayMessage *t_recv(struct tconn *, int timeout_ms);
int	 t_wait_closed(struct tconn *, int timeout_ms);
int	 t_wait_close_record(struct tconn *, int timeout_ms);
int	 t_send_close(struct tconn *);
int	 t_local_port(int fd);
double	 t_now(void);
void	 t_close(struct tconn *);
int	 t_data_open(int port, const uint8_t token[TOKEN_LEN]);
int	 t_data_open_from(const char *src, int port,
	    const uint8_t token[TOKEN_LEN]);
int	 t_e2e(struct tconn *, int fd, int initiator, const struct identity *,
	    const uint8_t session_id[SESSION_ID_LEN], const char *alpn,
	    const char *expect_id);
/* 0 when all bytes came, -1 on error or timeout, -2 at end of stream */
#define t_read_full(fd, p, len, ms)	fd_read_full((fd), (p), (len), (ms))
/* a write to a test peer that takes nothing for 30 s fails */
#define t_write_full(fd, p, len)	fd_write_full((fd), (p), (len), 30000)

/* Requests: m made ready to send, with its part beside it. */
void	 t_msg_register(ClientMessage *m, Relay__V1__Register *,
	    uint32_t request_id, const char *name, char **alpns, size_t nalpn,
	    uint32_t ttl);
void	 t_msg_connect(ClientMessage *m, Relay__V1__Connect *,
	    uint32_t request_id, int by_name, const char *target,
	    const char *alpn);
void	 t_msg_list(ClientMessage *m, Relay__V1__ListLeases *,
	    uint32_t request_id, uint32_t offset);
int	 t_send_ping(struct tconn *, uint64_t nonce);
int	 t_session_op(struct tconn *, int accept, const uint8_t *session_id,
	    size_t, const char *reason);
RelayMessage *t_ask(struct tconn *, const ClientMessage *, int timeout_ms);
int	 t_is_msg(const RelayMessage *, int msg_case);

/* What a RelayMessage is (NULL is none of them). */
#define T_MSG(m, c)	t_is_msg((m), RELAY__V1__RELAY_MESSAGE__MSG_ ## c)
#define IS_REGISTERED(m)	T_MSG(m, REGISTERED)
#define IS_INCOMING(m)		T_MSG(m, INCOMING)
#define IS_CONNECTED(m)		T_MSG(m, CONNECTED)
#define IS_NOTICE(m)		T_MSG(m, NOTICE)
#define IS_LIST(m)		T_MSG(m, LEASE_LIST)
#define IS_PONG(m)		T_MSG(m, PONG)
#define IS_ACK(m)		T_MSG(m, ACK)
#define IS_ERROR(m)		T_MSG(m, ERROR)

#endif
