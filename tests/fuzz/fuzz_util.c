/* SPDX-License-Identifier: ISC */
/*
 * fuzz_util.c: the pieces of the fuzz targets that are not inline in
 * fuzz.h: fixed key material, the descriptor check and the reader of a
 * record stream. Linked into every target (libfuzzcommon.a); test code
 * only.
 */
#include "config.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "crypto.h"
#include "fuzz.h"
#include "proto.h"

void
fz_counting(uint8_t *out, size_t len, uint8_t first)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		out[i] = (uint8_t)(first + i);
}

/* One poll() tells which of the window are open (not POLLNVAL). */
static uint64_t
fd_open_mask(int lo)
{
	struct pollfd	 p[FZ_FD_WINDOW];
	uint64_t	 m = 0;
	int		 i;

	for (i = 0; i < FZ_FD_WINDOW; i++) {
		p[i].fd = lo + i;
		p[i].events = 0;
		p[i].revents = 0;
	}
	FZ_CHECK(poll(p, FZ_FD_WINDOW, 0) != -1);
	for (i = 0; i < FZ_FD_WINDOW; i++)
		if (!(p[i].revents & POLLNVAL))
			m |= (uint64_t)1 << i;
	return m;
}

void
fz_fd_snapshot(struct fz_fds *s)
{
	int	 fd;

	FZ_CHECK((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1);
	close(fd);
	s->lo = fd;
	s->open = fd_open_mask(fd);
}

void
fz_fd_check(const struct fz_fds *s)
{
	FZ_CHECK(fd_open_mask(s->lo) == s->open);
}

/* A record's plaintext: a message of its direction that passes the check. */
static void
check_msg(struct proto_arena *a, int from_relay, const uint8_t *pt,
    size_t plen)
{
	RelayMessage	*rm;
	ClientMessage	*cm;
	const char	*name;
	char		 err[128];
	int		 r;

	if (from_relay) {
		FZ_CHECK((rm = proto_unpack_relay(a, pt, plen)) != NULL);
		r = proto_check_relay(rm, err, sizeof(err));
		name = proto_relay_msg_name(rm->msg_case);
	} else {
		FZ_CHECK((cm = proto_unpack_client(a, pt, plen)) != NULL);
		r = proto_check_client(cm, err, sizeof(err));
		name = proto_client_msg_name(cm->msg_case);
	}
	if (r == -1) {
		dprintf(2, "%s sent a bad %s: %s\n", from_relay ? "relayd" :
		    "relay-client", name, err);
		FZ_CHECK(!"a bad message on a control connection");
	}
	proto_arena_reset(a);
}

/*
 * Open every complete record at the front of in (*inlen bytes), until a
 * close record (*closed set): each must be authentic, and each data
 * record a valid message, RelayMessage if from_relay, else ClientMessage
 * (unpacked in a). What is left is an incomplete record.
 */
void
fz_rec_drain(struct rec_layer *rl, uint8_t *in, size_t *inlen, int *closed,
    struct proto_arena *a, int from_relay)
{
	uint8_t		 pt[REC_MAX_PAYLOAD];
	ssize_t		 flen;
	size_t		 plen;
	int		 r;

	while (!*closed) {
		flen = rec_frame_len(in, *inlen);
		FZ_CHECK(flen >= 0);
		if (flen == 0 || (size_t)flen > *inlen)
			break;
		r = rec_open(rl, in, flen, pt, sizeof(pt), &plen);
		if (r == REC_ERR)
			dprintf(2, "record %llu of %zd bytes does not open: "
			    "%s\n", (unsigned long long)rl->recv.counter, flen,
			    rl->error);
		FZ_CHECK(r != REC_ERR);
		memmove(in, in + flen, *inlen - flen);
		*inlen -= flen;
		if (r == REC_CLOSE)
			*closed = 1;
		else
			check_msg(a, from_relay, pt, plen);
	}
}
