/* SPDX-License-Identifier: ISC */
/*
 * imsg.c: internal message framing (see imsg.h). This file trusts nothing
 * it reads: a header with a bad length, a descriptor on a channel that
 * does not allow one, or a message that announces a descriptor that did
 * not arrive is reported as EBADMSG. It never blocks unless asked to.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

#define IMSG_IOV_MAX		64
#define IMSG_CMSG_FDS		8

void
imsgbuf_init(struct imsgbuf *ib, int fd, int allow_fd)
{
	ib->fd = fd;
	ib->allow_fd = allow_fd;
	ib->rpos = 0;
	ib->rlen = 0;
	ib->nrfds = 0;
	ib->queued = 0;
	ib->queued_bytes = 0;
	TAILQ_INIT(&ib->outq);
}

/* Drop queued output and unclaimed descriptors; the socket stays open. */
void
imsgbuf_clear(struct imsgbuf *ib)
{
	struct imsg_out	*m;

	while ((m = TAILQ_FIRST(&ib->outq)) != NULL) {
		TAILQ_REMOVE(&ib->outq, m, entry);
		if (m->fd != -1)
			close(m->fd);
		free(m);
	}
	ib->queued = 0;
	ib->queued_bytes = 0;
	while (ib->nrfds > 0)
		if (ib->rfds[--ib->nrfds] != -1)
			close(ib->rfds[ib->nrfds]);
	ib->rpos = 0;
	ib->rlen = 0;
}

int
imsg_composev(struct imsgbuf *ib, uint32_t type, uint32_t peerid, int fd,
    const struct iovec *iov, int iovcnt)
{
	struct imsg_out	*m;
	struct imsg_hdr	 hdr;
	size_t		 len = 0, off;
	int		 i;

	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > IMSG_MAX_PAYLOAD - len) {
			errno = EMSGSIZE;
			return -1;
		}
		len += iov[i].iov_len;
	}
	if (fd != -1 && !ib->allow_fd) {
		errno = EPERM;
		return -1;
	}
	if ((m = malloc(sizeof(*m) + IMSG_HDR_LEN + len)) == NULL)
		return -1;
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = IMSG_HDR_LEN + len;
	hdr.peerid = peerid;
	hdr.flags = fd != -1 ? IMSGF_HASFD : 0;
	memcpy(m->data, &hdr, IMSG_HDR_LEN);
	off = IMSG_HDR_LEN;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0)
			memcpy(m->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	m->len = off;
	m->off = 0;
	m->fd = fd;
	TAILQ_INSERT_TAIL(&ib->outq, m, entry);
	ib->queued++;
	ib->queued_bytes += m->len;
	return 0;
}

int
imsg_compose(struct imsgbuf *ib, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	struct iovec	 iov;

	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = len;
	return imsg_composev(ib, type, peerid, fd, &iov, data == NULL ? 0 : 1);
}

/*
 * Write as much as the socket takes. A descriptor travels with the first
 * byte of its message, and one sendmsg() never carries two descriptors,
 * so the receiver can match descriptors to messages in order.
 * Returns 0 when the queue is empty, 1 when output is still pending
 * (wait for POLLOUT), -1 on error.
 */
int
imsgbuf_flush(struct imsgbuf *ib)
{
	struct iovec	 iov[IMSG_IOV_MAX];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct imsg_out	*m, *next;
	ssize_t		 n;
	size_t		 done;
	int		 i, fd;

	while ((m = TAILQ_FIRST(&ib->outq)) != NULL) {
		memset(&msg, 0, sizeof(msg));
		fd = m->fd;
		i = 0;
		TAILQ_FOREACH(next, &ib->outq, entry) {
			if (i == IMSG_IOV_MAX || (i > 0 && next->fd != -1))
				break;
			iov[i].iov_base = next->data + next->off;
			iov[i].iov_len = next->len - next->off;
			i++;
		}
		msg.msg_iov = iov;
		msg.msg_iovlen = i;
		if (fd != -1) {
			memset(&cmsgbuf, 0, sizeof(cmsgbuf));
			msg.msg_control = cmsgbuf.buf;
			msg.msg_controllen = sizeof(cmsgbuf.buf);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
		}
		n = sendmsg(ib->fd, &msg, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				return 1;
			return -1;
		}
		if (fd != -1) {
			/* the kernel holds its own reference now */
			close(fd);
			m->fd = -1;
		}
		done = (size_t)n;
		while (done > 0 && (m = TAILQ_FIRST(&ib->outq)) != NULL) {
			size_t	 left = m->len - m->off;

			if (done < left) {
				m->off += done;
				ib->queued_bytes -= done;
				break;
			}
			done -= left;
			TAILQ_REMOVE(&ib->outq, m, entry);
			ib->queued--;
			ib->queued_bytes -= left;
			free(m);
		}
	}
	return 0;
}

/* For the start-up phase and for tests: flush, waiting as long as needed. */
int
imsgbuf_flush_blocking(struct imsgbuf *ib)
{
	struct pollfd	 pfd;
	int		 r;

	while ((r = imsgbuf_flush(ib)) == 1) {
		pfd.fd = ib->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			return -1;
	}
	return r;
}

/*
 * Read what the socket has. Returns the number of bytes read, 0 at end of
 * file, -1 on error (errno EAGAIN when nothing was there).
 */
ssize_t
imsgbuf_read(struct imsgbuf *ib)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * IMSG_CMSG_FDS)];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct iovec	 iov;
	ssize_t		 n;
	int		 fds[IMSG_CMSG_FDS], nfds, i, bad = 0, got = 0;

	/* what the last messages left behind goes to the front, once */
	if (ib->rpos > 0) {
		memmove(ib->rbuf, ib->rbuf + ib->rpos, ib->rlen - ib->rpos);
		ib->rlen -= ib->rpos;
		ib->rpos = 0;
	}
	if (ib->rlen == sizeof(ib->rbuf)) {
		errno = ENOBUFS;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = ib->rbuf + ib->rlen;
	iov.iov_len = sizeof(ib->rbuf) - ib->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);

	do {
		n = recvmsg(ib->fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;

	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfds > IMSG_CMSG_FDS)
			nfds = IMSG_CMSG_FDS;
		memcpy(fds, CMSG_DATA(cmsg), nfds * sizeof(int));
		for (i = 0; i < nfds; i++) {
			got++;
			if (!ib->allow_fd || ib->nrfds == IMSG_MAX_FDQUEUE) {
				close(fds[i]);
				bad = 1;
				continue;
			}
			ib->rfds[ib->nrfds++] = fds[i];
		}
	}
	/*
	 * A truncated control message on a channel that passes descriptors:
	 * the receiver had no free descriptor and the kernel dropped it. A
	 * sender attaches at most one to a sendmsg(), so that is the one of
	 * the message starting in these bytes: it arrives as lost.
	 */
	if ((msg.msg_flags & MSG_CTRUNC) && ib->allow_fd && got == 0 &&
	    ib->nrfds < IMSG_MAX_FDQUEUE && n > 0)
		ib->rfds[ib->nrfds++] = -1;
	else if (msg.msg_flags & MSG_CTRUNC)
		bad = 1;
	if (bad) {
		errno = EBADMSG;
		return -1;
	}
	ib->rlen += n;
	return n;
}

/*
 * Take the next complete message from the read buffer. Returns 1 with a
 * message (release it with imsg_free()), 0 when no complete message is
 * buffered, -1 (errno EBADMSG) on a malformed header or descriptor.
 */
int
imsg_get(struct imsgbuf *ib, struct imsg *imsg)
{
	struct imsg_hdr	 hdr;
	size_t		 avail = ib->rlen - ib->rpos;

	memset(imsg, 0, sizeof(*imsg));
	imsg->fd = -1;
	if (avail < IMSG_HDR_LEN)
		return 0;
	memcpy(&hdr, ib->rbuf + ib->rpos, IMSG_HDR_LEN);
	if (hdr.len < IMSG_HDR_LEN || hdr.len > IMSG_RBUF_LEN ||
	    (hdr.flags & ~IMSGF_HASFD) != 0) {
		errno = EBADMSG;
		return -1;
	}
	if (avail < hdr.len)
		return 0;
	if (hdr.flags & IMSGF_HASFD) {
		if (ib->nrfds == 0) {
			errno = EBADMSG;
			return -1;
		}
		imsg->fd = ib->rfds[0];
		imsg->fd_lost = imsg->fd == -1;
		ib->nrfds--;
		memmove(ib->rfds, ib->rfds + 1, ib->nrfds * sizeof(int));
	}
	imsg->hdr = hdr;
	imsg->len = hdr.len - IMSG_HDR_LEN;
	if (imsg->len > 0)
		imsg->data = ib->rbuf + ib->rpos + IMSG_HDR_LEN;
	ib->rpos += hdr.len;
	return 1;
}

/*
 * Read what the socket has, then hand each whole message to fn and free
 * it, until fn returns 0 or no whole message is left. Returns 0; -1 at
 * end of file or on a read error (EAGAIN is none); -2 for a malformed
 * message.
 */
int
imsgbuf_read_each(struct imsgbuf *ib, int (*fn)(struct imsg *, void *),
    void *arg)
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 r, more = 1;

	n = imsgbuf_read(ib);
	if (n == 0 || (n == -1 && errno != EAGAIN))
		return -1;
	while (more) {
		if ((r = imsg_get(ib, &imsg)) == -1)
			return -2;
		if (r == 0)
			break;
		more = fn(&imsg, arg);
		imsg_free(&imsg);
	}
	return 0;
}

/* The one accessor for fixed-size payloads: the size must match exactly. */
int
imsg_get_data(const struct imsg *imsg, void *dst, size_t len)
{
	if (imsg->len != len) {
		errno = EBADMSG;
		return -1;
	}
	if (len > 0)
		memcpy(dst, imsg->data, len);
	return 0;
}

/* Take ownership of the message's descriptor (or -1). */
int
imsg_take_fd(struct imsg *imsg)
{
	int	 fd = imsg->fd;

	imsg->fd = -1;
	return fd;
}

void
imsg_free(struct imsg *imsg)
{
	imsg->data = NULL;
	if (imsg->fd != -1)
		close(imsg->fd);
	imsg->fd = -1;
}
