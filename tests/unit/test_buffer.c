/* SPDX-License-Identifier: ISC */
/*
 * test_buffer.c: the bounded byte buffers of libcommon/buffer.c. Integers
 * must be written and read big-endian, byte for byte; a get past the data
 * or a put past the maximum must fail and leave the buffer as it was; a
 * buffer grows up to its maximum and no further, and one over caller
 * memory never reallocates.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "unit.h"

static struct buf *
new_buf(size_t initial, size_t max)
{
	struct buf	*b = buf_new(initial, max);

	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->wpos, 0);
	ck_assert_uint_eq(b->rpos, 0);
	ck_assert_uint_eq(b->max, max);
	ck_assert_uint_ge(b->size, initial);
	return b;
}

START_TEST(test_new_and_reset)
{
	struct buf	*b;

	errno = 0;
	ck_assert_ptr_null(buf_new(17, 16));
	ck_assert_int_eq(errno, EINVAL);

	b = new_buf(0, 64);
	ck_assert_uint_eq(buf_len(b), 0);
	ck_assert_uint_eq(buf_room(b), 64);
	ck_assert_int_eq(buf_put(b, "abcdef", 6), 0);
	ck_assert_uint_eq(buf_len(b), 6);
	ck_assert_uint_eq(buf_room(b), 58);
	ck_assert_int_eq(buf_skip(b, 2), 0);
	ck_assert_uint_eq(buf_len(b), 4);
	ck_assert_ptr_eq(buf_rptr(b), b->data + 2);
	ck_assert_mem_eq(buf_rptr(b), "cdef", 4);
	buf_reset(b);
	ck_assert_uint_eq(b->wpos, 0);
	ck_assert_uint_eq(b->rpos, 0);
	ck_assert_uint_eq(buf_len(b), 0);
	ck_assert_uint_eq(buf_room(b), 64);
	buf_free(b);
	buf_free(NULL);
}
END_TEST

/* One value of each width, written and read in this order. */
struct ints {
	uint8_t		 v8;
	uint16_t	 v16;
	uint32_t	 v32;
	uint64_t	 v64;
};

static void
put_ints(struct buf *b, const struct ints *v)
{
	ck_assert_int_eq(buf_put_u8(b, v->v8), 0);
	ck_assert_int_eq(buf_put_u16(b, v->v16), 0);
	ck_assert_int_eq(buf_put_u32(b, v->v32), 0);
	ck_assert_int_eq(buf_put_u64(b, v->v64), 0);
}

static void
get_ints(struct buf *b, const struct ints *want)
{
	struct ints	 v;

	ck_assert_int_eq(buf_get_u8(b, &v.v8), 0);
	ck_assert_uint_eq(v.v8, want->v8);
	ck_assert_int_eq(buf_get_u16(b, &v.v16), 0);
	ck_assert_uint_eq(v.v16, want->v16);
	ck_assert_int_eq(buf_get_u32(b, &v.v32), 0);
	ck_assert_uint_eq(v.v32, want->v32);
	ck_assert_int_eq(buf_get_u64(b, &v.v64), 0);
	ck_assert_uint_eq(v.v64, want->v64);
}

/* Integers are big-endian on the wire, whatever the host. */
START_TEST(test_int_roundtrip)
{
	static const struct ints v[2] = {
		{ 0x01, 0x0203, 0x04050607, 0x08090a0b0c0d0e0fULL },
		{ 0xfe, 0xfedc, 0x89abcdefU, 0xfedcba9876543210ULL },
	};
	static const uint8_t want[] = {
		0x01,
		0x02, 0x03,
		0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
		0xfe,
		0xfe, 0xdc,
		0x89, 0xab, 0xcd, 0xef,
		0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
	};
	struct buf	*b = new_buf(4, 256);

	put_ints(b, &v[0]);
	put_ints(b, &v[1]);
	ck_assert_uint_eq(b->wpos, sizeof(want));
	ck_assert_uint_eq(buf_len(b), sizeof(want));
	ck_assert_mem_eq(b->data, want, sizeof(want));

	get_ints(b, &v[0]);
	ck_assert_uint_eq(b->rpos, 15);
	get_ints(b, &v[1]);
	ck_assert_uint_eq(b->rpos, sizeof(want));
	ck_assert_uint_eq(buf_len(b), 0);
	buf_free(b);
}
END_TEST

/* Reading literal bytes: the decoder must not depend on the encoder. */
START_TEST(test_int_decode_literal)
{
	uint8_t		 mem[] = {
		0x80, 0x01, 0xff, 0x00, 0x00, 0x01, 0x80, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	};
	struct buf	 b;
	uint64_t	 v64;
	uint32_t	 v32;
	uint16_t	 v16;

	buf_init_static(&b, mem, sizeof(mem));
	b.wpos = sizeof(mem);
	ck_assert_int_eq(buf_get_u16(&b, &v16), 0);
	ck_assert_uint_eq(v16, 0x8001);
	ck_assert_int_eq(buf_get_u32(&b, &v32), 0);
	ck_assert_uint_eq(v32, 0xff000001U);
	ck_assert_int_eq(buf_skip(&b, 2), 0);
	ck_assert_int_eq(buf_get_u64(&b, &v64), 0);
	ck_assert_uint_eq(v64, 2);
	ck_assert_uint_eq(buf_len(&b), 0);
}
END_TEST

/* A get that would pass the written data fails and consumes nothing. */
START_TEST(test_get_past_end)
{
	struct buf	*b = new_buf(0, 64);
	uint64_t	 v64 = 0x1111111111111111ULL;
	uint32_t	 v32 = 0x22222222;
	uint16_t	 v16 = 0x3333;
	uint8_t		 v8 = 0x44, two[2] = { 0x55, 0x55 };

	ck_assert_int_eq(buf_put(b, "\xaa\xbb\xcc", 3), 0);

	errno = 0;
	ck_assert_int_eq(buf_get_u32(b, &v32), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_uint_eq(v32, 0x22222222);
	ck_assert_uint_eq(b->rpos, 0);
	ck_assert_uint_eq(buf_len(b), 3);
	ck_assert_int_eq(buf_get_u64(b, &v64), -1);
	ck_assert_uint_eq(v64, 0x1111111111111111ULL);
	ck_assert_uint_eq(b->rpos, 0);

	ck_assert_int_eq(buf_get_u16(b, &v16), 0);
	ck_assert_uint_eq(v16, 0xaabb);
	ck_assert_uint_eq(b->rpos, 2);

	errno = 0;
	ck_assert_int_eq(buf_get_u16(b, &v16), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_uint_eq(v16, 0xaabb);
	ck_assert_uint_eq(b->rpos, 2);
	ck_assert_int_eq(buf_get(b, two, 2), -1);
	ck_assert_uint_eq(two[0], 0x55);
	ck_assert_uint_eq(two[1], 0x55);
	ck_assert_uint_eq(b->rpos, 2);
	ck_assert_int_eq(buf_get(b, two, SIZE_MAX), -1);
	ck_assert_uint_eq(b->rpos, 2);

	ck_assert_int_eq(buf_get_u8(b, &v8), 0);
	ck_assert_uint_eq(v8, 0xcc);
	ck_assert_uint_eq(b->rpos, 3);
	ck_assert_int_eq(buf_get_u8(b, &v8), -1);
	ck_assert_uint_eq(v8, 0xcc);
	ck_assert_uint_eq(b->rpos, 3);
	ck_assert_uint_eq(b->wpos, 3);

	/* a zero-length get of an empty buffer is fine */
	ck_assert_int_eq(buf_get(b, two, 0), 0);
	ck_assert_uint_eq(b->rpos, 3);
	buf_free(b);
}
END_TEST

/* A put that would pass the maximum fails with ENOBUFS, writes nothing. */
START_TEST(test_put_past_max)
{
	struct buf	*b = new_buf(4, 8);
	uint8_t		*p = NULL;

	ck_assert_int_eq(buf_put(b, "123456", 6), 0);
	ck_assert_uint_eq(buf_room(b), 2);

	errno = 0;
	ck_assert_int_eq(buf_put_u32(b, 0xdeadbeef), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert_uint_eq(b->wpos, 6);
	errno = 0;
	ck_assert_int_eq(buf_put_u64(b, 1), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert_uint_eq(b->wpos, 6);
	ck_assert_int_eq(buf_put(b, "abc", 3), -1);
	ck_assert_uint_eq(b->wpos, 6);
	/* lengths that would overflow wpos + len */
	errno = 0;
	ck_assert_int_eq(buf_put(b, "abc", SIZE_MAX), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert_int_eq(buf_reserve(b, SIZE_MAX - 3, &p), -1);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(b->wpos, 6);

	ck_assert_int_eq(buf_put_u16(b, 0x3738), 0);
	ck_assert_uint_eq(b->wpos, 8);
	ck_assert_uint_eq(buf_room(b), 0);
	ck_assert_int_eq(buf_put_u8(b, 0), -1);
	ck_assert_uint_eq(b->wpos, 8);
	ck_assert_int_eq(buf_put(b, NULL, 0), 0);
	ck_assert_uint_eq(b->wpos, 8);
	ck_assert_uint_le(b->size, b->max);
	ck_assert_mem_eq(b->data, "12345678", 8);
	buf_free(b);
}
END_TEST

/* Growth by doubling, capped at the maximum: everything written survives. */
START_TEST(test_growth_to_max)
{
	static const size_t	 maxes[] = { 300, 4096, 100000 };
	struct buf		*b;
	uint8_t			*p;
	size_t			 max = maxes[_i], i, k, chunk;
	uint8_t			 tmp[97];

	b = new_buf(_i == 0 ? 0 : 16, max);
	for (i = 0; i < max; i += chunk) {
		chunk = max - i < sizeof(tmp) ? max - i : sizeof(tmp);
		for (k = 0; k < chunk; k++)
			tmp[k] = (uint8_t)((i + k) * 7 + 3);
		ck_assert_int_eq(buf_put(b, tmp, chunk), 0);
		ck_assert_uint_eq(b->wpos, i + chunk);
		ck_assert_uint_ge(b->size, b->wpos);
		ck_assert_uint_le(b->size, b->max);
	}
	ck_assert_uint_eq(b->size, max);
	ck_assert_uint_eq(buf_room(b), 0);
	ck_assert_int_eq(buf_put_u8(b, 1), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	for (i = 0; i < max; i++)
		ck_assert_uint_eq(b->data[i], (uint8_t)(i * 7 + 3));

	/* buf_reserve hands out the right spot and counts it as written */
	buf_reset(b);
	ck_assert_int_eq(buf_reserve(b, 10, &p), 0);
	ck_assert_ptr_eq(p, b->data);
	ck_assert_uint_eq(b->wpos, 10);
	ck_assert_int_eq(buf_reserve(b, 5, &p), 0);
	ck_assert_ptr_eq(p, b->data + 10);
	ck_assert_int_eq(buf_reserve(b, max - 15, NULL), 0);
	ck_assert_int_eq(buf_reserve(b, 1, &p), -1);
	ck_assert_uint_eq(b->wpos, max);
	buf_free(b);
}
END_TEST

/* A buffer over caller memory keeps its memory and refuses to outgrow it. */
START_TEST(test_static)
{
	uint8_t		 mem[16];
	struct buf	 b;
	uint8_t		 v8;
	int		 i;

	memset(mem, 0xee, sizeof(mem));
	buf_init_static(&b, mem, 8);
	ck_assert_ptr_eq(b.data, mem);
	ck_assert_uint_eq(b.size, 8);
	ck_assert_uint_eq(b.max, 8);
	ck_assert_int_ne(b.fixed, 0);
	ck_assert_uint_eq(buf_len(&b), 0);
	ck_assert_uint_eq(buf_room(&b), 8);

	ck_assert_int_eq(buf_put_u32(&b, 0x01020304), 0);
	ck_assert_int_eq(buf_put_u16(&b, 0x0506), 0);
	errno = 0;
	ck_assert_int_eq(buf_put_u32(&b, 0x0708090a), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert_uint_eq(b.wpos, 6);
	ck_assert_int_eq(buf_put_u16(&b, 0x0708), 0);
	ck_assert_int_eq(buf_put_u8(&b, 0x09), -1);
	ck_assert_int_eq(buf_reserve(&b, 1, NULL), -1);
	ck_assert_ptr_eq(b.data, mem);
	ck_assert_uint_eq(b.size, 8);
	ck_assert_uint_eq(b.wpos, 8);
	ck_assert_mem_eq(mem, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	for (i = 8; i < 16; i++)
		ck_assert_uint_eq(mem[i], 0xee);

	/* consume and compact: the space is usable again, in place */
	ck_assert_int_eq(buf_get_u8(&b, &v8), 0);
	ck_assert_int_eq(buf_skip(&b, 2), 0);
	buf_compact(&b);
	ck_assert_ptr_eq(b.data, mem);
	ck_assert_uint_eq(b.rpos, 0);
	ck_assert_uint_eq(b.wpos, 5);
	ck_assert_int_eq(buf_put(&b, "xyz", 3), 0);
	ck_assert_int_eq(buf_put_u8(&b, 0), -1);
	ck_assert_mem_eq(mem, "\x04\x05\x06\x07\x08xyz", 8);
	for (i = 8; i < 16; i++)
		ck_assert_uint_eq(mem[i], 0xee);

	/* an empty static buffer takes nothing at all */
	buf_init_static(&b, mem, 0);
	ck_assert_uint_eq(buf_room(&b), 0);
	ck_assert_int_eq(buf_put_u8(&b, 1), -1);
	ck_assert_ptr_eq(b.data, mem);
	ck_assert_uint_eq(mem[0], 0x04);
}
END_TEST

START_TEST(test_peek_skip)
{
	struct buf	*b = new_buf(0, 64);
	uint8_t		 out[8];

	ck_assert_int_eq(buf_put(b, "0123456789", 10), 0);
	ck_assert_int_eq(buf_skip(b, 2), 0);
	ck_assert_uint_eq(buf_len(b), 8);

	/* offsets count from the read position, and nothing is consumed */
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(buf_peek(b, 0, out, 3), 0);
	ck_assert_mem_eq(out, "234", 3);
	ck_assert_int_eq(buf_peek(b, 5, out, 3), 0);
	ck_assert_mem_eq(out, "789", 3);
	ck_assert_int_eq(buf_peek(b, 8, out, 0), 0);
	ck_assert_uint_eq(b->rpos, 2);

	memset(out, 'z', sizeof(out));
	errno = 0;
	ck_assert_int_eq(buf_peek(b, 6, out, 3), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(buf_peek(b, 9, out, 0), -1);
	ck_assert_int_eq(buf_peek(b, 0, out, 9), -1);
	ck_assert_int_eq(buf_peek(b, SIZE_MAX, out, 1), -1);
	ck_assert_int_eq(buf_peek(b, 1, out, SIZE_MAX), -1);
	ck_assert_int_eq(buf_peek(b, 4, out, SIZE_MAX - 2), -1);
	ck_assert_uint_eq(out[0], 'z');
	ck_assert_uint_eq(b->rpos, 2);

	errno = 0;
	ck_assert_int_eq(buf_skip(b, 9), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(buf_skip(b, SIZE_MAX), -1);
	ck_assert_uint_eq(b->rpos, 2);
	ck_assert_int_eq(buf_skip(b, 7), 0);
	ck_assert_uint_eq(buf_len(b), 1);
	ck_assert_int_eq(buf_skip(b, 2), -1);
	ck_assert_uint_eq(b->rpos, 9);
	ck_assert_int_eq(buf_skip(b, 1), 0);
	ck_assert_uint_eq(buf_len(b), 0);
	ck_assert_int_eq(buf_skip(b, 0), 0);
	ck_assert_int_eq(buf_skip(b, 1), -1);
	ck_assert_uint_eq(b->rpos, 10);
	buf_free(b);
}
END_TEST

START_TEST(test_compact)
{
	struct buf	*b = new_buf(0, 16);
	uint8_t		 out[16];

	ck_assert_int_eq(buf_put(b, "abcdefghijklmn", 14), 0);
	ck_assert_uint_eq(buf_room(b), 2);

	/* nothing consumed: nothing moves */
	buf_compact(b);
	ck_assert_uint_eq(b->rpos, 0);
	ck_assert_uint_eq(b->wpos, 14);
	ck_assert_mem_eq(b->data, "abcdefghijklmn", 14);

	ck_assert_int_eq(buf_get(b, out, 4), 0);
	ck_assert_mem_eq(out, "abcd", 4);
	ck_assert_uint_eq(buf_room(b), 2);
	buf_compact(b);
	ck_assert_uint_eq(b->rpos, 0);
	ck_assert_uint_eq(b->wpos, 10);
	ck_assert_uint_eq(buf_len(b), 10);
	ck_assert_uint_eq(buf_room(b), 6);
	ck_assert_mem_eq(b->data, "efghijklmn", 10);
	ck_assert_int_eq(buf_put(b, "OPQRST", 6), 0);
	ck_assert_int_eq(buf_put_u8(b, 0), -1);
	ck_assert_int_eq(buf_get(b, out, 16), 0);
	ck_assert_mem_eq(out, "efghijklmnOPQRST", 16);

	/* everything consumed: the buffer is empty and whole again */
	buf_compact(b);
	ck_assert_uint_eq(b->rpos, 0);
	ck_assert_uint_eq(b->wpos, 0);
	ck_assert_uint_eq(buf_room(b), 16);

	/* a single consumed byte is reclaimed too */
	ck_assert_int_eq(buf_put(b, "0123456789abcdef", 16), 0);
	ck_assert_int_eq(buf_skip(b, 1), 0);
	ck_assert_uint_eq(buf_room(b), 0);
	buf_compact(b);
	ck_assert_uint_eq(b->rpos, 0);
	ck_assert_uint_eq(b->wpos, 15);
	ck_assert_uint_eq(buf_room(b), 1);
	ck_assert_mem_eq(b->data, "123456789abcdef", 15);
	buf_free(b);
}
END_TEST

START_TEST(test_be_helpers)
{
	uint8_t	 p[10];

	memset(p, 0xaa, sizeof(p));
	put_be16(p + 1, 0x1234);
	ck_assert_mem_eq(p, "\xaa\x12\x34\xaa", 4);
	ck_assert_uint_eq(get_be16(p + 1), 0x1234);
	put_be16(p, 0xff01);
	ck_assert_mem_eq(p, "\xff\x01", 2);
	ck_assert_uint_eq(get_be16(p), 0xff01);
	ck_assert_uint_eq(get_be16((const uint8_t *)"\x80\x00"), 0x8000);
	ck_assert_uint_eq(get_be16((const uint8_t *)"\x00\xff"), 0x00ff);

	memset(p, 0xaa, sizeof(p));
	put_be64(p + 1, 0x0102030405060708ULL);
	ck_assert_mem_eq(p,
	    "\xaa\x01\x02\x03\x04\x05\x06\x07\x08\xaa", 10);
	put_be64(p, 0xf0e0d0c0b0a09080ULL);
	ck_assert_mem_eq(p, "\xf0\xe0\xd0\xc0\xb0\xa0\x90\x80", 8);
	put_be64(p, 0);
	ck_assert_mem_eq(p, "\0\0\0\0\0\0\0\0", 8);
}
END_TEST

UNIT_MAIN("buffer",
	{ "integers", { { test_int_roundtrip },
	    { test_int_decode_literal }, { test_be_helpers } } },
	{ "bounds", { { test_new_and_reset }, { test_get_past_end },
	    { test_put_past_max }, { test_growth_to_max, 3 },
	    { test_static }, { test_peek_skip }, { test_compact } } });
