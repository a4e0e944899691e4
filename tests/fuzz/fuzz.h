/* SPDX-License-Identifier: ISC */
/*
 * fuzz.h: what every libFuzzer target in tests/fuzz shares: a reader
 * that turns the fuzzer's bytes into the choices of one run (never
 * reading past the end: a short input just runs out of choices), the
 * check that makes a broken invariant a crash the fuzzer reports, and
 * the quieting of the programs' own log lines; and what fuzz_util.c
 * holds for all of them.
 *
 * Test code only: nothing here is linked into relayd, relay-ctl or
 * relay-client.
 */
#ifndef RELAY_FUZZ_H
#define RELAY_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz {
	const uint8_t	*p;
	size_t		 n;
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* fuzz_util.c */
struct proto_arena;
struct rec_layer;

/*
 * Descriptors: which of the 64 from the lowest free one are open before
 * a run (some may be, above the first hole), so that afterwards every
 * other one can be required closed again.
 */
#define FZ_FD_WINDOW	64
struct fz_fds {
	int		 lo;
	uint64_t	 open;
};

/* out[i] = first + i: the fixed seeds and ephemerals of the targets */
void	fz_counting(uint8_t *, size_t, uint8_t);
/* before a run; after it, the same descriptors are open and no other */
void	fz_fd_snapshot(struct fz_fds *);
void	fz_fd_check(const struct fz_fds *);
void	fz_rec_drain(struct rec_layer *, uint8_t *, size_t *, int *,
	    struct proto_arena *, int from_relay);

static inline void
fz_init(struct fz *f, const uint8_t *data, size_t size)
{
	f->p = data;
	f->n = size;
}

static inline int
fz_more(const struct fz *f)
{
	return f->n > 0;
}

static inline uint8_t
fz_u8(struct fz *f)
{
	uint8_t	 v;

	if (f->n == 0)
		return 0;
	v = *f->p++;
	f->n--;
	return v;
}

static inline uint16_t
fz_u16(struct fz *f)
{
	uint16_t	 hi = fz_u8(f);

	return (uint16_t)(hi << 8 | fz_u8(f));
}

static inline uint32_t
fz_u32(struct fz *f)
{
	uint32_t	 hi = fz_u16(f);

	return hi << 16 | fz_u16(f);
}

static inline uint64_t
fz_u64(struct fz *f)
{
	uint64_t	 hi = fz_u32(f);

	return hi << 32 | fz_u32(f);
}

/* Up to len bytes into out; the rest of out is zero. Returns bytes taken. */
static inline size_t
fz_fill(struct fz *f, void *out, size_t len)
{
	size_t	 k = len < f->n ? len : f->n;

	memcpy(out, f->p, k);
	memset((uint8_t *)out + k, 0, len - k);
	f->p += k;
	f->n -= k;
	return k;
}

/* A pointer to up to len input bytes (*got says how many), consumed. */
static inline const uint8_t *
fz_take(struct fz *f, size_t len, size_t *got)
{
	const uint8_t	*p = f->p;

	*got = len < f->n ? len : f->n;
	f->p += *got;
	f->n -= *got;
	return p;
}

/* A C string of at most max bytes into out (max + 1 bytes), no NUL inside. */
static inline void
fz_str(struct fz *f, char *out, size_t max)
{
	size_t	 len = fz_u8(f) % (max + 1), i;

	fz_fill(f, out, len);
	for (i = 0; i < len; i++)
		if (out[i] == '\0')
			out[i] = 'a';
	out[len] = '\0';
}

/* A broken invariant: report it and crash, so the fuzzer keeps the input. */
#define FZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		dprintf(2, "%s:%d: invariant broken: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/*
 * The programs log to stderr; in a fuzz run that is noise at millions of
 * lines. fz_quiet() points the stdio stream at /dev/null unless
 * FUZZ_VERBOSE is set; invariant, sanitizer and libFuzzer reports write
 * to descriptor 2 itself, which stays.
 */
static inline void
fz_quiet(void)
{
	FILE	*devnull;
	int	 fd;

	if (getenv("FUZZ_VERBOSE") != NULL)
		return;
	/* fdopen, not fopen: fuzz_config replaces fopen() */
	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1 &&
	    (devnull = fdopen(fd, "w")) != NULL) {
		/* buffered: a log line costs no system call */
		setvbuf(devnull, NULL, _IOFBF, 1 << 16);
		stderr = devnull;
	}
}

#endif /* RELAY_FUZZ_H */
