/* SPDX-License-Identifier: ISC */
/*
 * util.c: default paths (the same rules for relayd and relay-ctl, so the
 * two find each other without options) and hex encoding.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/*
 * The control socket: root_path when running as root, else
 * $XDG_RUNTIME_DIR/relayd.sock, else /tmp/relayd-UID/relayd.sock.
 */
int
default_socket_path(char *out, size_t outlen, int as_root,
    const char *root_path)
{
	const char	*rt = getenv("XDG_RUNTIME_DIR");
	int		 n;

	if (as_root)
		n = snprintf(out, outlen, "%s", root_path);
	else if (rt != NULL && rt[0] == '/')
		n = snprintf(out, outlen, "%s/relayd.sock", rt);
	else
		n = snprintf(out, outlen, "/tmp/relayd-%u/relayd.sock",
		    (unsigned)getuid());
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* $XDG_STATE_HOME/relayd/FILE, XDG_STATE_HOME defaulting to ~/.local/state. */
int
default_state_path(char *out, size_t outlen, const char *file)
{
	const char	*st = getenv("XDG_STATE_HOME");
	const char	*home = getenv("HOME");
	int		 n;

	if (st != NULL && st[0] == '/')
		n = snprintf(out, outlen, "%s/relayd/%s", st, file);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, outlen, "%s/.local/state/relayd/%s", home,
		    file);
	else
		return -1;
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

void
hex_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	if (outlen == 0)
		return;
	for (i = 0; i < len && 2 * i + 2 < outlen; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * i] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2 * len hex digits into len bytes. */
int
hex_parse(const char *in, uint8_t *out, size_t len)
{
	size_t	 i;
	int	 hi, lo;

	if (strlen(in) != 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		if ((hi = hexval(in[2 * i])) == -1 ||
		    (lo = hexval(in[2 * i + 1])) == -1)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
