/* SPDX-License-Identifier: ISC */
/*
 * output_json.c: relay-ctl's JSON output (-j), the second instance of
 * struct output. Each command prints one JSON document on one line;
 * monitor prints one object per event, one a line. Keys are the names of
 * the ctl.h struct members; times come as unix seconds plus an ISO 8601
 * string under the same key with "_iso" appended.
 *
 * Strings are printed exactly as relayd sent them, escaped: quotes,
 * backslashes and control characters always, and a byte that is not
 * part of valid UTF-8 becomes U+FFFD, so the output is valid JSON
 * whatever relayd sends.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "util.h"

#include "relay-ctl.h"

#define JSON_MAX_DEPTH	8

/* Per nesting level: has a member or element been printed yet? */
static int	 json_filled[JSON_MAX_DEPTH];
static int	 json_depth;

/* The length of the valid UTF-8 sequence at p, 0 if there is none. */
static size_t
utf8_len(const unsigned char *p)
{
	uint32_t	 cp;
	size_t		 n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	/* a NUL is not a continuation byte: this stops at the end */
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

static void
json_string(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n;

	putchar('"');
	while (*p != '\0') {
		if (*p == '"' || *p == '\\') {
			putchar('\\');
			putchar(*p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p++);
		} else if (*p < 0x80) {
			putchar(*p++);
		} else if ((n = utf8_len(p)) > 0) {
			fwrite(p, 1, n, stdout);
			p += n;
		} else {
			printf("\\ufffd");
			p++;
		}
	}
	putchar('"');
}

/* The separator before a member or element, then the key if any. */
static void
json_next(const char *key)
{
	if (json_filled[json_depth])
		putchar(',');
	json_filled[json_depth] = 1;
	if (key != NULL) {
		json_string(key);
		putchar(':');
	}
}

static void
json_open(const char *key, int brace)
{
	json_next(key);
	putchar(brace);
	if (json_depth + 1 < JSON_MAX_DEPTH)
		json_depth++;
	json_filled[json_depth] = 0;
}

static void
json_close(int brace)
{
	putchar(brace);
	if (json_depth > 0)
		json_depth--;
}

static void
json_doc_begin(void)
{
	json_depth = 0;
	json_filled[0] = 0;
	json_open(NULL, '{');
}

static void
json_doc_end(void)
{
	json_close('}');
	json_filled[0] = 0;
	putchar('\n');
}

static void
json_str(const char *key, const char *value)
{
	json_next(key);
	json_string(value);
}

static void
json_uint(const char *key, uint64_t value)
{
	json_next(key);
	printf("%" PRIu64, value);
}

static void
json_int(const char *key, int64_t value)
{
	json_next(key);
	printf("%" PRId64, value);
}

static void
json_bool(const char *key, int value)
{
	json_next(key);
	printf("%s", value ? "true" : "false");
}

static void
json_hex(const char *key, const uint8_t *data, size_t len)
{
	char	 hex[2 * 32 + 1];

	hex_encode(data, len, hex, sizeof(hex));
	json_str(key, hex);
}

/* key: unix seconds, key_iso: the same in ISO 8601, or null. */
static void
json_time(const char *key, int64_t t)
{
	char	 iso[64], isokey[64];

	json_int(key, t);
	snprintf(isokey, sizeof(isokey), "%s_iso", key);
	if (fmt_time(t, 1, iso, sizeof(iso)) == 0)
		json_str(isokey, iso);
	else {
		json_next(isokey);
		printf("null");
	}
}

static void
json_head(enum actions action)
{
	switch (action) {
	case SHOW_LEASES:
		json_doc_begin();
		json_open("leases", '[');
		break;
	case SHOW_SESSIONS:
		json_doc_begin();
		json_open("sessions", '[');
		break;
	default:
		break;
	}
}

static void
json_summary(const struct ctl_summary *s)
{
	const struct ctl_worker	*w;
	uint32_t		 i;

	json_doc_begin();
	json_open("summary", '{');
	json_str("version", s->version);
	json_uint("protocol", s->protocol);
	json_time("started", s->started);
	json_time("now", s->now);
	json_int("uptime", secs_between(s->started, s->now));
	json_str("relay_id", s->relay_id);
	json_int("parent_pid", s->parent_pid);
	json_open("listeners", '[');
	for (i = 0; i < s->nlisteners; i++)
		json_str(NULL, s->listeners[i]);
	json_close(']');
	json_open("workers", '[');
	for (i = 0; i < s->nworkers; i++) {
		w = &s->workers[i];
		json_open(NULL, '{');
		json_str("role", w->role);
		json_int("index", w->index);
		json_int("pid", w->pid);
		json_time("started", w->started);
		json_uint("respawns", w->respawns);
		json_close('}');
	}
	json_close(']');
	json_uint("leases", s->leases);
	json_uint("sessions", s->sessions);
	json_uint("control_conns", s->control_conns);
	json_int("verbose", s->verbose);
	json_uint("respawns", s->respawns);
	json_uint("nofile", s->nofile);
	json_uint("conns_max", s->conns_max);
	json_uint("sessions_max", s->sessions_max);
	json_close('}');
	json_doc_end();
}

static void
json_lease(const struct ctl_lease *l)
{
	uint32_t	 i;

	json_open(NULL, '{');
	json_hex("lease_id", l->lease_id, sizeof(l->lease_id));
	json_str("name", l->name);
	json_str("id", l->id);
	json_open("alpn", '[');
	for (i = 0; i < l->nalpn; i++)
		json_str(NULL, l->alpn[i]);
	json_close(']');
	json_str("description", l->description);
	json_bool("hidden", l->hidden != 0);
	json_time("created", l->created);
	json_time("expires", l->expires);
	json_uint("ttl", l->ttl);
	json_uint("sessions", l->sessions);
	json_str("addr", l->addr);
	json_int("conn", l->conn);
	json_close('}');
}

static void
json_session(const struct ctl_session *s)
{
	json_open(NULL, '{');
	json_hex("session_id", s->session_id, sizeof(s->session_id));
	json_str("lease_name", s->lease_name);
	json_str("from_id", s->from_id);
	json_str("to_id", s->to_id);
	json_str("alpn", s->alpn);
	json_str("state", s->state);
	json_time("created", s->created);
	json_uint("bytes_i2r", s->bytes_i2r);
	json_uint("bytes_r2i", s->bytes_r2i);
	json_int("fwd", s->fwd);
	json_bool("direct", s->direct != 0);
	json_close('}');
}

static void
json_stats(const struct ctl_stats *st)
{
	size_t	 i;

	json_doc_begin();
	json_open("stats", '{');
	for (i = 0; i < nstat_fields; i++)
		json_uint(stat_fields[i].key, stat_value(st, &stat_fields[i]));
	json_open("errors_sent", '{');
	for (i = 0; i < CTL_NERR; i++)
		json_uint(proto_error_name((int)i), st->errors_sent[i]);
	json_close('}');
	json_close('}');
	json_doc_end();
}

static void
json_event(const struct ctl_event *ev)
{
	json_doc_begin();
	json_time("time", ev->time);
	json_str("kind", event_kind_name(ev->kind));
	json_int("kind_code", ev->kind);
	json_str("name", ev->name);
	json_str("id", ev->id);
	json_hex("object_id", ev->object_id, sizeof(ev->object_id));
	json_str("detail", ev->detail);
	json_doc_end();
}

static void
json_result(const struct ctl_result *r)
{
	json_doc_begin();
	json_open("result", '{');
	json_int("code", r->code);
	json_str("message", r->message);
	json_close('}');
	json_doc_end();
}

static void
json_tail(enum actions action)
{
	switch (action) {
	case SHOW_LEASES:
	case SHOW_SESSIONS:
		json_close(']');
		json_doc_end();
		break;
	default:
		break;
	}
}

const struct output json_output = OUTPUT_OF(json);

/* A failure, as one document: {"error": "..."}. */
void
json_error(const char *msg)
{
	putchar('{');
	json_string("error");
	printf(": ");
	json_string(msg);
	printf("}\n");
}
