/* SPDX-License-Identifier: ISC */
/*
 * buffer.h: bounded byte buffers. A buffer never grows past the maximum
 * given at creation; every get checks that the bytes are there and every
 * put checks that they fit, so a length read from the network can never
 * make it read or write out of bounds.
 */
#ifndef RELAY_BUFFER_H
#define RELAY_BUFFER_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t		*data;
	size_t		 size;	/* allocated */
	size_t		 max;	/* never grows beyond */
	size_t		 wpos;	/* bytes written */
	size_t		 rpos;	/* bytes consumed */
	int		 fixed;	/* caller memory: never freed or grown */
};

struct buf	*buf_new(size_t initial, size_t max);
void		 buf_free(struct buf *);
void		 buf_init_static(struct buf *, void *, size_t);
void		 buf_reset(struct buf *);
size_t		 buf_len(const struct buf *);	/* unread bytes */
size_t		 buf_room(const struct buf *);	/* writable without growing past max */
uint8_t		*buf_rptr(const struct buf *);
int		 buf_reserve(struct buf *, size_t, uint8_t **);
int		 buf_put(struct buf *, const void *, size_t);
int		 buf_put_u8(struct buf *, uint8_t);
int		 buf_put_u16(struct buf *, uint16_t);
int		 buf_put_u32(struct buf *, uint32_t);
int		 buf_put_u64(struct buf *, uint64_t);
int		 buf_get(struct buf *, void *, size_t);
int		 buf_get_u8(struct buf *, uint8_t *);
int		 buf_get_u16(struct buf *, uint16_t *);
int		 buf_get_u32(struct buf *, uint32_t *);
int		 buf_get_u64(struct buf *, uint64_t *);
int		 buf_peek(const struct buf *, size_t, void *, size_t);
int		 buf_skip(struct buf *, size_t);
void		 buf_compact(struct buf *);

/* Big-endian helpers for fixed-size fields. */
void		 put_be16(uint8_t *, uint16_t);
void		 put_be64(uint8_t *, uint64_t);
uint16_t	 get_be16(const uint8_t *);

#endif /* RELAY_BUFFER_H */
