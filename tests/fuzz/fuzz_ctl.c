/* SPDX-License-Identifier: ISC */
/*
 * fuzz_ctl.c: relay-ctl's handling of relayd's replies (relay-ctl.c
 * ctl_exchange, ctl_next, ctl_reply and the checks before any output;
 * output.c and output_json.c). relayd is played by the input: a request
 * and an output (people, -j, or show metrics) are chosen, then a stream
 * of replies is written to a socketpair, most of them well-sized
 * CTL_* messages with input-filled payloads (strings terminated and
 * counts in range or not, as the input says), some of any type and
 * size, then raw bytes, then the end of the connection.
 *
 * relay-ctl.c is compiled into this file with main() renamed and err()
 * and errx() replaced: relay-ctl's way to refuse a reply is to exit, and
 * here that ends one run (after freeing what relay-ctl would leave to
 * exit). Beyond "no crash": for people, everything printed is printable
 * ASCII (relayd cannot send escape sequences to the terminal); with -j,
 * every line printed is one valid JSON document (RFC 8259, UTF-8
 * included), as output_json.c promises "whatever relayd sends", failures
 * included (relay-ctl prints {"error": ...} then).
 */
#include "config.h"

#include <sys/socket.h>

#include <err.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "imsg.h"
#include "json_check.h"

static jmp_buf		 fz_jb;
static struct imsg	*fz_last_imsg;
static void		 fz_exit_now(void) __attribute__((noreturn));
void			 fz_errx(int, const char *, ...)
			    __attribute__((noreturn, format(printf, 2, 3)));
void			 fz_exit(int) __attribute__((noreturn));
int			 fz_imsg_get(struct imsgbuf *, struct imsg *);
int			 relay_ctl_main(int, char *[]);

/* relay-ctl's one imsg in flight, to free it when relay-ctl "exits" */
int
fz_imsg_get(struct imsgbuf *b, struct imsg *m)
{
	fz_last_imsg = m;
	return imsg_get(b, m);
}

#define main		relay_ctl_main
/* err() and errx() alike: the message (errno's text is no matter here) */
#define err(...)	fz_errx(__VA_ARGS__)
#define errx(...)	fz_errx(__VA_ARGS__)
#define exit(s)		fz_exit(s)
#define imsg_get	fz_imsg_get
#include "../../relay-ctl/relay-ctl.c"
#undef main
#undef err
#undef errx
#undef exit
#undef imsg_get

static void
fz_exit_now(void)
{
	if (fz_last_imsg != NULL)
		imsg_free(fz_last_imsg);	/* safe after relay-ctl's own */
	fz_last_imsg = NULL;
	longjmp(fz_jb, 1);
}

/* ctl_fail() has restored stdout and printed the -j error document */
void
fz_exit(int status)
{
	fz_exit_now();
}

void
fz_errx(int status, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fz_exit_now();
}

/* ---- relayd, played by the input ---- */

static const uint32_t requests[] = {
	CTL_SHOW_SUMMARY, CTL_SHOW_LEASES, CTL_SHOW_SESSIONS, CTL_SHOW_STATS,
	CTL_LEASE_REVOKE, CTL_SESSION_KILL, CTL_RELOAD, CTL_LOG_VERBOSE,
	CTL_LOG_BRIEF, CTL_MONITOR
};
static const enum actions actions[] = {
	SHOW_SUMMARY, SHOW_LEASES, SHOW_SESSIONS, SHOW_STATS, LEASE_REVOKE,
	SESSION_KILL, RELOAD, LOG_VERBOSE, LOG_BRIEF, MONITOR
};
/* The replies relay-ctl reads, and their sizes (CTL_END: empty). */
static const struct {
	uint32_t	 type;
	size_t		 size;
} replies[] = {
	{ CTL_SUMMARY, sizeof(struct ctl_summary) },
	{ CTL_LEASE, sizeof(struct ctl_lease) },
	{ CTL_SESSION, sizeof(struct ctl_session) },
	{ CTL_STATS, sizeof(struct ctl_stats) },
	{ CTL_EVENT, sizeof(struct ctl_event) },
	{ CTL_RESULT, sizeof(struct ctl_result) },
	{ CTL_END, 0 },
};
#define NREPLIES	(sizeof(replies) / sizeof(replies[0]))

static size_t
reply_size(uint32_t type)
{
	size_t	 i;

	for (i = 0; i < NREPLIES; i++)
		if (replies[i].type == type)
			return replies[i].size;
	return 0;
}

#define TERM(a)	((a)[sizeof(a) - 1] = '\0')
#define STR(t, s, m)	{ (t), offsetof(struct s, m), sizeof(((struct s *)0)->m) }

/* The single strings of each reply: char arrays to end inside. */
static const struct {
	uint32_t	 type;
	size_t		 off;
	size_t		 len;
} reply_strs[] = {
	STR(CTL_SUMMARY, ctl_summary, version),
	STR(CTL_SUMMARY, ctl_summary, relay_id),
	STR(CTL_LEASE, ctl_lease, name),
	STR(CTL_LEASE, ctl_lease, id),
	STR(CTL_LEASE, ctl_lease, description),
	STR(CTL_LEASE, ctl_lease, addr),
	STR(CTL_SESSION, ctl_session, lease_name),
	STR(CTL_SESSION, ctl_session, from_id),
	STR(CTL_SESSION, ctl_session, to_id),
	STR(CTL_SESSION, ctl_session, alpn),
	STR(CTL_SESSION, ctl_session, state),
	STR(CTL_EVENT, ctl_event, name),
	STR(CTL_EVENT, ctl_event, id),
	STR(CTL_EVENT, ctl_event, detail),
	STR(CTL_RESULT, ctl_result, message),
};

/* Make a reply well-formed: strings end inside their arrays, counts fit. */
static void
reply_fix(uint32_t type, void *p)
{
	struct ctl_summary	*s = p;
	struct ctl_lease	*l = p;
	uint32_t		 i;

	for (i = 0; i < sizeof(reply_strs) / sizeof(reply_strs[0]); i++)
		if (reply_strs[i].type == type)
			((char *)p)[reply_strs[i].off + reply_strs[i].len -
			    1] = '\0';
	switch (type) {
	case CTL_SUMMARY:
		s->nlisteners %= CTL_MAX_LISTENERS + 1;
		s->nworkers %= CTL_MAX_WORKERS + 1;
		for (i = 0; i < CTL_MAX_LISTENERS; i++)
			TERM(s->listeners[i]);
		for (i = 0; i < CTL_MAX_WORKERS; i++)
			TERM(s->workers[i].role);
		break;
	case CTL_LEASE:
		l->nalpn %= ALPN_MAX_COUNT + 1;
		for (i = 0; i < ALPN_MAX_COUNT; i++)
			TERM(l->alpn[i]);
		break;
	}
}

#define STREAM_MAX	(150 * 1024)	/* fits the socket buffer */

static size_t
build_replies(struct fz *f, struct imsgbuf *out)
{
	static uint8_t	 payload[IMSG_MAX_PAYLOAD];
	size_t		 total = 0, len, fill;
	uint32_t	 type;
	uint8_t		 how;
	int		 n;

	for (n = 0; n < 40 && fz_more(f); n++) {
		how = fz_u8(f);
		if (how == 0xff)
			break;
		type = how < 0xf0 ? replies[how % NREPLIES].type : fz_u32(f);
		len = reply_size(type);
		if (how >= 0xe0 && how < 0xf0)
			len = fz_u16(f) % (IMSG_MAX_PAYLOAD + 1);
		if (total + IMSG_HDR_LEN + len > STREAM_MAX)
			break;
		memset(payload, 0, len);
		/* the input fills the start, then optionally a run at an offset */
		fill = fz_u8(f);
		fz_fill(f, payload, fill < len ? fill : len);
		if (fz_u8(f) & 1 && len > 0) {
			size_t	 off = fz_u16(f) % len, k = fz_u8(f);

			fz_fill(f, payload + off, k < len - off ? k : len - off);
		}
		if (!(how & 0x40))
			reply_fix(type, payload);
		if (imsg_compose(out, type, 0, -1, payload, len) == -1)
			abort();
		total += IMSG_HDR_LEN + len;
	}
	return total;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct replies	 r;
	struct imsgbuf		 relayd;
	const struct output	*out;
	struct fz		 f;
	FILE			*saved = stdout, *mem;
	char			*text = NULL;
	size_t			 textlen = 0, i, n;
	const uint8_t		*raw;
	int			 sv[2], json, metrics, k;
	uint8_t			 mode;
	volatile int		 ended, finished = 0;

	fz_init(&f, data, size);
	mode = fz_u8(&f);
	k = mode % 10;
	json = (mode / 10) % 3 == 1;
	metrics = (mode / 10) % 3 == 2;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	imsgbuf_init(&relayd, sv[0], 0);
	build_replies(&f, &relayd);
	FZ_CHECK(imsgbuf_flush(&relayd) == 0);
	raw = fz_take(&f, f.n, &n);
	if (n > 0 && write(sv[0], raw, n) != (ssize_t)n)
		abort();
	shutdown(sv[0], SHUT_WR);

	memset(&r, 0, sizeof(r));
	imsgbuf_init(&ibuf, sv[1], 0);
	sockpath = "fuzz";
	fz_last_imsg = NULL;
	if ((mem = open_memstream(&text, &textlen)) == NULL)
		abort();
	stdout = mem;
	ended = 0;
	out = metrics ? &metrics_output : json ? &json_output : &show_output;
	r.clean = !json;
	r.out = out;
	if (json && actions[k] != MONITOR)
		json_begin();	/* as main() does: one document or an error */
	if (setjmp(fz_jb) == 0) {
		if (metrics) {
			out->head(SHOW_METRICS);
			ctl_exchange(CTL_SHOW_SUMMARY, "", &r);
			ctl_exchange(CTL_SHOW_STATS, "", &r);
			out->tail(SHOW_METRICS);
		} else {
			out->head(actions[k]);
			ctl_exchange(requests[k], "", &r);
			out->tail(actions[k]);
		}
		if (json_finish() == -1)
			abort();
		finished = 1;
	} else
		ended = 1;
	FZ_CHECK(real_stdout == NULL);
	stdout = saved;
	if (fclose(mem) != 0)
		abort();
	FZ_CHECK(finished != ended);

	if (!json) {
		/* for a terminal: printable ASCII and line ends only */
		for (i = 0; i < textlen; i++)
			FZ_CHECK((text[i] >= 0x20 && text[i] <= 0x7e) ||
			    text[i] == '\n');
	} else if (!json_lines_valid(text, textlen, 0)) {
		dprintf(2, "not JSON:\n%.*s\n", (int)textlen, text);
		FZ_CHECK(!"relay-ctl -j printed something that is not JSON");
	}
	free(text);
	imsgbuf_clear(&ibuf);
	imsgbuf_clear(&relayd);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
