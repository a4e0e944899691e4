/* SPDX-License-Identifier: ISC */
/*
 * relayd.c: main() and the parent's role. The parent reads the
 * configuration, holds the relay's identity key, creates every socket
 * (the TCP listeners, the control socket), has the launcher (proc.c)
 * start the workers, gives each its descriptors and configuration, then
 * serves the few requests workers may make of it (a signature over a
 * handshake hash, a reload, a log level) and handles signals.
 *
 * The parent reads no network input and never gives its key to anyone:
 * a conn worker sends a 32-byte hash and gets a signature back.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/syscall.h>

#include <errno.h>
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

#define RELOAD_WAITERS	8	/* relay-ctl clients waiting for one reload */

static struct {
	struct relayd_config	*conf;
	struct identity		 ident;
	struct event_base	*base;
	int			 root;
	time_t			 started;
	const char		*conffile;
	int			 conffile_given;
	int			 sandbox_cmdline;	/* -S given */
	uid_t			 run_uid;
	gid_t			 run_gid;
	int			 control_fd;
	/* per listener: one socket per conn worker, or one for all */
	int			 lgroup[CTL_MAX_LISTENERS][RELAYD_MAX_WORKERS];
	int			 lcount[CTL_MAX_LISTENERS];
	char			 labels[CTL_MAX_LISTENERS][64];
	int			 nlisteners;
	uint32_t		 generation;
	uint32_t		 reload_gen;	/* 0: no reload in progress */
	uint32_t		 reload_waiters[RELOAD_WAITERS];
	int			 nreload_waiters;
} parent;

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

static __attribute__((noreturn)) void
parent_shutdown(int status)
{
	notify_send("STOPPING=1");
	if (parent.conf->socket[0] != '\0')
		unlink(parent.conf->socket);
	proc_shutdown(status);
}

static void
parent_send_info(void)
{
	struct cfg_info	 info;
	struct child	*lease;
	int		 n;

	if ((lease = proc_child(ROLE_LEASE, 0)) == NULL)
		return;
	memset(&info, 0, sizeof(info));
	info.started = parent.started;
	strlcpy(info.relay_id, parent.ident.id, sizeof(info.relay_id));
	info.parent_pid = getpid();
	info.relay_uid = parent.root ? 0 : (int32_t)geteuid();
	for (n = 0; n < parent.nlisteners; n++)
		strlcpy(info.listeners[n], parent.labels[n],
		    sizeof(info.listeners[n]));
	info.nlisteners = parent.nlisteners;
	info.respawns = proc_respawns();
	proc_child_send(lease, IMSG_CFG_INFO, 0, -1, &info, sizeof(info));
}

/* The lease worker lists every worker's pid for relay-ctl show summary. */
static void
parent_send_worker(const struct child *c)
{
	struct ctl_worker	 cw;
	struct child		*lease;

	if ((lease = proc_child(ROLE_LEASE, 0)) == NULL)
		return;
	memset(&cw, 0, sizeof(cw));
	strlcpy(cw.role, role_names[c->role], sizeof(cw.role));
	cw.index = c->index;
	cw.pid = c->pid;
	cw.started = c->started;
	cw.respawns = c->respawns;
	proc_child_send(lease, IMSG_CFG_WORKER, 0, -1, &cw, sizeof(cw));
}

/* A worker just started: its descriptors, then its configuration. */
static void
parent_setup(struct child *c)
{
	struct listener_msg	 lm;
	int			 i, fd;

	switch (c->role) {
	case ROLE_CONN:
		for (i = 0; i < parent.nlisteners; i++) {
			fd = parent.lgroup[i][c->index % parent.lcount[i]];
			if ((fd = dup(fd)) == -1)
				fatal("dup");
			memset(&lm, 0, sizeof(lm));
			strlcpy(lm.name, parent.labels[i], sizeof(lm.name));
			proc_child_send(c, IMSG_LISTENER_FD, 0, fd, &lm,
			    sizeof(lm));
		}
		break;
	case ROLE_LEASE:
		if ((fd = dup(parent.control_fd)) == -1)
			fatal("dup");
		proc_child_send(c, IMSG_CONTROL_FD, 0, fd, NULL, 0);
		for (i = 0; i < proc_nchildren(); i++)
			parent_send_worker(proc_child_at(i));
		break;
	default:
		break;
	}
	if (c->role != ROLE_LEASE)
		parent_send_worker(c);
	parent_send_info();
	config_send(c, parent.conf, parent.generation);
}

static void
parent_ctl_reply(uint32_t ctlid, int code, const char *msg)
{
	struct ctl_result	 r;
	struct child		*lease;

	if ((lease = proc_child(ROLE_LEASE, 0)) == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.code = code;
	strlcpy(r.message, msg, sizeof(r.message));
	proc_child_send(lease, IMSG_CTL_REPLY, ctlid, -1, &r, sizeof(r));
}

static void
parent_tree_ready(void)
{
	log_info("ready: %d workers, relay ID %s", proc_nchildren(),
	    parent.ident.id);
	notify_send("READY=1");
	notify_status("serving, relay ID %s", parent.ident.id);
}

/* Every worker runs the new configuration: the reload is done. */
static void
parent_reload_check(void)
{
	struct child	*c;
	char		 msg[128];
	int		 i;

	if (parent.reload_gen == 0)
		return;
	for (i = 0; i < proc_nchildren(); i++) {
		c = proc_child_at(i);
		if (c->alive && c->generation < parent.reload_gen)
			return;
	}
	snprintf(msg, sizeof(msg), "configuration reloaded: %d workers run it",
	    proc_nchildren());
	log_info("configuration reloaded from %s: every worker runs it",
	    parent.conf->path[0] ? parent.conf->path : "built-in defaults");
	for (i = 0; i < parent.nreload_waiters; i++)
		parent_ctl_reply(parent.reload_waiters[i], 0, msg);
	parent.nreload_waiters = 0;
	parent.reload_gen = 0;
	notify_send("READY=1");
}

/* Parse the file again; push it to every worker, who acknowledge it. */
static int
parent_reload(uint32_t ctlid, char *err, size_t errlen)
{
	struct relayd_config	*nconf;
	const char		*first;
	int			 i, n;

	if (parent.reload_gen != 0) {
		/* the same file is being applied: wait for that outcome */
		if (ctlid != 0 && parent.nreload_waiters < RELOAD_WAITERS) {
			parent.reload_waiters[parent.nreload_waiters++] = ctlid;
			return 0;
		}
		snprintf(err, errlen, "a reload is in progress: try again");
		return -1;
	}
	notify_send("RELOADING=1");
	if ((nconf = calloc(1, sizeof(*nconf))) == NULL)
		fatal("calloc");
	err[0] = '\0';
	if (parse_config(parent.conffile_given || access(parent.conffile,
	    F_OK) == 0 ? parent.conffile : NULL, nconf, parent.root) == -1) {
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
	if (config_merge(parent.conf, nconf) == 1)
		log_warnx("reload: listen, workers, user, chroot, socket, "
		    "identity and sandbox changes take effect after a restart");
	config_clear(parent.conf);
	free(parent.conf);
	parent.conf = nconf;
	proc_set_limits(&parent.conf->lim);
	parent.reload_gen = ++parent.generation;
	if (ctlid != 0)
		parent.reload_waiters[parent.nreload_waiters++] = ctlid;
	for (i = 0; i < proc_nchildren(); i++)
		config_send(proc_child_at(i), parent.conf, parent.generation);
	return 0;
}

static void
parent_sign(struct child *c, struct imsg *imsg)
{
	struct sign_req		 req;
	struct sign_resp	 resp;
	uint8_t			 msg[HS_SIGMSG_LEN];

	if (imsg_get_data(imsg, &req, sizeof(req)) == -1)
		fatalx("sign request size");	/* msgtab checked it */
	/* The parent builds the message: a worker chooses only the hash. */
	hs_build_sigmsg(HS_RESPONDER, req.h, parent.ident.pk, msg);
	if (identity_sign(&parent.ident, msg, sizeof(msg), resp.sig) == -1)
		fatalx("signing failed");
	proc_child_send(c, IMSG_SIGN_RESP, imsg->hdr.peerid, -1, &resp,
	    sizeof(resp));
}

/* The requests a worker may make; msgtab.c checked sender and phase. */
static void
parent_dispatch(struct child *c, struct imsg *imsg)
{
	char		 err[512] = "";
	int32_t		 v;

	switch (imsg->hdr.type) {
	case IMSG_CFG_DONE:
		parent_reload_check();
		break;
	case IMSG_SIGN_REQ:
		parent_sign(c, imsg);
		break;
	case IMSG_CTL_RELOAD:
		if (parent_reload(imsg->hdr.peerid, err, sizeof(err)) == -1)
			parent_ctl_reply(imsg->hdr.peerid, EINVAL, err);
		break;
	case IMSG_CTL_LOG:
		memcpy(&v, imsg->data, sizeof(v));
		log_setverbose(v);
		proc_broadcast(IMSG_LOG_VERBOSE, &v, sizeof(v));
		log_info("logging %s", v ? "verbose" : "brief");
		parent_ctl_reply(imsg->hdr.peerid, 0, v ? "logging verbose" :
		    "logging brief");
		break;
	default:
		proc_child_kill(c, "a request the parent does not serve");
	}
}

static void
parent_signal(int sig, short ev, void *arg)
{
	char	 err[512];

	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading");
		if (parent_reload(0, err, sizeof(err)) == -1 &&
		    strncmp(err, "a reload", 8) == 0)
			log_warnx("%s", err);
		break;
	case SIGTERM:
	case SIGINT:
		log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" :
		    "SIGINT");
		parent_shutdown(0);
	case SIGCHLD:
		proc_reap();
		break;
	}
}

/*
 * Descriptors: as many as the hard limit allows, and the limits each
 * worker can honour with them, said once at start.
 */
static void
parent_nofile(struct relayd_limits *lim)
{
	struct rlimit	 rl;
	uint64_t	 nofile, conns, sessions;

	if (nofile_raise() == -1)
		log_warn("cannot raise the descriptor limit to the hard one");
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	nofile = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > UINT32_MAX ?
	    UINT32_MAX : rl.rlim_cur;
	if (nofile < 2 * NOFILE_RESERVE)
		fatalx("only %llu descriptors (ulimit -n): relayd needs at "
		    "least %d", (unsigned long long)nofile, 2 * NOFILE_RESERVE);
	lim->nofile = nofile;
	lim->conns_per_worker = (nofile - NOFILE_RESERVE) / FDS_PER_CONN;
	/* the rest of a fwd worker's room: pipes and halves to pair */
	lim->sessions_per_fwd = (nofile - NOFILE_RESERVE) * SESSION_ROOM_NUM /
	    SESSION_ROOM_DEN / FDS_PER_SESSION;
	conns = (uint64_t)lim->conns_per_worker * lim->workers_conn;
	sessions = (uint64_t)lim->sessions_per_fwd * lim->workers_fwd;
	if (conns > lim->conns_total)
		conns = lim->conns_total;
	if (sessions > lim->sessions_total)
		sessions = lim->sessions_total;
	log_info("%llu descriptors per worker: up to %llu connections and "
	    "%llu sessions", (unsigned long long)nofile,
	    (unsigned long long)conns, (unsigned long long)sessions);
}

static const struct parent_ops parent_ops = {
	.setup = parent_setup,
	.dispatch = parent_dispatch,
	.tree_ready = parent_tree_ready,
	.shutdown = parent_shutdown,
};

void
parent_main(struct relayd_config *conf, int verbose, int debug,
    const char *self)
{
	struct priv_msg		 pm;
	struct listen_addr	*la;
	struct event		*ev;
	struct passwd		*pw;
	char			 err[512];
	int			 sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGCHLD };
	int			 sfds[CTL_MAX_LISTENERS];	/* systemd's */
	int			 i, j, created;

	parent.conf = conf;
	parent.root = geteuid() == 0;
	parent.started = time(NULL);
	parent.run_uid = geteuid();
	parent.run_gid = getegid();
	signal(SIGPIPE, SIG_IGN);
	parent_nofile(&conf->lim);

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

	if (sandbox_landlock_probe() == 0)
		log_info("this kernel has no Landlock: workers run with "
		    "seccomp, rlimits%s only", parent.root ? " and chroot" : "");
	if (identity_setup(&parent.ident, conf->identity, &created, err,
	    sizeof(err)) == -1)
		fatalx("relay identity: %s", err);
	if (created)
		log_info("created the relay identity %s: relay ID %s",
		    conf->identity, parent.ident.id);
	/* systemd's sockets (relayd.socket) stand for the listen lines */
	if ((parent.nlisteners = activate_listeners(sfds, parent.labels,
	    CTL_MAX_LISTENERS, err, sizeof(err))) == -1)
		fatalx("%s", err);
	if (parent.nlisteners > 0) {
		log_info("listening on %d socket%s from systemd; the listen "
		    "lines of the configuration are not used",
		    parent.nlisteners, parent.nlisteners == 1 ? "" : "s");
		for (i = 0; i < parent.nlisteners; i++) {
			parent.lgroup[i][0] = sfds[i];
			parent.lcount[i] = 1;
		}
	} else
		TAILQ_FOREACH(la, &conf->listens, entry) {
			if (parent.nlisteners == CTL_MAX_LISTENERS)
				fatalx("too many listeners");
			conn_listener_label(la,
			    parent.labels[parent.nlisteners],
			    sizeof(parent.labels[0]));
			parent.lcount[parent.nlisteners] = conn_listener_open(la,
			    parent.lgroup[parent.nlisteners],
			    (int)conf->lim.workers_conn);
			parent.nlisteners++;
		}
	for (i = 0; i < parent.nlisteners; i++)
		for (j = 0; j < parent.lcount[i]; j++)
			conn_listener_defer(parent.lgroup[i][j]);
	parent.control_fd = control_open(conf->socket, parent.root,
	    parent.run_gid);

	if ((parent.base = event_base_new()) == NULL)
		fatalx("event_base_new");
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
	memcpy(pm.relay_pk, parent.ident.pk, sizeof(pm.relay_pk));
	parent.generation = 1;
	proc_init(parent.base, self, &pm, &conf->lim, &parent_ops);
	proc_start();

	proc_title("parent");
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

	proc_title_init(argc, argv);
	log_init(LOG_TO_STDERR, 0, 0);
	log_procname("relayd");
	if (crypto_setup() == -1)
		fatalx("OpenSSL could not start");
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
			/* absolute, so a reload finds the same file; a copy,
			 * for the process title takes the place of argv */
			if (optarg[0] != '/' && realpath(optarg, self) != NULL)
				parent.conffile = strdup(self);
			else
				parent.conffile = strdup(optarg);
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
		for (r = ROLE_LEASE; r < ROLE_MAX; r++)
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
		config_clear(conf);
		free(conf);
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		fatal("readlink /proc/self/exe");
	self[n] = '\0';
	parent_main(conf, verbose, debug, self);
}
