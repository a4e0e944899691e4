/* SPDX-License-Identifier: ISC */
/*
 * buffer.c: bounded byte buffers (see buffer.h). Every function that could
 * go past the data or the maximum returns -1 and changes nothing.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"

struct buf *
buf_new(size_t initial, size_t max)
{
	struct buf	*b;

	if (initial > max) {
		errno = EINVAL;
		return NULL;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if (initial > 0 && (b->data = malloc(initial)) == NULL) {
		free(b);
		return NULL;
	}
	b->size = initial;
	b->max = max;
	return b;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	if (!b->fixed)
		free(b->data);
	free(b);
}

/* A buffer over caller memory: it never reallocates. Not for buf_free(). */
void
buf_init_static(struct buf *b, void *mem, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->data = mem;
	b->size = len;
	b->max = len;
	b->fixed = 1;
}

void
buf_reset(struct buf *b)
{
	b->rpos = b->wpos = 0;
}

size_t
buf_len(const struct buf *b)
{
	return b->wpos - b->rpos;
}

size_t
buf_room(const struct buf *b)
{
	return b->max - b->wpos;
}

uint8_t *
buf_rptr(const struct buf *b)
{
	return b->data + b->rpos;
}

/* Drop consumed bytes so that the space can be written again. */
void
buf_compact(struct buf *b)
{
	if (b->rpos == 0)
		return;
	memmove(b->data, b->data + b->rpos, b->wpos - b->rpos);
	b->wpos -= b->rpos;
	b->rpos = 0;
}

int
buf_reserve(struct buf *b, size_t len, uint8_t **p)
{
	size_t	 nsize;
	uint8_t	*n;

	if (len > b->max - b->wpos) {
		errno = ENOBUFS;
		return -1;
	}
	if (b->wpos + len > b->size) {
		nsize = b->size ? b->size : (b->max < 256 ? b->max : 256);
		while (nsize < b->wpos + len)
			nsize = nsize > b->max / 2 ? b->max : nsize * 2;
		if ((n = realloc(b->data, nsize)) == NULL)
			return -1;
		b->data = n;
		b->size = nsize;
	}
	if (p != NULL)
		*p = b->data != NULL ? b->data + b->wpos : NULL;
	b->wpos += len;
	return 0;
}

int
buf_put(struct buf *b, const void *src, size_t len)
{
	uint8_t	*p;

	if (buf_reserve(b, len, &p) == -1)
		return -1;
	if (len > 0)
		memcpy(p, src, len);
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

/* v's low len bytes at p, the most significant first. */
static void
put_be(uint8_t *p, uint64_t v, size_t len)
{
	while (len-- > 0) {
		p[len] = v;
		v >>= 8;
	}
}

static int
buf_put_be(struct buf *b, uint64_t v, size_t len)
{
	uint8_t	 p[8];

	put_be(p, v, len);
	return buf_put(b, p, len);
}

int
buf_put_u16(struct buf *b, uint16_t v)
{
	return buf_put_be(b, v, 2);
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	return buf_put_be(b, v, 4);
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	return buf_put_be(b, v, 8);
}

int
buf_peek(const struct buf *b, size_t off, void *dst, size_t len)
{
	if (off > buf_len(b) || len > buf_len(b) - off) {
		errno = EBADMSG;
		return -1;
	}
	if (len > 0)
		memcpy(dst, b->data + b->rpos + off, len);
	return 0;
}

int
buf_get(struct buf *b, void *dst, size_t len)
{
	if (buf_peek(b, 0, dst, len) == -1)
		return -1;
	b->rpos += len;
	return 0;
}

int
buf_skip(struct buf *b, size_t len)
{
	if (len > buf_len(b)) {
		errno = EBADMSG;
		return -1;
	}
	b->rpos += len;
	return 0;
}

int
buf_get_u8(struct buf *b, uint8_t *v)
{
	return buf_get(b, v, 1);
}

int
buf_get_u16(struct buf *b, uint16_t *v)
{
	uint8_t	 p[2];

	if (buf_get(b, p, sizeof(p)) == -1)
		return -1;
	*v = get_be16(p);
	return 0;
}

int
buf_get_u32(struct buf *b, uint32_t *v)
{
	uint8_t	 p[4];

	if (buf_get(b, p, sizeof(p)) == -1)
		return -1;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return 0;
}

int
buf_get_u64(struct buf *b, uint64_t *v)
{
	uint8_t	 p[8];
	int	 i;

	if (buf_get(b, p, sizeof(p)) == -1)
		return -1;
	*v = 0;
	for (i = 0; i < 8; i++)
		*v = *v << 8 | p[i];
	return 0;
}

void
put_be16(uint8_t *p, uint16_t v)
{
	put_be(p, v, 2);
}

void
put_be64(uint8_t *p, uint64_t v)
{
	put_be(p, v, 8);
}

uint16_t
get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
