/* SPDX-License-Identifier: ISC */
/*
 * fuzz_config.c: the relayd.conf(5) parser (relayd/parse.y parse_config)
 * and config_check(). The input is the file: up to its first NUL byte
 * the main file, after it the file that `include "inc.conf"` reads (an
 * include of "relayd.conf" reads the main file again, so recursion and
 * the depth limit are reached too).
 *
 * parse.y's fopen() is this file's fuzz_fopen() (the target is compiled
 * with -Dfopen=fuzz_fopen): it serves those files from memory (memfds) and
 * refuses every other path, so no input can make the parser read a real
 * file, a terminal or an endless device. It also refuses more than
 * OPEN_MAX_PER_PARSE opens in one parse: a file that includes itself
 * twice makes 2^8 parses at the depth limit, a trusted file's way of
 * being slow that would only slow the fuzzer down.
 *
 * Beyond "no crash": a file that parses prints (print_config, as relayd
 * -nv does) to a text that parses again to the very same printout, and
 * config_check() gives the same verdict on both.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "relayd.h"

FILE	*fuzz_fopen(const char *, const char *);

static const uint8_t	*main_text, *inc_text, *printed_text;
static size_t		 main_len, inc_len, printed_len;
static int		 nopen;

#define OPEN_MAX_PER_PARSE	24

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	/*
	 * Parse as a user's relayd: as root the file's owner is checked with
	 * stat(), which the files in memory have not. HOME gives the user's
	 * defaults their absolute paths.
	 */
	setenv("HOME", "/nonexistent/fuzz", 1);
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_RUNTIME_DIR");
	/* a macro from the command line (relayd -D), kept for every parse */
	if (cmdline_symset("fzport=7421") == -1)
		abort();
	return 0;
}

/* The files in memory, by path. */
static const struct {
	const char	 *path;
	const uint8_t	**text;
	size_t		 *len;
} mem_files[] = {
	{ "/fuzz/relayd.conf", &main_text, &main_len },
	{ "/fuzz/inc.conf", &inc_text, &inc_len },
	{ "/fuzz/printed.conf", &printed_text, &printed_len },
};

/*
 * A file in memory with a descriptor of its own (a memfd, not
 * fmemopen()): parse.y fstat()s the file it opened.
 */
static FILE *
mem_open(const uint8_t *p, size_t len)
{
	FILE	*f;
	int	 fd;

	if ((fd = memfd_create("fuzz-config", MFD_CLOEXEC)) == -1)
		return NULL;
	if ((len > 0 && write(fd, p, len) != (ssize_t)len) ||
	    lseek(fd, 0, SEEK_SET) == -1 || (f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return NULL;
	}
	return f;
}

FILE *
fuzz_fopen(const char *path, const char *mode)
{
	size_t	 i;

	if (strcmp(mode, "r") != 0 || ++nopen > OPEN_MAX_PER_PARSE) {
		errno = EACCES;
		return NULL;
	}
	for (i = 0; i < sizeof(mem_files) / sizeof(mem_files[0]); i++)
		if (strcmp(path, mem_files[i].path) == 0)
			return mem_open(*mem_files[i].text, *mem_files[i].len);
	if (strcmp(path, "/fuzz/dir") == 0) {	/* "is a directory" */
		int	 fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		FILE	*f;

		if (fd == -1 || (f = fdopen(fd, "r")) == NULL) {
			if (fd != -1)
				close(fd);
			return NULL;
		}
		return f;
	}
	errno = ENOENT;
	return NULL;
}

/* config.c sends configurations to workers; nothing here calls that */
void
proc_child_send(struct child *c, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	abort();
}

/* print_config() writes to stdout: catch it in memory. */
static char *
print_to_memory(const struct relayd_config *conf, size_t *len)
{
	FILE	*saved = stdout, *mem;
	char	*buf = NULL;

	if ((mem = open_memstream(&buf, len)) == NULL)
		abort();
	stdout = mem;
	print_config(conf);
	stdout = saved;
	if (fclose(mem) != 0)
		abort();
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct relayd_config	 conf, conf2;
	const uint8_t			*nul;
	char				 err[512], err2[512];
	char				*out1, *out2;
	size_t				 len1, len2;
	int				 r, c1, c2;

	if ((nul = memchr(data, '\0', size)) != NULL) {
		main_text = data;
		main_len = nul - data;
		inc_text = nul + 1;
		inc_len = size - main_len - 1;
	} else {
		main_text = data;
		main_len = size;
		inc_text = NULL;
		inc_len = 0;
	}
	nopen = 0;
	r = parse_config("/fuzz/relayd.conf", &conf, 0);
	err[0] = '\0';
	c1 = config_check(&conf, err, sizeof(err));
	FZ_CHECK(c1 == 0 || (c1 == -1 && err[0] != '\0'));
	if (r == -1) {
		config_clear(&conf);
		return 0;
	}

	/* what relayd -nv prints reads back to the same configuration */
	out1 = print_to_memory(&conf, &len1);
	printed_text = (const uint8_t *)out1;
	printed_len = len1;
	nopen = 0;
	r = parse_config("/fuzz/printed.conf", &conf2, 0);
	if (r != 0) {
		dprintf(2, "printed configuration:\n%s", out1);
		FZ_CHECK(!"the printed configuration does not parse");
	}
	out2 = print_to_memory(&conf2, &len2);
	if (len1 != len2 || memcmp(out1, out2, len1) != 0)
		dprintf(2, "printed once:\n%s\nprinted again:\n%s", out1, out2);
	FZ_CHECK(len1 == len2 && memcmp(out1, out2, len1) == 0);
	err2[0] = '\0';
	c2 = config_check(&conf2, err2, sizeof(err2));
	FZ_CHECK(c1 == c2 && strcmp(err, err2) == 0);
	free(out1);
	free(out2);
	printed_text = NULL;
	config_clear(&conf);
	config_clear(&conf2);
	return 0;
}
