/* SPDX-License-Identifier: ISC */
/*
 * relay-ctl.c: the operator's control tool of relayd. It parses the
 * command (parser.c), connects to relayd's control socket, sends one
 * struct ctl_request per request (ctl.h) and prints the replies through
 * the output that -j chooses (output.c, output_json.c).
 *
 * relayd's replies are input like any other: a payload must have the
 * exact size of its struct, every string must end inside its array and
 * every count must fit its array before an output function sees it; a
 * reply that does not belong to the request is an error. relay-ctl
 * decides nothing about permissions: relayd checks the credentials of
 * the socket's peer (SO_PEERCRED) for every changing request.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "imsg.h"
#include "util.h"

#include "relay-ctl.h"

/* relayd's own rule (relayd.h): the same path for the same build. */
#ifdef RELAYD_RUNSTATEDIR
#define RELAYD_SOCKET		RELAYD_RUNSTATEDIR "/relayd/relayd.sock"
#else
#define RELAYD_SOCKET		"/run/relayd/relayd.sock"
#endif

/* Seconds of silence before giving up on a reply (not for monitor). */
#define REPLY_TIMEOUT		30

#define VERSIONS_DIFFER		"relayd and relay-ctl versions differ?"

/* What the replies to one request leave behind. */
struct replies {
	const struct output	*out;	/* NULL: keep, print nothing */
	int			 clean;	/* for a terminal or a file */
	struct ctl_summary	 summary;
	struct ctl_stats	 stats;
	int			 nsummary;
	int			 nstats;
};

static struct imsgbuf	 ibuf;
static const char	*sockpath;

static void __attribute__((noreturn))
usage(int status)
{
	FILE	*fp = status == 0 ? stdout : stderr;

	fprintf(fp, "usage: relay-ctl [-hj] [-s socket] command "
	    "[argument ...]\ncommands:\n");
	print_commands(fp);
	exit(status);
}

/*
 * With -j, what would go to stdout is kept until the command is complete:
 * a failure then prints {"error": "..."} instead, never half a document.
 */
static FILE	*real_stdout;
static char	*json_buf;
static size_t	 json_len;

static void
json_begin(void)
{
	FILE	*mem;

	if ((mem = open_memstream(&json_buf, &json_len)) == NULL)
		err(1, "open_memstream");
	real_stdout = stdout;
	stdout = mem;
}

static int
json_finish(void)
{
	FILE	*mem = stdout;

	if (real_stdout == NULL)
		return 0;
	stdout = real_stdout;
	real_stdout = NULL;
	if (fclose(mem) == EOF)
		return -1;
	fwrite(json_buf, 1, json_len, stdout);
	free(json_buf);
	return 0;
}

/* Under systemd (ExecReload=relay-ctl reload) the journal tags the line. */
static int
stderr_is_journal(void)
{
	const char	*js = getenv("JOURNAL_STREAM");
	struct stat	 st;
	unsigned long	 dev, ino;

	return js != NULL && sscanf(js, "%lu:%lu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev &&
	    st.st_ino == ino;
}

static void __attribute__((noreturn, format(printf, 2, 3)))
ctl_fail(int with_errno, const char *fmt, ...)
{
	char	 msg[1024];
	int	 saved = errno;
	size_t	 n;
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (with_errno && (n = strlen(msg)) < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	if (real_stdout != NULL) {
		fclose(stdout);
		free(json_buf);
		stdout = real_stdout;
		real_stdout = NULL;
		json_error(msg);
		fflush(stdout);
	}
	fprintf(stderr, "%s%s\n", stderr_is_journal() ? "" : "relay-ctl: ",
	    msg);
	exit(1);
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		ctl_fail(0, "socket path too long: %s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		ctl_fail(1, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		switch (errno) {
		case ENOENT:
		case ENOTDIR:
		case ECONNREFUSED:
			ctl_fail(0, "connect %s: %s (is relayd running? use -s to "
			    "name its socket)", path, strerror(errno));
		case EACCES:
		case EPERM:
			ctl_fail(0, "connect %s: %s (run relay-ctl as root or as a "
			    "member of the relay's group)", path,
			    strerror(errno));
		default:
			ctl_fail(1, "connect %s", path);
		}
	}
	return fd;
}

static uint32_t
request_type(enum actions action)
{
	switch (action) {
	case SHOW_SUMMARY:
		return CTL_SHOW_SUMMARY;
	case SHOW_LEASES:
		return CTL_SHOW_LEASES;
	case SHOW_SESSIONS:
		return CTL_SHOW_SESSIONS;
	case SHOW_STATS:
		return CTL_SHOW_STATS;
	case LEASE_REVOKE:
		return CTL_LEASE_REVOKE;
	case SESSION_KILL:
		return CTL_SESSION_KILL;
	case RELOAD:
		return CTL_RELOAD;
	case LOG_VERBOSE:
		return CTL_LOG_VERBOSE;
	case LOG_BRIEF:
		return CTL_LOG_BRIEF;
	case MONITOR:
		return CTL_MONITOR;
	case NONE:
	case SHOW_METRICS:
		break;
	}
	ctl_fail(0, "no request for action %d", (int)action);
}

/* The data reply a request may get before its CTL_END, 0 for none. */
static uint32_t
reply_type(uint32_t request)
{
	switch (request) {
	case CTL_SHOW_SUMMARY:
		return CTL_SUMMARY;
	case CTL_SHOW_LEASES:
		return CTL_LEASE;
	case CTL_SHOW_SESSIONS:
		return CTL_SESSION;
	case CTL_SHOW_STATS:
		return CTL_STATS;
	case CTL_MONITOR:
		return CTL_EVENT;
	default:
		return 0;
	}
}

static const char *
reply_name(uint32_t type)
{
	switch (type) {
	case CTL_SUMMARY:
		return "summary";
	case CTL_LEASE:
		return "lease";
	case CTL_SESSION:
		return "session";
	case CTL_STATS:
		return "stats";
	case CTL_EVENT:
		return "event";
	case CTL_RESULT:
		return "result";
	case CTL_END:
		return "end";
	default:
		return "unknown";
	}
}

/*
 * A string from relayd must end inside its array. For a terminal or a
 * file, anything but printable ASCII becomes '?'; JSON escapes instead.
 */
static int
str_check(char *s, size_t len, int clean)
{
	char	*end;

	if ((end = memchr(s, '\0', len)) == NULL)
		return -1;
	if (clean)
		for (; s < end; s++)
			if (*s < 0x20 || *s > 0x7e)
				*s = '?';
	return 0;
}

#define STR_CHECK(a, clean) \
	do { \
		if (str_check((a), sizeof(a), (clean)) == -1) \
			return -1; \
	} while (0)

static int
check_summary(struct ctl_summary *s, int clean)
{
	uint32_t	 i;

	STR_CHECK(s->version, clean);
	STR_CHECK(s->relay_id, clean);
	if (s->nlisteners > CTL_MAX_LISTENERS || s->nworkers > CTL_MAX_WORKERS)
		return -1;
	for (i = 0; i < s->nlisteners; i++)
		STR_CHECK(s->listeners[i], clean);
	for (i = 0; i < s->nworkers; i++)
		STR_CHECK(s->workers[i].role, clean);
	return 0;
}

static int
check_lease(struct ctl_lease *l, int clean)
{
	uint32_t	 i;

	STR_CHECK(l->name, clean);
	STR_CHECK(l->id, clean);
	if (l->nalpn > ALPN_MAX_COUNT)
		return -1;
	for (i = 0; i < l->nalpn; i++)
		STR_CHECK(l->alpn[i], clean);
	STR_CHECK(l->description, clean);
	STR_CHECK(l->addr, clean);
	return 0;
}

static int
check_session(struct ctl_session *s, int clean)
{
	STR_CHECK(s->lease_name, clean);
	STR_CHECK(s->from_id, clean);
	STR_CHECK(s->to_id, clean);
	STR_CHECK(s->alpn, clean);
	STR_CHECK(s->state, clean);
	return 0;
}

static int
check_event(struct ctl_event *ev, int clean)
{
	STR_CHECK(ev->name, clean);
	STR_CHECK(ev->id, clean);
	STR_CHECK(ev->detail, clean);
	return 0;
}

static void
reply_get(const struct imsg *imsg, void *dst, size_t len)
{
	if (imsg_get_data(imsg, dst, len) == -1)
		ctl_fail(0, "reply type %u (%s) has %zu bytes, expected %zu: "
		    VERSIONS_DIFFER, imsg->hdr.type, reply_name(imsg->hdr.type),
		    imsg->len, len);
}

static void __attribute__((noreturn))
reply_malformed(uint32_t type)
{
	ctl_fail(0, "reply type %u (%s) is malformed (a string without its end "
	    "or a count out of range): " VERSIONS_DIFFER, type,
	    reply_name(type));
}

/*
 * The next reply, reading as needed. Returns 0 when relayd closed the
 * connection; every other failure ends the program.
 */
static int
ctl_next(struct imsg *imsg, int timeout)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	int		 r;

	for (;;) {
		if ((r = imsg_get(&ibuf, imsg)) == 1)
			return 1;
		if (r == -1)
			ctl_fail(1, "bad message from relayd");
		pfd.fd = ibuf.fd;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, timeout)) == -1) {
			if (errno == EINTR)
				continue;
			ctl_fail(1, "poll");
		}
		if (r == 0)
			ctl_fail(0, "no reply from relayd in %d seconds",
			    REPLY_TIMEOUT);
		if ((n = imsgbuf_read(&ibuf)) == -1) {
			if (errno == EAGAIN)
				continue;
			ctl_fail(1, "read %s", sockpath);
		}
		if (n == 0) {
			if (ibuf.rlen > 0)
				ctl_fail(0, "relayd closed the connection in the "
				    "middle of a message");
			return 0;
		}
	}
}

/* Handle one reply to request; returns 1 when the request is complete. */
static int
ctl_reply(uint32_t request, struct imsg *imsg, struct replies *r)
{
	struct ctl_lease	 lease;
	struct ctl_session	 session;
	struct ctl_event	 ev;
	struct ctl_result	 res;
	uint32_t		 type = imsg->hdr.type;

	if (type != CTL_END && type != CTL_RESULT &&
	    type != reply_type(request))
		ctl_fail(0, "unexpected reply type %u: " VERSIONS_DIFFER, type);

	switch (type) {
	case CTL_SUMMARY:
		if (r->nsummary++ > 0)
			ctl_fail(0, "relayd sent a second summary: "
			    VERSIONS_DIFFER);
		reply_get(imsg, &r->summary, sizeof(r->summary));
		if (check_summary(&r->summary, r->clean) == -1)
			reply_malformed(type);
		if (r->out != NULL)
			r->out->summary(&r->summary);
		return 0;
	case CTL_STATS:
		if (r->nstats++ > 0)
			ctl_fail(0, "relayd sent a second set of counters: "
			    VERSIONS_DIFFER);
		reply_get(imsg, &r->stats, sizeof(r->stats));
		if (r->out != NULL)
			r->out->stats(&r->stats);
		return 0;
	case CTL_LEASE:
		reply_get(imsg, &lease, sizeof(lease));
		if (check_lease(&lease, r->clean) == -1)
			reply_malformed(type);
		if (r->out != NULL)
			r->out->lease(&lease);
		return 0;
	case CTL_SESSION:
		reply_get(imsg, &session, sizeof(session));
		if (check_session(&session, r->clean) == -1)
			reply_malformed(type);
		if (r->out != NULL)
			r->out->session(&session);
		return 0;
	case CTL_EVENT:
		reply_get(imsg, &ev, sizeof(ev));
		if (check_event(&ev, r->clean) == -1)
			reply_malformed(type);
		if (r->out != NULL)
			r->out->event(&ev);
		if (fflush(stdout) == EOF)
			ctl_fail(1, "stdout");
		return 0;
	case CTL_RESULT:
		reply_get(imsg, &res, sizeof(res));
		if (res.code != 0) {
			/* stderr is a terminal whatever -j says */
			if (str_check(res.message, sizeof(res.message), 1) ==
			    -1)
				reply_malformed(type);
			if (res.message[0] == '\0')
				ctl_fail(0, "request failed: %s",
				    strerror(res.code));
			ctl_fail(0, "%s", res.message);
		}
		if (str_check(res.message, sizeof(res.message), r->clean) ==
		    -1)
			reply_malformed(type);
		/* success is CTL_END for a request answered by data replies */
		if (reply_type(request) != 0)
			ctl_fail(0, "unexpected result for a request answered by "
			    "%s replies: " VERSIONS_DIFFER,
			    reply_name(reply_type(request)));
		if (r->out != NULL && res.message[0] != '\0')
			r->out->result(&res);
		return 1;
	case CTL_END:
		reply_get(imsg, NULL, 0);
		return 1;
	}
	ctl_fail(0, "unexpected reply type %u: " VERSIONS_DIFFER, type);
}

/* Send one request and handle its replies up to CTL_END. */
static void
ctl_exchange(uint32_t request, const char *target, struct replies *r)
{
	struct ctl_request	 req;
	struct imsg		 imsg;
	int			 done = 0;
	int			 timeout;

	memset(&req, 0, sizeof(req));
	req.version = CTL_VERSION;
	strlcpy(req.target, target, sizeof(req.target));
	if (imsg_compose(&ibuf, request, 0, -1, &req, sizeof(req)) == -1)
		ctl_fail(1, "imsg_compose");
	if (imsgbuf_flush_blocking(&ibuf) == -1)
		ctl_fail(1, "write %s", sockpath);

	timeout = request == CTL_MONITOR ? -1 : REPLY_TIMEOUT * 1000;
	while (!done) {
		if (ctl_next(&imsg, timeout) == 0) {
			if (request == CTL_MONITOR)
				ctl_fail(0, "relayd closed the connection");
			ctl_fail(0, "relayd closed the connection before "
			    "answering");
		}
		done = ctl_reply(request, &imsg, r);
		imsg_free(&imsg);
	}
	if (request == CTL_SHOW_SUMMARY && r->nsummary == 0)
		ctl_fail(0, "relayd sent no summary: " VERSIONS_DIFFER);
	if (request == CTL_SHOW_STATS && r->nstats == 0)
		ctl_fail(0, "relayd sent no counters: " VERSIONS_DIFFER);
}

int
main(int argc, char *argv[])
{
	static struct replies	 r;
	struct parse_result	*res;
	const struct output	*out = &show_output;
	char			 path[PATH_MAX];
	int			 ch, json = 0;

	while ((ch = getopt(argc, argv, "hjs:")) != -1) {
		switch (ch) {
		case 'h':
			usage(0);
		case 'j':
			json = 1;
			out = &json_output;
			break;
		case 's':
			sockpath = optarg;
			break;
		default:
			usage(1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage(1);
	if ((res = parse(argc, argv)) == NULL) {
		if (json)
			json_error("invalid command: see relay-ctl -h");
		exit(1);
	}
	if (json && res->action == SHOW_METRICS)
		ctl_fail(0, "-j does not apply to show metrics: its output is "
		    "OpenMetrics text already");
	if (res->action == SHOW_METRICS)
		out = &metrics_output;
	if (json && res->action != MONITOR)
		json_begin();

	if (sockpath == NULL) {
		if (default_socket_path(path, sizeof(path), getuid() == 0,
		    RELAYD_SOCKET) == -1)
			ctl_fail(0, "the default socket path is too long: use -s");
		/* a member of the relay's group, and no relayd of its own */
		if (getuid() != 0 && access(path, F_OK) == -1 &&
		    access(RELAYD_SOCKET, F_OK) == 0)
			strlcpy(path, RELAYD_SOCKET, sizeof(path));
		sockpath = path;
	}
	imsgbuf_init(&ibuf, ctl_connect(sockpath), 0);

	r.clean = !json;
	r.out = out;
	out->head(res->action);
	if (res->action == SHOW_METRICS) {
		/* the metrics output prints the counters with the summary */
		ctl_exchange(CTL_SHOW_SUMMARY, "", &r);
		ctl_exchange(CTL_SHOW_STATS, "", &r);
	} else
		ctl_exchange(request_type(res->action), res->target, &r);
	out->tail(res->action);
	if (json_finish() == -1)
		ctl_fail(1, "stdout");

	imsgbuf_clear(&ibuf);
	close(ibuf.fd);
	if (fflush(stdout) == EOF)
		ctl_fail(1, "stdout");
	if (ferror(stdout))
		ctl_fail(0, "stdout: write error");
	return 0;
}
