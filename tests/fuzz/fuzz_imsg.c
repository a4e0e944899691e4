/* SPDX-License-Identifier: ISC */
/*
 * fuzz_imsg.c: internal message framing (libcommon/imsg.c), what every
 * relayd worker reads from its peers. Three modes, chosen by the first
 * input byte:
 *
 *   buffer  imsg_get() over a read buffer built from the input (raw
 *           bytes and headers with any type, length, peerid and flags)
 *           with 0-16 descriptors queued, on a channel that allows them
 *           or not; every result is compared with a reference parser.
 *   socket  the same bytes arrive over a real socketpair in chunks, each
 *           chunk with 0-10 descriptors (SCM_RIGHTS); imsgbuf_read() must
 *           refuse descriptors a channel does not allow and more than it
 *           can take, and never lose one.
 *   compose messages composed from the input (sizes up to the limit,
 *           some with a descriptor) and flushed through a socketpair
 *           arrive whole, in order, each with the very descriptor it was
 *           sent with.
 *
 * After every run no descriptor is left open: each one the run created
 * was either handed out by imsg_get() (and closed here) or closed by
 * imsg.c.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "imsg.h"

static struct imsgbuf	 ib, ob;
static uint8_t		 stream[IMSG_RBUF_LEN + 4096];
static int		 devnull = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		abort();
	return 0;
}

/*
 * Build a byte stream: raw runs, and headers whose payload (zeros
 * unless the input gives more) follows them.
 */
static size_t
build_stream(struct fz *f, size_t max)
{
	struct imsg_hdr	 h;
	size_t		 len = 0, n, plen;
	uint8_t		 kind;

	while (fz_more(f) && len < max) {
		kind = fz_u8(f);
		if (kind == 0xff)
			break;
		if (kind < 64) {
			n = kind + 1;
			if (n > max - len)
				n = max - len;
			fz_fill(f, stream + len, n);
			len += n;
			continue;
		}
		memset(&h, 0, sizeof(h));
		h.type = fz_u8(f);
		if (kind < 224) {
			plen = fz_u16(f);
			if (kind >= 192)
				plen = (plen << 4) % (IMSG_MAX_PAYLOAD + 8);
			h.len = (uint32_t)(IMSG_HDR_LEN + plen);
		} else
			h.len = fz_u32(f);
		h.peerid = fz_u8(f);
		h.flags = kind & 1 ? IMSGF_HASFD : 0;
		if ((kind & 0x1e) == 0x1e)
			h.flags |= 1u << (fz_u8(f) % 32);
		n = sizeof(h) < max - len ? sizeof(h) : max - len;
		memcpy(stream + len, &h, n);
		len += n;
		if (h.len < IMSG_HDR_LEN || h.len > IMSG_RBUF_LEN)
			continue;
		plen = h.len - IMSG_HDR_LEN;
		if (plen > max - len)
			plen = max - len;
		memset(stream + len, 0, plen);
		fz_fill(f, stream + len, plen > 64 ? 64 : plen);
		len += plen;
	}
	return len;
}

/*
 * What imsg_get() must return for this buffer and descriptor count:
 * 1 (and the message length), 0 or -1.
 */
static int
ref_get(const uint8_t *buf, size_t len, int nfds, uint32_t *mlen)
{
	struct imsg_hdr	 h;

	if (len < IMSG_HDR_LEN)
		return 0;
	memcpy(&h, buf, sizeof(h));
	if (h.len < IMSG_HDR_LEN || h.len > IMSG_RBUF_LEN ||
	    (h.flags & ~(uint32_t)IMSGF_HASFD) != 0)
		return -1;
	if (len < h.len)
		return 0;
	if ((h.flags & IMSGF_HASFD) && nfds == 0)
		return -1;
	*mlen = h.len;
	return 1;
}

/* Take what imsg_get() gives; the caller's reference says what it must. */
static int
take_one(struct fz *f, const uint8_t *ref_buf, size_t ref_len, int ref_nfds,
    size_t *consumed, int *fds_used)
{
	struct imsg	 imsg;
	struct imsg_hdr	 h;
	uint8_t		 small[64];
	uint32_t	 mlen = 0;
	int		 r, want, fd;
	size_t		 ask;

	want = ref_get(ref_buf, ref_len, ref_nfds, &mlen);
	r = imsg_get(&ib, &imsg);
	FZ_CHECK(r == want);
	if (r == -1)
		FZ_CHECK(errno == EBADMSG);
	if (r != 1) {
		FZ_CHECK(imsg.fd == -1 && imsg.data == NULL);
		return r;
	}
	memcpy(&h, ref_buf, sizeof(h));
	FZ_CHECK(imsg.hdr.type == h.type && imsg.hdr.len == h.len &&
	    imsg.hdr.peerid == h.peerid && imsg.hdr.flags == h.flags);
	FZ_CHECK(imsg.len == mlen - IMSG_HDR_LEN);
	FZ_CHECK((imsg.len == 0) == (imsg.data == NULL));
	if (imsg.len > 0)
		FZ_CHECK(memcmp(imsg.data, ref_buf + IMSG_HDR_LEN,
		    imsg.len) == 0);
	FZ_CHECK((imsg.fd != -1) == ((h.flags & IMSGF_HASFD) != 0));
	if (imsg.fd != -1) {
		FZ_CHECK(fcntl(imsg.fd, F_GETFD) != -1);
		(*fds_used)++;
	}
	*consumed = mlen;

	/* the one accessor: exactly the right size, or nothing */
	ask = fz_u8(f) & 1 ? imsg.len : fz_u8(f);
	if (ask <= sizeof(small)) {
		memset(small, 0xa5, sizeof(small));
		r = imsg_get_data(&imsg, small, ask);
		FZ_CHECK((r == 0) == (ask == imsg.len));
		if (r == 0 && ask > 0)
			FZ_CHECK(memcmp(small, imsg.data, ask) == 0);
		if (r == -1)
			FZ_CHECK(small[0] == 0xa5 && errno == EBADMSG);
	}
	if (fz_u8(f) & 1) {
		fd = imsg_take_fd(&imsg);
		FZ_CHECK(imsg.fd == -1);
		if (fd != -1)
			close(fd);
	}
	imsg_free(&imsg);
	FZ_CHECK(imsg.data == NULL && imsg.fd == -1);
	return 1;
}

static void
run_buffer(struct fz *f)
{
	struct fz_fds	 snap;
	size_t		 len, off = 0, used;
	int		 nfds, i, fds_used = 0;

	fz_fd_snapshot(&snap);
	imsgbuf_init(&ib, -1, fz_u8(f) & 1);
	nfds = fz_u8(f) % (IMSG_MAX_FDQUEUE + 1);
	for (i = 0; i < nfds; i++)
		FZ_CHECK((ib.rfds[ib.nrfds++] = dup(devnull)) != -1);
	len = build_stream(f, sizeof(ib.rbuf));
	memcpy(ib.rbuf, stream, len);
	ib.rlen = len;
	while (take_one(f, stream + off, len - off, nfds - fds_used, &used,
	    &fds_used) == 1)
		off += used;
	FZ_CHECK(ib.rlen - ib.rpos == len - off);
	FZ_CHECK(ib.nrfds == nfds - fds_used);
	imsgbuf_clear(&ib);
	FZ_CHECK(ib.nrfds == 0 && ib.rlen == ib.rpos);
	fz_fd_check(&snap);
}

/* Send len bytes with nfds descriptors (dups of /dev/null) in one message. */
static int
send_chunk(int s, const uint8_t *p, size_t len, int nfds)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int) * 10)];
	}		 cm;
	struct msghdr	 msg;
	struct cmsghdr	*c;
	struct iovec	 iov;
	int		 fds[10], i;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		for (i = 0; i < nfds; i++)
			FZ_CHECK((fds[i] = dup(devnull)) != -1);
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	n = sendmsg(s, &msg, MSG_NOSIGNAL);
	for (i = 0; i < nfds; i++)
		close(fds[i]);	/* the kernel holds its own reference */
	return n == (ssize_t)len ? 0 : -1;
}

static void
run_socket(struct fz *f)
{
	struct fz_fds	 snap;
	size_t		 len, off = 0, sent = 0, chunk, used;
	int		 sv[2], nfds, total_fds = 0, fds_used = 0, bad = 0;
	int		 chunks = 0;
	ssize_t		 n;

	fz_fd_snapshot(&snap);
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv) == 0);
	imsgbuf_init(&ib, sv[1], fz_u8(f) & 1);
	len = build_stream(f, 16384);
	while (sent < len && chunks++ < 16 && !bad) {
		chunk = fz_u16(f) % 4096 + 1;
		if (chunk > len - sent)
			chunk = len - sent;
		nfds = fz_u8(f) % 11;
		FZ_CHECK(send_chunk(sv[0], stream + sent, chunk, nfds) == 0);
		sent += chunk;
		n = imsgbuf_read(&ib);
		if (nfds > 0 && (!ib.allow_fd || nfds > 8 ||
		    total_fds - fds_used + nfds > IMSG_MAX_FDQUEUE)) {
			/* refused, and every descriptor of it closed */
			FZ_CHECK(n == -1 && errno == EBADMSG);
			bad = 1;
			break;
		}
		FZ_CHECK(n == (ssize_t)chunk);
		total_fds += nfds;
		FZ_CHECK(ib.nrfds == total_fds - fds_used);
		while (take_one(f, stream + off, sent - off,
		    total_fds - fds_used, &used, &fds_used) == 1)
			off += used;
		if (ib.rlen - ib.rpos != sent - off)	/* malformed: fatal */
			break;
	}
	imsgbuf_clear(&ib);
	close(sv[0]);
	close(sv[1]);
	fz_fd_check(&snap);
}

static void
run_compose(struct fz *f)
{
	struct fz_fds	 snap;
	struct imsg	 imsg;
	struct stat	 sent_st[32], st;
	size_t		 plen[32], len;
	uint32_t	 type[32];
	int		 hasfd[32], sv[2], p[2], i, k, nmsg, r, got = 0;
	static uint8_t	 payload[IMSG_MAX_PAYLOAD + 1];
	ssize_t		 n;

	fz_fd_snapshot(&snap);
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv) == 0);
	imsgbuf_init(&ob, sv[0], 1);
	imsgbuf_init(&ib, sv[1], 1);
	nmsg = fz_u8(f) % 32 + 1;
	for (i = 0; i < nmsg; i++) {
		type[i] = fz_u8(f);
		len = fz_u16(f);
		if (len > 4096)
			len = len < 0xfff0 ? len % 600 : IMSG_MAX_PAYLOAD +
			    (len & 1);
		plen[i] = len;
		memset(payload, (int)type[i], len);
		hasfd[i] = fz_u8(f) < 64;
		k = -1;
		if (hasfd[i]) {
			FZ_CHECK(pipe2(p, O_CLOEXEC) == 0);
			close(p[1]);
			k = p[0];
			FZ_CHECK(fstat(k, &sent_st[i]) == 0);
		}
		r = imsg_compose(&ob, type[i], (uint32_t)i, k, payload, len);
		if (len > IMSG_MAX_PAYLOAD) {
			FZ_CHECK(r == -1 && errno == EMSGSIZE);
			if (k != -1)
				close(k);
			nmsg = i;
			break;
		}
		FZ_CHECK(r == 0);
	}
	/* flush and read in turns until everything arrived */
	for (k = 0; k < 10000 && got < nmsg; k++) {
		r = imsgbuf_flush(&ob);
		FZ_CHECK(r == 0 || r == 1);
		n = imsgbuf_read(&ib);
		FZ_CHECK(n > 0 || (n == -1 && errno == EAGAIN));
		while ((r = imsg_get(&ib, &imsg)) == 1) {
			FZ_CHECK(got < nmsg);
			FZ_CHECK(imsg.hdr.type == type[got]);
			FZ_CHECK(imsg.hdr.peerid == (uint32_t)got);
			FZ_CHECK(imsg.len == plen[got]);
			memset(payload, (int)type[got], imsg.len);
			FZ_CHECK(imsg.len == 0 ||
			    memcmp(imsg.data, payload, imsg.len) == 0);
			FZ_CHECK((imsg.fd != -1) == hasfd[got]);
			if (imsg.fd != -1) {
				FZ_CHECK(fstat(imsg.fd, &st) == 0);
				FZ_CHECK(st.st_ino == sent_st[got].st_ino &&
				    st.st_dev == sent_st[got].st_dev);
			}
			imsg_free(&imsg);
			got++;
		}
		FZ_CHECK(r == 0);
	}
	FZ_CHECK(got == nmsg);
	FZ_CHECK(ob.queued == 0);
	imsgbuf_clear(&ob);
	imsgbuf_clear(&ib);
	close(sv[0]);
	close(sv[1]);
	fz_fd_check(&snap);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz	 f;

	fz_init(&f, data, size);
	switch (fz_u8(&f) % 3) {
	case 0:
		run_buffer(&f);
		break;
	case 1:
		run_socket(&f);
		break;
	default:
		run_compose(&f);
		break;
	}
	return 0;
}
