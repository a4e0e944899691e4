/* SPDX-License-Identifier: ISC */
/*
 * relayd.c: main() and the parent process. The parent reads the
 * configuration, holds the relay's identity key, creates every socket
 * (TCP listeners, the control socket), re-executes itself once per worker
 * (-P role -I index, channel on fd 3), builds the channel mesh between the
 * workers, sends them the configuration, then signs handshakes for the
 * conn workers and handles signals.
 *
 * The parent reads no network input and never gives its key to anyone:
 * a conn worker sends a 32-byte hash and gets a signature back.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "relayd.h"
#include "util.h"

struct child {
	enum proc_role	 role;
	int		 index;
	pid_t		 pid;
	struct peer	 peer;
	int		 ready;
	int		 exited;
};

static struct {
	struct relayd_config	*conf;
	struct identity		 ident;
	struct event_base	*base;
	struct child		*children;
	int			 nchildren;
	int			 nready;
	int			 verbose;
	int			 debug;
	int			 root;
	int			 shutting_down;
	time_t			 started;
	const char		*conffile;
	int			 conffile_given;
	int			 control_fd;
	int			 logpipe[2];
	int			 sandbox_cmdline;	/* -S given */
	uid_t			 run_uid;
	gid_t			 run_gid;
} parent;

static void	parent_log_relay(int, short, void *);

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr,
	    "usage: relayd [-dnSv] [-D macro=value] [-f file]\n"
	    "  -d        stay in the foreground and log to stderr (relayd\n"
	    "            never detaches; this is the default)\n"
	    "  -D m=v    define a configuration macro\n"
	    "  -f file   configuration file (default %s;\n"
	    "            built-in defaults when it does not exist)\n"
	    "  -n        check the configuration and exit; with -v print it\n"
	    "  -S        sandbox debug mode: trap and log forbidden system\n"
	    "            calls instead of killing the worker\n"
	    "  -v        more verbose logging (repeat for more)\n",
	    RELAYD_CONF);
	exit(1);
}

static struct child *
child_by_peer(struct peer *p)
{
	int	 i;

	for (i = 0; i < parent.nchildren; i++)
		if (&parent.children[i].peer == p)
			return &parent.children[i];
	return NULL;
}

static void
parent_send_config(struct child *c)
{
	struct reservation	*r;
	struct allowed_id	*a;
	struct reservation_msg	 rm;
	struct allow_msg	 am;

	peer_compose(&c->peer, IMSG_CFG_LIMITS, -1, &parent.conf->lim,
	    sizeof(parent.conf->lim));
	if (c->role == ROLE_LEASE) {
		TAILQ_FOREACH(r, &parent.conf->reserved, entry) {
			memset(&rm, 0, sizeof(rm));
			strlcpy(rm.name, r->name, sizeof(rm.name));
			strlcpy(rm.id, r->id, sizeof(rm.id));
			peer_compose(&c->peer, IMSG_CFG_RESERVE, -1, &rm,
			    sizeof(rm));
		}
		TAILQ_FOREACH(a, &parent.conf->allowed, entry) {
			memset(&am, 0, sizeof(am));
			strlcpy(am.id, a->id, sizeof(am.id));
			peer_compose(&c->peer, IMSG_CFG_ALLOW, -1, &am,
			    sizeof(am));
		}
	}
	peer_compose(&c->peer, IMSG_CFG_END, -1, NULL, 0);
}

static const char *
child_name(const struct child *c, char *buf, size_t len)
{
	if (c->role == ROLE_LEASE)
		snprintf(buf, len, "lease");
	else
		snprintf(buf, len, "%s %d", role_names[c->role], c->index);
	return buf;
}

/* Say how a worker ended; those that stopped because another died quietly. */
static void
child_reaped(pid_t pid, int status)
{
	struct child	*c = NULL;
	char		 name[32];
	int		 i;

	for (i = 0; i < parent.nchildren; i++)
		if (parent.children[i].pid == pid)
			c = &parent.children[i];
	if (c == NULL)
		return;
	c->exited = 1;
	child_name(c, name, sizeof(name));
	if (WIFSIGNALED(status))
		log_warnx("%s (pid %ld) was killed by signal %d (%s)%s", name,
		    (long)pid, WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WTERMSIG(status) == SIGSYS ? ": a forbidden system call; "
		    "run relayd -d -S to see which" : "");
	else if (WEXITSTATUS(status) == EXIT_PEER_GONE || parent.shutting_down)
		log_debug("%s (pid %ld) stopped", name, (long)pid);
	else
		log_warnx("%s (pid %ld) exited with status %d", name,
		    (long)pid, WEXITSTATUS(status));
}

static void
parent_shutdown(int status)
{
	struct timespec	 ts = { 0, 50 * 1000 * 1000 };
	int		 i, alive, tries, wstatus;
	pid_t		 pid;

	parent.shutting_down = 1;
	notify_send("STOPPING=1");
	for (i = 0; i < parent.nchildren; i++)
		if (!parent.children[i].exited && parent.children[i].pid > 0 &&
		    kill(parent.children[i].pid, SIGTERM) == -1 &&
		    errno != ESRCH)
			log_warn("cannot stop worker pid %ld (CAP_KILL missing?)",
			    (long)parent.children[i].pid);
	for (tries = 0; tries < 100; tries++) {
		alive = 0;
		while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
			child_reaped(pid, wstatus);
		for (i = 0; i < parent.nchildren; i++)
			if (!parent.children[i].exited &&
			    parent.children[i].pid > 0)
				alive++;
		if (alive == 0)
			break;
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < parent.nchildren; i++)
		if (!parent.children[i].exited && parent.children[i].pid > 0) {
			char	 name[32];

			log_warnx("%s (pid %ld) did not stop: killing it",
			    child_name(&parent.children[i], name,
			    sizeof(name)), (long)parent.children[i].pid);
			if (kill(parent.children[i].pid, SIGKILL) == 0)
				waitpid(parent.children[i].pid, NULL, 0);
		}
	if (parent.logpipe[0] > 0)
		parent_log_relay(parent.logpipe[0], EV_READ, NULL);
	if (parent.conf->socket[0] != '\0')
		unlink(parent.conf->socket);
	log_info("%s", status == 0 ? "stopped" : "stopped after an error");
	exit(status);
}

static void
parent_sign(struct child *c, struct imsg *imsg)
{
	struct sign_req		 req;
	struct sign_resp	 resp;
	uint8_t			 msg[HS_SIGMSG_LEN];

	if (c->role != ROLE_CONN)
		bad_imsg(&c->peer, imsg, "only conn workers ask for signatures");
	if (imsg_get_data(imsg, &req, sizeof(req)) == -1)
		bad_imsg(&c->peer, imsg, "size");
	/* The parent builds the message: a worker chooses only the hash. */
	hs_build_sigmsg(HS_RESPONDER, req.h, parent.ident.pk, msg);
	memset(&resp, 0, sizeof(resp));
	resp.reqid = req.reqid;
	if (identity_sign(&parent.ident, msg, sizeof(msg), resp.sig) == -1)
		fatalx("signing failed");
	peer_compose(&c->peer, IMSG_SIGN_RESP, -1, &resp, sizeof(resp));
}

static int	parent_reload(char *, size_t);

static void
parent_ctl_reply(struct child *c, uint32_t ctlid, int code, const char *msg)
{
	struct ctl_fwd_reply	 r;

	memset(&r, 0, sizeof(r));
	r.ctlid = ctlid;
	r.result.code = code;
	strlcpy(r.result.message, msg, sizeof(r.result.message));
	peer_compose(&c->peer, IMSG_CTL_REPLY, -1, &r, sizeof(r));
}

static void
parent_dispatch(struct peer *p, struct imsg *imsg)
{
	struct child	*c = child_by_peer(p);
	struct ctl_fwd	 cf;
	char		 err[512] = "";
	int32_t		 v;
	int		 i;

	if (c == NULL)
		fatalx("message from an unknown channel");
	switch (imsg->hdr.type) {
	case IMSG_READY:
		if (imsg->len != 0 || c->ready)
			bad_imsg(p, imsg, "size or repeat");
		c->ready = 1;
		if (++parent.nready == parent.nchildren) {
			log_info("ready: %d workers, relay ID %s",
			    parent.nchildren, parent.ident.id);
			notify_send("READY=1");
			notify_status("serving, relay ID %s", parent.ident.id);
		}
		break;
	case IMSG_SIGN_REQ:
		parent_sign(c, imsg);
		break;
	case IMSG_CTL_RELOAD:
		if (c->role != ROLE_LEASE ||
		    imsg_get_data(imsg, &cf, sizeof(cf)) == -1)
			bad_imsg(p, imsg, "size or sender");
		if (parent_reload(err, sizeof(err)) == -1)
			parent_ctl_reply(c, cf.ctlid, EINVAL, err);
		else
			parent_ctl_reply(c, cf.ctlid, 0, "reload requested: "
			    "configuration reloaded");
		break;
	case IMSG_CTL_LOG:
		if (c->role != ROLE_LEASE ||
		    imsg_get_data(imsg, &cf, sizeof(cf)) == -1)
			bad_imsg(p, imsg, "size or sender");
		v = cf.arg;
		parent.verbose = v;
		log_setverbose(v);
		for (i = 0; i < parent.nchildren; i++)
			peer_compose(&parent.children[i].peer,
			    IMSG_LOG_VERBOSE, -1, &v, sizeof(v));
		log_info("logging %s", v ? "verbose" : "brief");
		parent_ctl_reply(c, cf.ctlid, 0, v ? "logging verbose" :
		    "logging brief");
		break;
	default:
		bad_imsg(p, imsg, "unexpected in the parent");
	}
}

/* Parse the file again; on success push it to every worker. */
static int
parent_reload(char *err, size_t errlen)
{
	struct relayd_config	*nconf;
	struct listen_addr	*a, *b;
	int			 i, same;

	notify_send("RELOADING=1");
	if ((nconf = calloc(1, sizeof(*nconf))) == NULL)
		fatal("calloc");
	err[0] = '\0';
	if (parse_config(parent.conffile_given || access(parent.conffile,
	    F_OK) == 0 ? parent.conffile : NULL, nconf, parent.root) == -1) {
		const char	*first;
		int		 n;

		first = parse_first_error(&n);
		if (n > 1)
			snprintf(err, errlen, "%s (and %d more errors, see the "
			    "log); keeping the old configuration", first,
			    n - 1);
		else
			snprintf(err, errlen, "%s; keeping the old "
			    "configuration", first[0] ? first : parent.conffile);
	} else if (config_check(nconf, err, errlen) == -1)
		strlcat(err, "; keeping the old configuration", errlen);
	if (err[0] != '\0') {
		log_warnx("reload failed: %s", err);
		config_clear(nconf);
		free(nconf);
		notify_send("READY=1");
		return -1;
	}
	/* -S on the command line outlives any file */
	if (parent.sandbox_cmdline)
		nconf->lim.sandbox_debug = 1;
	/* What needs new processes or sockets takes a restart. */
	same = nconf->lim.workers_conn == parent.conf->lim.workers_conn &&
	    nconf->lim.workers_fwd == parent.conf->lim.workers_fwd &&
	    strcmp(nconf->user, parent.conf->user) == 0 &&
	    strcmp(nconf->chroot, parent.conf->chroot) == 0 &&
	    strcmp(nconf->socket, parent.conf->socket) == 0 &&
	    strcmp(nconf->identity, parent.conf->identity) == 0 &&
	    nconf->lim.sandbox_debug == parent.conf->lim.sandbox_debug;
	for (a = TAILQ_FIRST(&nconf->listens),
	    b = TAILQ_FIRST(&parent.conf->listens); same && (a || b);
	    a = TAILQ_NEXT(a, entry), b = TAILQ_NEXT(b, entry))
		if (a == NULL || b == NULL || a->sslen != b->sslen ||
		    memcmp(&a->ss, &b->ss, a->sslen) != 0)
			same = 0;
	if (!same)
		log_warnx("reload: listen, workers, user, chroot, socket, "
		    "identity and sandbox changes take effect after a restart");
	/*
	 * Keep what cannot change now, so that the running state and what
	 * the parent believes stay the same (the socket removed at exit is
	 * the one in use, and the next reload warns again).
	 */
	nconf->lim.workers_conn = parent.conf->lim.workers_conn;
	nconf->lim.workers_fwd = parent.conf->lim.workers_fwd;
	nconf->lim.sandbox_debug = parent.conf->lim.sandbox_debug;
	strlcpy(nconf->user, parent.conf->user, sizeof(nconf->user));
	strlcpy(nconf->chroot, parent.conf->chroot, sizeof(nconf->chroot));
	strlcpy(nconf->socket, parent.conf->socket, sizeof(nconf->socket));
	strlcpy(nconf->identity, parent.conf->identity,
	    sizeof(nconf->identity));
	{
		struct listen_addr	*la;

		while ((la = TAILQ_FIRST(&nconf->listens)) != NULL) {
			TAILQ_REMOVE(&nconf->listens, la, entry);
			free(la);
		}
		TAILQ_CONCAT(&nconf->listens, &parent.conf->listens, entry);
	}
	config_clear(parent.conf);
	free(parent.conf);
	parent.conf = nconf;
	for (i = 0; i < parent.nchildren; i++)
		parent_send_config(&parent.children[i]);
	log_info("configuration reloaded from %s",
	    parent.conf->path[0] ? parent.conf->path : "built-in defaults");
	notify_send("READY=1");
	return 0;
}

static void
parent_signal(int sig, short ev, void *arg)
{
	char		 err[512] = "";
	int		 status;
	pid_t		 pid;

	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading");
		parent_reload(err, sizeof(err));
		break;
	case SIGTERM:
	case SIGINT:
		log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" :
		    "SIGINT");
		parent_shutdown(0);
		break;
	case SIGCHLD:
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			child_reaped(pid, status);
		if (!parent.shutting_down) {
			log_warnx("a worker died: stopping relayd");
			parent_shutdown(1);
		}
		break;
	}
}

/* "127.0.0.1:7420" or "[::1]:7420"; an address is at most 45 characters. */
static void
listen_label(const struct listen_addr *la, char *out, size_t outlen)
{
	if (la->ss.ss_family == AF_INET6)
		snprintf(out, outlen, "[%.46s]:%u", la->host, la->port);
	else
		snprintf(out, outlen, "%.46s:%u", la->host, la->port);
}

static int
listener_open(struct listen_addr *la)
{
	int	 fd, on = 1;

	fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket for %s", la->host);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("SO_REUSEADDR");
	if (la->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		fatal("IPV6_V6ONLY");
	if (bind(fd, (struct sockaddr *)&la->ss, la->sslen) == -1)
		fatal("cannot listen on %s port %u", la->host, la->port);
	if (listen(fd, 512) == -1)
		fatal("listen %s port %u", la->host, la->port);
	return fd;
}

static void
mkdir_parent(const char *path, mode_t mode)
{
	char	 dir[PATH_MAX], *p;

	strlcpy(dir, path, sizeof(dir));
	p = dirname(dir);
	if (access(p, F_OK) == 0)
		return;
	mkdir_parent(p, mode);
	if (mkdir(p, mode) == -1 && errno != EEXIST)
		fatal("mkdir %s", p);
}

static int
control_open(const char *path)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("control socket path too long: %s", path);
	mkdir_parent(path, parent.root ? 0755 : 0700);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	/* A socket that answers belongs to a running relayd: leave it. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		fatalx("%s: another relayd is running on this control socket",
		    path);
	close(fd);
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	umask(old);
	if (chmod(path, 0660) == -1)
		fatal("chmod %s", path);
	if (parent.root && chown(path, 0, parent.run_gid) == -1)
		fatal("chown %s", path);
	if (listen(fd, 16) == -1)
		fatal("listen %s", path);
	return fd;
}

static void
identity_setup(struct relayd_config *conf)
{
	char	 err[512];

	if (access(conf->identity, F_OK) == -1 && errno == ENOENT) {
		mkdir_parent(conf->identity, 0700);
		if (identity_generate(&parent.ident) == -1)
			fatalx("cannot generate the relay identity");
		if (identity_save(&parent.ident, conf->identity, err,
		    sizeof(err)) == -1)
			fatalx("%s", err);
		log_info("created the relay identity %s: relay ID %s",
		    conf->identity, parent.ident.id);
		return;
	}
	if (identity_load(&parent.ident, conf->identity, err,
	    sizeof(err)) == -1)
		fatalx("relay identity: %s", err);
}

static void
chroot_setup(const char *path)
{
	struct stat	 st;

	if (stat(path, &st) == -1) {
		if (errno != ENOENT)
			fatal("%s", path);
		mkdir_parent(path, 0755);
		if (mkdir(path, 0755) == -1)
			fatal("mkdir %s", path);
		if (chown(path, 0, 0) == -1)
			fatal("chown %s", path);
		log_info("created the empty chroot directory %s", path);
	}
}

static void
spawn(struct child *c, const char *self)
{
	char	 idx[16], *argv[10];
	int	 sp[2], argc = 0, i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair");
	snprintf(idx, sizeof(idx), "%d", c->index);
	argv[argc++] = (char *)"relayd";
	argv[argc++] = (char *)"-P";
	argv[argc++] = (char *)role_names[c->role];
	argv[argc++] = (char *)"-I";
	argv[argc++] = idx;
	argv[argc] = NULL;

	switch (c->pid = fork()) {
	case -1:
		fatal("fork");
	case 0:
		if (dup2(sp[1], PARENT_FD) == -1 ||
		    dup2(parent.logpipe[1], STDERR_FILENO) == -1)
			fatal("dup2");
		for (i = PARENT_FD + 1; i < 1024; i++)
			close(i);
		execv(self, argv);
		fatal("execv %s", self);
	default:
		break;
	}
	close(sp[1]);
	if (fcntl(sp[0], F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");
	peer_init(&c->peer, c->role, c->index, sp[0], 1, parent_dispatch);
}

/*
 * Workers write their log lines into a pipe that the parent copies to its
 * own stderr: a worker may write no file (RLIMIT_FSIZE 0), and stderr
 * can be one when relayd's output is redirected.
 */
static void
parent_log_relay(int fd, short ev, void *arg)
{
	char	 buf[8192];
	ssize_t	 n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(STDERR_FILENO, buf, n) == -1)
			break;
}

static void
mesh_link(struct child *a, struct child *b)
{
	struct peer_msg	 pm;
	int		 sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1)
		fatal("socketpair");
	pm.role = b->role;
	pm.index = b->index;
	peer_compose(&a->peer, IMSG_PEER_FD, sp[0], &pm, sizeof(pm));
	pm.role = a->role;
	pm.index = a->index;
	peer_compose(&b->peer, IMSG_PEER_FD, sp[1], &pm, sizeof(pm));
}

static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

void
parent_main(struct relayd_config *conf, int verbose, int debug,
    const char *self)
{
	struct priv_msg		 pm;
	struct listen_addr	*la;
	struct cfg_info		 info;
	struct ctl_worker	 cw;
	struct event		*ev;
	struct passwd		*pw;
	int			 lfds[CTL_MAX_LISTENERS], nl = 0;
	int			 sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGCHLD };
	int			 i, j, n, nconn, nfwd;

	parent.conf = conf;
	parent.verbose = verbose;
	parent.debug = debug;
	parent.root = geteuid() == 0;
	parent.started = time(NULL);
	parent.run_uid = geteuid();
	parent.run_gid = getegid();
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	if (parent.root) {
		if ((pw = getpwnam(conf->user)) == NULL)
			fatalx("user \"%s\" does not exist: create it (e.g. "
			    "systemd-sysusers, or useradd -r -s "
			    "/usr/sbin/nologin %s) or set \"user\" in "
			    "relayd.conf", conf->user, conf->user);
		parent.run_uid = pw->pw_uid;
		parent.run_gid = pw->pw_gid;
		chroot_setup(conf->chroot);
	} else
		log_info("not running as root: workers keep uid %u, no chroot; "
		    "the sandbox still applies", (unsigned)geteuid());

	if (syscall(SYS_landlock_create_ruleset, NULL, 0, 1U) < 1)
		log_info("this kernel has no Landlock: workers run with "
		    "seccomp, rlimits%s only", parent.root ? " and chroot" : "");
	identity_setup(conf);
	TAILQ_FOREACH(la, &conf->listens, entry) {
		if (nl == CTL_MAX_LISTENERS)
			fatalx("too many listeners");
		lfds[nl++] = listener_open(la);
	}
	parent.control_fd = control_open(conf->socket);

	if ((parent.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	/* proc.c's channel code serves the parent too */
	if ((worker = calloc(1, sizeof(*worker))) == NULL)
		fatal("calloc");
	worker->role = ROLE_PARENT;
	worker->base = parent.base;
	peer_set_dispatch(parent_dispatch);

	nconn = conf->lim.workers_conn;
	nfwd = conf->lim.workers_fwd;
	parent.nchildren = 1 + nconn + nfwd;
	parent.children = calloc(parent.nchildren, sizeof(*parent.children));
	if (parent.children == NULL)
		fatal("calloc");
	parent.children[0].role = ROLE_LEASE;
	for (i = 0; i < nconn; i++) {
		parent.children[1 + i].role = ROLE_CONN;
		parent.children[1 + i].index = i;
	}
	for (i = 0; i < nfwd; i++) {
		parent.children[1 + nconn + i].role = ROLE_FWD;
		parent.children[1 + nconn + i].index = i;
	}

	if (pipe2(parent.logpipe, O_CLOEXEC) == -1 ||
	    fcntl(parent.logpipe[0], F_SETFL, O_NONBLOCK) == -1)
		fatal("log pipe");
	ev = event_new(parent.base, parent.logpipe[0], EV_READ | EV_PERSIST,
	    parent_log_relay, NULL);
	if (ev == NULL || event_add(ev, NULL) == -1)
		fatalx("log pipe event");
	for (i = 0; i < (int)(sizeof(sigs) / sizeof(sigs[0])); i++) {
		ev = evsignal_new(parent.base, sigs[i], parent_signal, NULL);
		if (ev == NULL || evsignal_add(ev, NULL) == -1)
			fatalx("signal event");
	}

	memset(&pm, 0, sizeof(pm));
	strlcpy(pm.user, conf->user, sizeof(pm.user));
	strlcpy(pm.chroot, conf->chroot, sizeof(pm.chroot));
	pm.sandbox_debug = conf->lim.sandbox_debug;
	pm.verbose = verbose;
	pm.root = parent.root;
	memcpy(pm.relay_pk, parent.ident.pk, sizeof(pm.relay_pk));
	for (i = 0; i < parent.nchildren; i++) {
		spawn(&parent.children[i], self);
		peer_compose(&parent.children[i].peer, IMSG_PRIV, -1, &pm,
		    sizeof(pm));
	}
	close(parent.logpipe[1]);

	/* the mesh: lease <-> every conn and fwd, every conn <-> every fwd */
	for (i = 1; i < parent.nchildren; i++)
		mesh_link(&parent.children[0], &parent.children[i]);
	for (i = 0; i < nconn; i++)
		for (j = 0; j < nfwd; j++)
			mesh_link(&parent.children[1 + i],
			    &parent.children[1 + nconn + j]);

	for (i = 0; i < nconn; i++)
		for (n = 0; n < nl; n++) {
			struct listener_msg	 lm;
			int			 fd;

			if ((fd = dup(lfds[n])) == -1)
				fatal("dup");
			memset(&lm, 0, sizeof(lm));
			la = TAILQ_FIRST(&conf->listens);
			for (j = 0; j < n; j++)
				la = TAILQ_NEXT(la, entry);
			listen_label(la, lm.name, sizeof(lm.name));
			peer_compose(&parent.children[1 + i].peer,
			    IMSG_LISTENER_FD, fd, &lm, sizeof(lm));
		}
	for (n = 0; n < nl; n++)
		close(lfds[n]);
	peer_compose(&parent.children[0].peer, IMSG_CONTROL_FD,
	    parent.control_fd, NULL, 0);

	memset(&info, 0, sizeof(info));
	info.started = parent.started;
	strlcpy(info.relay_id, parent.ident.id, sizeof(info.relay_id));
	info.parent_pid = getpid();
	info.relay_uid = parent.root ? 0 : (int32_t)geteuid();
	n = 0;
	TAILQ_FOREACH(la, &conf->listens, entry)
		listen_label(la, info.listeners[n++], sizeof(info.listeners[0]));
	info.nlisteners = n;
	peer_compose(&parent.children[0].peer, IMSG_CFG_INFO, -1, &info,
	    sizeof(info));
	for (i = 0; i < parent.nchildren; i++) {
		memset(&cw, 0, sizeof(cw));
		strlcpy(cw.role, role_names[parent.children[i].role],
		    sizeof(cw.role));
		cw.index = parent.children[i].index;
		cw.pid = parent.children[i].pid;
		peer_compose(&parent.children[0].peer, IMSG_CFG_WORKER, -1,
		    &cw, sizeof(cw));
	}
	for (i = 0; i < parent.nchildren; i++)
		parent_send_config(&parent.children[i]);

	setproctitle("parent");
	log_procname("parent");
	event_base_dispatch(parent.base);
	fatalx("parent event loop ended");
}

int
main(int argc, char *argv[])
{
	struct relayd_config	*conf;
	const char		*role = NULL, *errstr;
	char			 self[PATH_MAX], err[512];
	int			 ch, index = 0, noaction = 0, verbose = 0;
	int			 debug = 0, sandbox_debug = 0;
	ssize_t			 n;
	enum proc_role		 r;

	setproctitle_init(argc, argv, environ);
	log_init(LOG_TO_STDERR, 0, 0);
	log_procname("relayd");
	parent.conffile = RELAYD_CONF;

	while ((ch = getopt(argc, argv, "dD:f:hI:nP:Sv")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'D':
			if (cmdline_symset(optarg) == -1)
				fatalx("could not parse macro definition %s "
				    "(expected name=value)", optarg);
			break;
		case 'f':
			/* absolute, so a reload finds the same file */
			if (optarg[0] != '/' && realpath(optarg, self) != NULL)
				parent.conffile = strdup(self);
			else
				parent.conffile = optarg;
			if (parent.conffile == NULL)
				fatal("strdup");
			parent.conffile_given = 1;
			break;
		case 'I':
			index = strtonum(optarg, 0, RELAYD_MAX_WORKERS - 1,
			    &errstr);
			if (errstr != NULL)
				fatalx("worker index %s: %s", optarg, errstr);
			break;
		case 'n':
			noaction = 1;
			break;
		case 'P':
			role = optarg;
			break;
		case 'S':
			sandbox_debug = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_setverbose(verbose);

	if (role != NULL) {
		for (r = ROLE_LEASE; r <= ROLE_FWD; r++)
			if (strcmp(role, role_names[r]) == 0)
				worker_main(r, index, debug);
		fatalx("unknown process role %s", role);
	}

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		fatal("calloc");
	if (!parent.conffile_given && access(parent.conffile, F_OK) == -1) {
		if (parse_config(NULL, conf, geteuid() == 0) == -1)
			exit(1);
	} else if (parse_config(parent.conffile, conf, geteuid() == 0) == -1)
		exit(1);
	if (sandbox_debug)
		conf->lim.sandbox_debug = 1;
	parent.sandbox_cmdline = sandbox_debug;
	if (config_check(conf, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", conf->path[0] ? conf->path : "defaults",
		    err);
		exit(1);
	}
	if (noaction) {
		if (verbose)
			print_config(conf);
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		fatal("readlink /proc/self/exe");
	self[n] = '\0';
	parent_main(conf, verbose, debug, self);
}
