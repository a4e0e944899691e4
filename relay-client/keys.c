/* SPDX-License-Identifier: ISC */
/*
 * keys.c: the files of relay-client: the identity key (keygen, id,
 * loading it for the other commands), the pinned relay IDs of
 * ~/.config/relay/known_relays (trust on first use), and allow lists of
 * client IDs for expose --allow.
 *
 * A key file is written once and never replaced (identity_save links a
 * temporary file into place), and is refused when others may read it
 * (identity_load). known_relays only ever grows by appending a line: a
 * changed relay ID is never written over the old one, the user has to
 * remove the old line on purpose.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relay-client.h"

#define CONFIG_SUBDIR	".config/relay"

/* ~/.config/relay/FILE */
int
keys_default_path(char *out, size_t outlen, const char *file)
{
	const char	*home = getenv("HOME");

	if (home == NULL || home[0] != '/') {
		log_warnx("HOME is not set to an absolute path: give the key "
		    "file with -f");
		return -1;
	}
	if ((size_t)snprintf(out, outlen, "%s/%s/%s", home, CONFIG_SUBDIR,
	    file) >= outlen) {
		log_warnx("HOME is too long");
		return -1;
	}
	return 0;
}

int
keys_load_identity(struct client_opts *o)
{
	char	 err[PATH_MAX + 256];

	if (identity_load(&o->ident, o->key_path, err, sizeof(err)) == 0)
		return 0;
	if (errno == ENOENT && access(o->key_path, F_OK) == -1)
		log_warnx("no key at %s: create one with 'relay-client keygen%s"
		    "%s', or give another with -f", o->key_path,
		    o->key_path_given ? " -f " : "",
		    o->key_path_given ? o->key_path : "");
	else
		log_warnx("%s", err);
	return -1;
}

static void
keygen_usage(FILE *f)
{
	fprintf(f, "usage: relay-client keygen [-hv] [-f key]\n"
	    "  Create a new identity key (Ed25519, PKCS#8 PEM, mode 0600) "
	    "and print its ID;\n"
	    "  an existing key file is never overwritten.\n");
	opts_usage(f, OPT_KEY);
}

static void
id_usage(FILE *f)
{
	fprintf(f, "usage: relay-client id [-hv] [-f key]\n"
	    "  Print the ID of an identity key.\n");
	opts_usage(f, OPT_KEY);
}

static const struct command_opts keygen_command = {
	.name = "keygen",
	.shared = OPT_KEY,
	.optstring = "",
	.usage = keygen_usage
}, id_command = {
	.name = "id",
	.shared = OPT_KEY,
	.optstring = "",
	.usage = id_usage
};

/*
 * keygen and id: -f (or the default path), no arguments. 1 when done
 * (-h), 0 to go on, -1 on an error.
 */
static int
keys_parse(const struct command_opts *cmd, struct client_opts *o, int argc,
    char *argv[])
{
	int	 i;

	if ((i = opts_parse(cmd, o, NULL, argc, argv)) < 0)
		return i == OPTS_HELP ? 1 : -1;
	if (i != argc) {
		log_warnx("%s takes no arguments: '%s'", cmd->name, argv[i]);
		cmd->usage(stderr);
		return -1;
	}
	if (!o->key_path_given && keys_default_path(o->key_path,
	    sizeof(o->key_path), "identity") == -1)
		return -1;
	return 0;
}

/*
 * Run keygen or id: its options, then what it does with the key at path
 * (given: by -f), which fills ident and returns an exit status. EXIT_OK
 * prints the ID.
 */
static int
keys_run(const struct command_opts *cmd, int argc, char *argv[],
    int (*fn)(const char *path, int given, struct identity *))
{
	struct client_opts	 o;
	struct identity		 ident;
	int			 r;

	memset(&o, 0, sizeof(o));
	if ((r = keys_parse(cmd, &o, argc, argv)) != 0)
		return r == 1 ? EXIT_OK : EXIT_ERROR;
	if ((r = fn(o.key_path, o.key_path_given, &ident)) != EXIT_OK)
		return r;
	printf("%s\n", ident.id);
	identity_clear(&ident);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_ERROR;
}

static int
keys_generate(const char *path, int given, struct identity *ident)
{
	char	 err[PATH_MAX + 256];

	if (access(path, F_OK) == 0) {
		log_warnx("%s already exists: refusing to overwrite a key "
		    "(run 'relay-client id%s%s' to see its ID, or remove it "
		    "first if you really mean to replace it)", path,
		    given ? " -f " : "", given ? path : "");
		return EXIT_ERROR;
	}
	/* a path the user chose: its directory is the user's business */
	if (!given && mkdir_parent(path, 0700) == -1) {
		log_warn("cannot create the directory of %s", path);
		return EXIT_ERROR;
	}
	if (identity_generate(ident) == -1) {
		log_warnx("cannot generate a key");
		return EXIT_ERROR;
	}
	if (identity_save(ident, path, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		identity_clear(ident);
		return EXIT_ERROR;
	}
	fprintf(stderr, "relay-client: wrote a new key to %s\n", path);
	return EXIT_OK;
}

static int
keys_show(const char *path, int given, struct identity *ident)
{
	char	 err[PATH_MAX + 256];

	if (identity_load(ident, path, err, sizeof(err)) == -1) {
		if (errno == ENOENT && !given)
			log_warnx("no key at %s: create one with "
			    "'relay-client keygen'", path);
		else
			log_warnx("%s", err);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

int
cmd_keygen(int argc, char *argv[])
{
	return keys_run(&keygen_command, argc, argv, keys_generate);
}

int
cmd_id(int argc, char *argv[])
{
	return keys_run(&id_command, argc, argv, keys_show);
}

/* Strip a comment and surrounding blanks; NULL for an empty line. */
static char *
keys_line(char *line)
{
	char	*p, *end;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	for (p = line; *p == ' ' || *p == '\t'; p++)
		;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return *p == '\0' ? NULL : p;
}

/*
 * Find the pinned ID of o->relay_name in known_relays. No file or no
 * line: no pin (the first connection will store one).
 */
int
known_relays_lookup(struct client_opts *o)
{
	FILE	*f;
	char	*line = NULL, *p, *host, *id, norm[ID_BUFSZ];
	size_t	 cap = 0;
	ssize_t	 n;
	int	 lineno = 0;

	if ((f = fopen(o->known_path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s", o->known_path);
		return -1;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if ((p = keys_line(line)) == NULL)
			continue;
		host = strsep(&p, " \t");
		while (p != NULL && (*p == ' ' || *p == '\t'))
			p++;
		id = p != NULL ? strsep(&p, " \t") : NULL;
		if (id == NULL || *id == '\0' || (p != NULL && *p != '\0') ||
		    id_normalize(id, norm) == -1) {
			log_warnx("%s:%d: ignored: expected \"host:port "
			    "relay-id\"", o->known_path, lineno);
			continue;
		}
		if (strcasecmp(host, o->relay_name) != 0)
			continue;
		if (o->pin[0] != '\0' && strcmp(o->pin, norm) != 0) {
			log_warnx("%s:%d: a second, different ID for %s: "
			    "remove the wrong line", o->known_path, lineno,
			    o->relay_name);
			free(line);
			fclose(f);
			return -1;
		}
		strlcpy(o->pin, norm, sizeof(o->pin));
		o->pin_line = o->pin_line ? o->pin_line : lineno;
	}
	free(line);
	fclose(f);
	return 0;
}

/* Append "host:port id" (trust on first use). */
int
known_relays_store(struct client_opts *o, const char *id)
{
	char	 line[sizeof(o->relay_name) + ID_BUFSZ + 2];
	int	 fd, len;

	if (mkdir_parent(o->known_path, 0700) == -1) {
		log_warn("cannot create the directory of %s", o->known_path);
		return -1;
	}
	len = snprintf(line, sizeof(line), "%s %s\n", o->relay_name, id);
	if ((fd = open(o->known_path, O_WRONLY | O_APPEND | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		log_warn("cannot store the relay ID in %s", o->known_path);
		return -1;
	}
	if (write(fd, line, len) != len) {
		log_warn("cannot store the relay ID in %s", o->known_path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * An allow list: one ID per line, '#' comments, blank lines. Every bad
 * line is reported with file:line, and any makes the whole file refused:
 * a typo must not silently lock someone out or let someone in.
 */
int
allow_list_load(struct allow_list *al, const char *path)
{
	FILE	*f;
	char	*line = NULL, *p, norm[ID_BUFSZ];
	char	(*ids)[ID_BUFSZ];
	size_t	 cap = 0, size = 0;
	int	 lineno = 0, bad = 0;

	memset(al, 0, sizeof(*al));
	if ((f = fopen(path, "re")) == NULL) {
		log_warn("allow list %s", path);
		return -1;
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		if ((p = keys_line(line)) == NULL)
			continue;
		if (id_normalize(p, norm) == -1) {
			log_warnx("%s:%d: not a client ID: \"%.40s\" (an ID is "
			    "32 characters of a-z and 2-7, as printed by "
			    "'relay-client id')", path, lineno, p);
			bad++;
			continue;
		}
		if (al->n == size) {
			size = size ? size * 2 : 16;
			if ((ids = reallocarray(al->ids, size,
			    sizeof(*ids))) == NULL)
				fatal("allow list");
			al->ids = ids;
		}
		strlcpy(al->ids[al->n++], norm, ID_BUFSZ);
	}
	free(line);
	fclose(f);
	if (bad > 0) {
		log_warnx("%s: %d bad line%s: fix the file", path, bad,
		    bad > 1 ? "s" : "");
		allow_list_free(al);
		return -1;
	}
	if (al->n == 0)
		log_warnx("allow list %s lists no ID: every session will be "
		    "refused", path);
	return 0;
}

int
allow_list_has(const struct allow_list *al, const char *id)
{
	char	 norm[ID_BUFSZ];
	size_t	 i;

	if (id_normalize(id, norm) == -1)
		return 0;
	for (i = 0; i < al->n; i++)
		if (strcmp(al->ids[i], norm) == 0)
			return 1;
	return 0;
}

void
allow_list_free(struct allow_list *al)
{
	free(al->ids);
	memset(al, 0, sizeof(*al));
}
