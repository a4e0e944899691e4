/* SPDX-License-Identifier: ISC */
/*
 * imsg.h: framed internal messages between relayd's processes over
 * AF_UNIX stream socketpairs, in the manner of OpenBSD's imsg.
 *
 * A message is a fixed header and a payload of at most IMSG_MAX_PAYLOAD
 * bytes; it may carry one file descriptor (SCM_RIGHTS) on a channel that
 * was set up to allow it. Writes are queued and flushed without blocking.
 * Payloads are fixed C structs: the receiver reads them only through
 * imsg_get_data(), which fails unless the size is exactly right. Any
 * malformed input is an error that the caller must treat as fatal.
 *
 * imsg_get() parses in place: a message's data points into the read
 * buffer and stays valid until the next imsgbuf_read() on that buffer,
 * which moves what is left to the front once per read. A descriptor the
 * kernel could not deliver (the receiver was out of descriptors) arrives
 * as fd -1 with fd_lost set, so the receiver can refuse that one request.
 */
#ifndef RELAY_IMSG_H
#define RELAY_IMSG_H

#include <sys/types.h>
#include <sys/uio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#define IMSG_MAX_PAYLOAD	(64 * 1024)
#define IMSG_MAX_FDQUEUE	16
#define IMSGF_HASFD		0x1

struct imsg_hdr {
	uint32_t	 type;
	uint32_t	 len;		/* header included */
	uint32_t	 peerid;	/* which client or request it is about */
	uint32_t	 flags;
};
#define IMSG_HDR_LEN		sizeof(struct imsg_hdr)
#define IMSG_RBUF_LEN		(IMSG_HDR_LEN + IMSG_MAX_PAYLOAD)

struct imsg_out {
	TAILQ_ENTRY(imsg_out)	 entry;
	size_t			 len;
	size_t			 off;
	int			 fd;	/* -1 when none or already sent */
	uint8_t			 data[];
};

struct imsgbuf {
	int			 fd;
	int			 allow_fd;
	size_t			 rpos;		/* next message in rbuf */
	size_t			 rlen;		/* bytes in rbuf */
	uint8_t			 rbuf[IMSG_RBUF_LEN];
	int			 rfds[IMSG_MAX_FDQUEUE];	/* -1: lost */
	int			 nrfds;
	TAILQ_HEAD(, imsg_out)	 outq;
	size_t			 queued;	/* messages waiting in outq */
	size_t			 queued_bytes;
};

struct imsg {
	struct imsg_hdr		 hdr;
	int			 fd;
	int			 fd_lost;	/* it had one; the kernel dropped it */
	size_t			 len;	/* payload length */
	uint8_t			*data;	/* in the read buffer: do not keep */
};

void	imsgbuf_init(struct imsgbuf *, int fd, int allow_fd);
void	imsgbuf_clear(struct imsgbuf *);
int	imsg_compose(struct imsgbuf *, uint32_t type, uint32_t peerid,
	    int fd, const void *, size_t);
int	imsg_composev(struct imsgbuf *, uint32_t type, uint32_t peerid,
	    int fd, const struct iovec *, int);
int	imsgbuf_flush(struct imsgbuf *);
int	imsgbuf_flush_blocking(struct imsgbuf *);
ssize_t	imsgbuf_read(struct imsgbuf *);
int	imsg_get(struct imsgbuf *, struct imsg *);
int	imsgbuf_read_each(struct imsgbuf *, int (*)(struct imsg *, void *),
	    void *);
int	imsg_get_data(const struct imsg *, void *, size_t);
int	imsg_take_fd(struct imsg *);
void	imsg_free(struct imsg *);

#endif /* RELAY_IMSG_H */
