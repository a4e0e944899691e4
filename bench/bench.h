/* SPDX-License-Identifier: ISC */
/*
 * bench.h: what the benchmark tools under bench/ share (bench_util.c):
 * time, the CPU time and RSS of a process tree read from /proc, loopback
 * sockets (with a choice of source address, so that tens of thousands
 * of connections fit the ephemeral port range), a light client of the
 * relay's control protocol (one struct bconn is a few hundred bytes, so
 * a tool can hold 100k of them), pairing sessions through it, and a
 * bulk transfer over pairs of descriptors.
 *
 * These tools measure; they are never part of make check and assert
 * nothing about speed. Every wait has a timeout so a broken relay makes
 * a figure fail, never hang.
 */
#ifndef RELAY_BENCH_H
#define RELAY_BENCH_H

#include <sys/types.h>

#include <err.h>
#include <stdint.h>

#include "crypto.h"
#include "proto.h"
#include "util.h"

#define BENCH_TIMEOUT_MS	20000
#define BC_INBUF		4096	/* control messages the tools get are small */
#define MAX_ROOTS		16

/* ---- time, processes ---- */

double	 now(void);
/* roots: "PID[,PID...]"; 0 when s is NULL or empty */
int	 parse_pids(const char *s, pid_t *roots, int max);
/* a tool's options: getopt(3) driven by a table, each with an argument */
enum bench_optkind { OPT_INT, OPT_LONG, OPT_DOUBLE, OPT_PIDS, OPT_STR };
struct bench_opt {
	int			 ch;		/* 0 ends the table */
	enum bench_optkind	 kind;
	void			*val;	/* int, long, double, pid_t[MAX_ROOTS],
					   const char * */
	int			*n;	/* OPT_PIDS: how many */
};
/*
 * A tool's start: stdout line-buffered, as many descriptors as the hard
 * limit allows, and each option given set from opts (an unknown one
 * calls usage); *argc and *argv are left with the operands. flags: "+"
 * to stop at the first operand, or "".
 */
void	 bench_start(int *argc, char ***argv, const char *flags,
	    const struct bench_opt *opts, void (*usage)(void));
/* utime + stime of every live process under the roots, in seconds */
double	 tree_cpu(const pid_t *roots, int nroots);
/* VmRSS summed over the same processes, in KiB */
long	 tree_rss_kib(const pid_t *roots, int nroots);
/* the message and a newline on stderr (after the tool's name), exit 1 */
#define die(...)	errx(1, __VA_ARGS__)

/* ---- loopback sockets ---- */

int	 tcp_listen(int *port);		/* 127.0.0.1; *port 0: any */
/* to 127.0.0.1:port from 127.0.0.<2 + src % 200> (src -1: the default) */
int	 tcp_connect(int port, int src);
/* libcommon's: blocking or not, BENCH_TIMEOUT_MS without progress fails */
#define write_full(fd, p, len)	fd_write_full((fd), (p), (len), BENCH_TIMEOUT_MS)
/* 0 all read, -1 error or timeout, -2 end of stream first */
#define read_full(fd, p, len, ms)	fd_read_full((fd), (p), (len), (ms))
int	 set_nonblock(int fd, int on);

/* ---- a light control connection ---- */

struct bconn {
	int			 fd;
	struct rec_layer	 rec;
	uint8_t			*in;		/* BC_INBUF bytes */
	size_t			 inlen;
	int			 closed;
};

int	 bc_open(struct bconn *, int port, int src, const struct identity *,
	    const char *relay_id);
int	 bc_send(struct bconn *, const ClientMessage *);
/* reads what is there (non-blocking fd): 0, or -1 at the end or error */
int	 bc_fill(struct bconn *);
/* the next whole message already read, or NULL; *err set on a bad one */
RelayMessage *bc_next(struct bconn *, struct proto_arena *, int *err);
/* blocking: the next message, NULL on timeout, close or error */
RelayMessage *bc_recv(struct bconn *, struct proto_arena *, int timeout_ms);
void	 bc_close(struct bconn *);

int	 send_register(struct bconn *, const char *name, uint32_t reqid,
	    uint32_t ttl);
int	 send_connect(struct bconn *, const char *name, uint32_t reqid);
int	 send_accept(struct bconn *, const uint8_t *sid);
int	 data_open(int port, int src, const uint8_t token[TOKEN_LEN]);

/*
 * A holder with one lease and a requester, each on its own control
 * connection: pair_session() makes one paired session and returns its
 * two data connections (requester side, holder side).
 */
struct pairer {
	int			 port;
	struct identity		 hid, qid;
	struct bconn		 h, q;
	struct proto_arena	 arena;
	char			 name[64];
	uint32_t		 reqid;
};

int	 pairer_open(struct pairer *, int port, const char *relay_id,
	    const char *name);
int	 pair_session(struct pairer *, int *fq, int *fh);
/* n sessions at once (window w): fq[i], fh[i]; pairing checked by a byte */
int	 pair_many(struct pairer *, int n, int w, int *fq, int *fh);
void	 pairer_close(struct pairer *);

/* ---- bulk transfer ---- */

/*
 * Writes bytes/n into each wfd from a child process and reads them all
 * from the rfds (in any pairing), closing every descriptor. Returns the
 * seconds it took, or -1 (short transfer, error, timeout).
 */
double	 pump(int *wfds, int *rfds, int n, long long bytes);

#endif /* RELAY_BENCH_H */
