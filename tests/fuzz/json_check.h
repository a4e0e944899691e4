/* SPDX-License-Identifier: ISC */
/*
 * json_check.h: a strict JSON checker (RFC 8259, strings in valid UTF-8
 * by RFC 3629) for the fuzz targets whose program promises JSON output
 * (relay-ctl -j, relay-client list -j), and a check for text meant for a
 * terminal. Test code only.
 */
#ifndef RELAY_FUZZ_JSON_CHECK_H
#define RELAY_FUZZ_JSON_CHECK_H

#include <stddef.h>
#include <string.h>

struct js {
	const unsigned char	*p, *end;
	int			 depth;
};

static inline int	js_value(struct js *);

static inline void
js_ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	    *j->p == '\r'))
		j->p++;
}

static inline int
js_lit(struct js *j, const char *lit)
{
	size_t	 n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return -1;
	j->p += n;
	return 0;
}

/* One UTF-8 sequence (RFC 3629): its length, 0 if invalid. */
static inline size_t
js_utf8(const unsigned char *p, const unsigned char *end)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 n, k;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		lo = p[0] == 0xe0 ? 0xa0 : 0x80;
		hi = p[0] == 0xed ? 0x9f : 0xbf;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		lo = p[0] == 0xf0 ? 0x90 : 0x80;
		hi = p[0] == 0xf4 ? 0x8f : 0xbf;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (k = 1; k < n; k++)
		if (k == 1 ? (p[k] < lo || p[k] > hi) : (p[k] & 0xc0) != 0x80)
			return 0;
	return n;
}

static inline int
js_string(struct js *j)
{
	size_t	 n, i;

	if (js_lit(j, "\"") == -1)
		return -1;
	while (j->p < j->end && *j->p != '"') {
		if (*j->p == '\\') {
			j->p++;
			if (j->p >= j->end)
				return -1;
			if (*j->p == 'u') {
				for (i = 1; i <= 4; i++)
					if (j->p + i >= j->end ||
					    strchr("0123456789abcdefABCDEF",
					    j->p[i]) == NULL || j->p[i] == 0)
						return -1;
				j->p += 5;
			} else if (strchr("\"\\/bfnrt", *j->p) != NULL &&
			    *j->p != 0)
				j->p++;
			else
				return -1;
		} else if (*j->p < 0x20)
			return -1;
		else if (*j->p < 0x80)
			j->p++;
		else if ((n = js_utf8(j->p, j->end)) > 0)
			j->p += n;
		else
			return -1;
	}
	return js_lit(j, "\"");
}

static inline int
js_number(struct js *j)
{
	const unsigned char	*s;

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end)
		return -1;
	if (*j->p == '0')
		j->p++;
	else if (*j->p >= '1' && *j->p <= '9')
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	else
		return -1;
	if (j->p < j->end && *j->p == '.') {
		s = ++j->p;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
		if (j->p == s)
			return -1;
	}
	return 0;
}

static inline int
js_members(struct js *j, int object)
{
	j->p++;
	js_ws(j);
	if (j->p < j->end && *j->p == (object ? '}' : ']')) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (object) {
			js_ws(j);
			if (js_string(j) == -1)
				return -1;
			js_ws(j);
			if (js_lit(j, ":") == -1)
				return -1;
		}
		if (js_value(j) == -1)
			return -1;
		js_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		return js_lit(j, object ? "}" : "]");
	}
}

static inline int
js_value(struct js *j)
{
	int	 r;

	js_ws(j);
	if (j->p >= j->end || ++j->depth > 64)
		return -1;
	switch (*j->p) {
	case '{':
		r = js_members(j, 1);
		break;
	case '[':
		r = js_members(j, 0);
		break;
	case '"':
		r = js_string(j);
		break;
	case 't':
		r = js_lit(j, "true");
		break;
	case 'f':
		r = js_lit(j, "false");
		break;
	case 'n':
		r = js_lit(j, "null");
		break;
	default:
		r = js_number(j);
		break;
	}
	j->depth--;
	return r;
}

/* Every line is one JSON document; all is, unless partial is allowed. */
static inline int
json_lines_valid(const char *buf, size_t len, int partial)
{
	const char	*line = buf, *nl;
	struct js	 j;

	while (line < buf + len) {
		if ((nl = memchr(line, '\n', buf + len - line)) == NULL)
			return partial;	/* a document cut off by the exit */
		j.p = (const unsigned char *)line;
		j.end = (const unsigned char *)nl;
		j.depth = 0;
		if (js_value(&j) == -1)
			return 0;
		js_ws(&j);
		if (j.p != j.end)
			return 0;
		line = nl + 1;
	}
	return 1;
}

/*
 * Text for a terminal: printable ASCII, line ends, and UTF-8 characters
 * other than the C1 controls (U+0080-U+009F).
 */
static inline int
terminal_text_valid(const char *buf, size_t len)
{
	const unsigned char	*p = (const unsigned char *)buf;
	const unsigned char	*end = p + len;
	size_t			 n;

	while (p < end) {
		if (*p == '\n' || (*p >= 0x20 && *p < 0x7f)) {
			p++;
			continue;
		}
		if (*p < 0x80 || (n = js_utf8(p, end)) == 0)
			return 0;
		if (p[0] == 0xc2 && p[1] < 0xa0)
			return 0;
		p += n;
	}
	return 1;
}

#endif /* RELAY_FUZZ_JSON_CHECK_H */
