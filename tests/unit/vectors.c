/* SPDX-License-Identifier: ISC */
/* vectors.c: the scanner behind vectors.h; test code only. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"

#define VEC_MAX		256

struct vec {
	char	 casename[32];
	char	 key[64];
	char	*val;
};

static struct vec	 vecs[VEC_MAX];
static int		 nvecs;

const char *
vec_path(void)
{
	static char	 path[4096];
	const char	*top = getenv("top_srcdir");

	snprintf(path, sizeof(path), "%s/tests/unit/protocol-vectors.json",
	    top != NULL ? top : ".");
	return path;
}

/* Read the next "string" at or after *pp; returns a malloc'd copy. */
static char *
next_string(char **pp)
{
	char	*p = strchr(*pp, '"'), *e, *s;

	if (p == NULL || (e = strchr(p + 1, '"')) == NULL)
		return NULL;
	s = strndup(p + 1, e - p - 1);
	*pp = e + 1;
	return s;
}

int
vec_load(const char *path)
{
	FILE	*f;
	char	*text, *p, *key, *val, cur[32] = "";
	long	 len;

	if (nvecs > 0)
		return 0;
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	if (len <= 0 || (text = calloc(1, len + 1)) == NULL ||
	    fread(text, 1, len, f) != (size_t)len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = text;
	while ((key = next_string(&p)) != NULL) {
		while (*p == ' ' || *p == ':')
			p++;
		if (*p != '"') {	/* "cases": [ ... */
			free(key);
			continue;
		}
		if ((val = next_string(&p)) == NULL) {
			free(key);
			break;
		}
		if (strcmp(key, "name") == 0) {
			snprintf(cur, sizeof(cur), "%s", val);
			free(val);
		} else if (nvecs < VEC_MAX) {
			snprintf(vecs[nvecs].casename,
			    sizeof(vecs[nvecs].casename), "%s", cur);
			snprintf(vecs[nvecs].key, sizeof(vecs[nvecs].key),
			    "%s", key);
			vecs[nvecs++].val = val;
		} else
			free(val);
		free(key);
	}
	free(text);
	return nvecs > 0 ? 0 : -1;
}

const char *
vec_get(const char *casename, const char *key)
{
	int	 i;

	for (i = 0; i < nvecs; i++)
		if (strcmp(vecs[i].casename, casename) == 0 &&
		    strcmp(vecs[i].key, key) == 0)
			return vecs[i].val;
	return NULL;
}

int
hex_decode(const char *hex, uint8_t *out, size_t outlen)
{
	size_t	 i, n = strlen(hex);
	unsigned int v;

	if (n % 2 != 0 || n / 2 > outlen)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = v;
	}
	return (int)(n / 2);
}

int
vec_bytes(const char *casename, const char *key, uint8_t *out, size_t outlen)
{
	const char	*h = vec_get(casename, key);

	return h == NULL ? -1 : hex_decode(h, out, outlen);
}
