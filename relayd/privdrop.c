/* SPDX-License-Identifier: ISC */
/*
 * privdrop.c: a worker gives up root, in a fixed order: chroot to an
 * empty root-owned directory, chdir("/"), setgroups to the one group,
 * setresgid, setresuid, then proves that the old ids cannot be regained.
 * When relayd was not started as root there is nothing to give up: the
 * chroot and the uid switch are skipped with a log line, and the sandbox
 * (sandbox.c) still applies. chroot_setup() runs in the parent: it
 * creates that empty directory on a first start.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relayd.h"
#include "util.h"

void
chroot_setup(const char *path)
{
	struct stat	 st;

	if (stat(path, &st) == -1) {
		if (errno != ENOENT)
			fatal("%s", path);
		if (mkdir_parent(path, 0755) == -1)
			fatal("mkdir %s", path);
		if (mkdir(path, 0755) == -1)
			fatal("mkdir %s", path);
		if (chown(path, 0, 0) == -1)
			fatal("chown %s", path);
		log_info("created the empty chroot directory %s", path);
	}
}

void
privdrop(const struct priv_msg *pm, const char *title)
{
	struct passwd	*pw;
	struct stat	 st;
	uid_t		 uid, ruid, euid, suid;
	gid_t		 gid, rgid, egid, sgid;

	if (geteuid() != 0) {
		log_debug("not running as root: no chroot, no user switch");
		return;
	}
	if ((pw = getpwnam(pm->user)) == NULL)
		fatalx("user \"%s\" does not exist: create it (e.g. "
		    "systemd-sysusers, or useradd -r -s /usr/sbin/nologin %s) "
		    "or set \"user\" in relayd.conf", pm->user, pm->user);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0)
		fatalx("user \"%s\" is root: relayd needs an unprivileged user",
		    pm->user);

	if (stat(pm->chroot, &st) == -1)
		fatal("chroot directory %s", pm->chroot);
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		fatalx("chroot directory %s must be a directory owned by root "
		    "and writable by nobody else", pm->chroot);
	if (chroot(pm->chroot) == -1)
		fatal("chroot %s", pm->chroot);
	if (chdir("/") == -1)
		fatal("chdir /");

	if (setgroups(1, &gid) == -1)
		fatal("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid %u", (unsigned)uid);

	/* Prove it: every id is the new one and the old cannot come back. */
	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1)
		fatal("getresuid");
	if (ruid != uid || euid != uid || suid != uid ||
	    rgid != gid || egid != gid || sgid != gid)
		fatalx("%s: ids not dropped", title);
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("%s: uid 0 could be regained", title);
	if (setgid(0) != -1 || setegid(0) != -1)
		fatalx("%s: gid 0 could be regained", title);
	log_debug("running as %s (%u:%u) in %s", pm->user, (unsigned)uid,
	    (unsigned)gid, pm->chroot);
}
