/* SPDX-License-Identifier: ISC */
/*
 * test_msgtab.c: the message table's check, the one gate every internal
 * message passes: each rule refuses what breaks it and lets the rest by.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "relayd.h"
#include "unit.h"

static struct imsg
mk(uint32_t type, void *data, size_t len, int fd)
{
	struct imsg	 m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = type;
	m.hdr.len = IMSG_HDR_LEN + len;
	m.data = len > 0 ? data : NULL;
	m.len = len;
	m.fd = fd;
	return m;
}

/* A message of type whose payload is len zero bytes. */
static struct imsg
mk_zeros(uint32_t type, size_t len, int fd)
{
	static uint8_t	 zeros[sizeof(struct l_register) + 1];

	ck_assert_uint_le(len, sizeof(zeros));
	return mk(type, zeros, len, fd);
}

#define RUN	(PH_RUN | PH_TREE)

/*
 * msg_check() of m from one role to another in the phases now must give
 * want, and a refusal the reason why when one is given; at is the line of
 * the caller or the row of a table.
 */
static void
expect_check(enum proc_role to, enum proc_role from, int now,
    const struct imsg *m, int want, const char *why, int at)
{
	const char	*got = NULL;

	ck_assert_msg(msg_check(to, from, now, m, &got) == want,
	    "%d: msg_check is not %d (%s)", at, want,
	    got != NULL ? got : "no reason");
	if (why != NULL)
		ck_assert_str_eq(got, why);
}

#define PASSES(to, from, now, m) \
	expect_check((to), (from), (now), (m), 0, NULL, __LINE__)
#define REFUSED(to, from, now, m, why) \
	expect_check((to), (from), (now), (m), -1, (why), __LINE__)

START_TEST(test_good_messages_pass)
{
	struct l_register	 lr;
	struct imsg		 m;

	memset(&lr, 0, sizeof(lr));
	strlcpy(lr.name, "svc", sizeof(lr.name));
	strlcpy(lr.alpn[0], "tcp", sizeof(lr.alpn[0]));
	lr.nalpn = 1;
	m = mk(IMSG_L_REGISTER, &lr, sizeof(lr), -1);
	PASSES(ROLE_LEASE, ROLE_CONN, RUN, &m);
	m = mk_zeros(IMSG_SIGN_REQ, sizeof(struct sign_req), -1);
	PASSES(ROLE_PARENT, ROLE_CONN, PH_RUN, &m);
	m = mk(IMSG_L_GONE, NULL, 0, -1);
	PASSES(ROLE_LEASE, ROLE_CONN, RUN, &m);
}
END_TEST

/* A message of zero bytes and what msg_check() must say of it. */
struct zcase {
	uint32_t	 type;
	size_t		 len;
	int		 fd;
	int		 fd_lost;
	enum proc_role	 to;
	enum proc_role	 from;
	int		 now;
	int		 want;
	const char	*why;	/* the reason of a refusal, if it matters */
};

static void
expect_zcases(const struct zcase *c, size_t n)
{
	struct imsg	 m;
	size_t		 i;

	for (i = 0; i < n; i++) {
		m = mk_zeros(c[i].type, c[i].len, c[i].fd);
		m.fd_lost = c[i].fd_lost;
		expect_check(c[i].to, c[i].from, c[i].now, &m, c[i].want,
		    c[i].why, (int)i);
	}
}

#define ZCASES(t)	expect_zcases((t), sizeof(t) / sizeof((t)[0]))

START_TEST(test_sender_and_receiver)
{
	static const struct zcase	 t[] = {
		/* only a conn worker asks for signatures; the parent signs */
		{ IMSG_SIGN_REQ, sizeof(struct sign_req), -1, 0, ROLE_PARENT,
		    ROLE_LEASE, PH_RUN, -1, "wrong sender or receiver" },
		{ IMSG_SIGN_REQ, sizeof(struct sign_req), -1, 0, ROLE_LEASE,
		    ROLE_CONN, RUN, -1 },
		{ IMSG_MAX, 0, -1, 0, ROLE_LEASE, ROLE_CONN, RUN, -1,
		    "unknown type" },
		{ IMSG_NONE, 0, -1, 0, ROLE_LEASE, ROLE_CONN, RUN, -1 },
	};

	ZCASES(t);
}
END_TEST

START_TEST(test_size)
{
	static const struct zcase	 t[] = {
		{ IMSG_L_REGISTER, sizeof(struct l_register) - 1, -1, 0,
		    ROLE_LEASE, ROLE_CONN, RUN, -1, "wrong size" },
		{ IMSG_L_REGISTER, sizeof(struct l_register) + 1, -1, 0,
		    ROLE_LEASE, ROLE_CONN, RUN, -1 },
		{ IMSG_L_GONE, 1, -1, 0, ROLE_LEASE, ROLE_CONN, RUN, -1 },
	};

	ZCASES(t);
}
END_TEST

START_TEST(test_descriptors)
{
	static const struct zcase	 t[] = {
		{ IMSG_F_DATA_FD, sizeof(struct f_data), -1, 0, ROLE_FWD,
		    ROLE_CONN, RUN, -1, "descriptor missing" },
		{ IMSG_F_DATA_FD, sizeof(struct f_data), 7, 0, ROLE_FWD,
		    ROLE_CONN, RUN, 0 },
		/* a descriptor the kernel dropped counts as the one it had */
		{ IMSG_F_DATA_FD, sizeof(struct f_data), -1, 1, ROLE_FWD,
		    ROLE_CONN, RUN, 0 },
		{ IMSG_L_HELLO, sizeof(struct l_hello), 7, 0, ROLE_LEASE,
		    ROLE_CONN, RUN, -1, "unexpected descriptor" },
	};

	ZCASES(t);
}
END_TEST

START_TEST(test_strings_and_counts)
{
	struct l_register	 lr;
	struct l_hello		 h;
	struct imsg		 m;

	memset(&h, 'A', sizeof(h));
	m = mk(IMSG_L_HELLO, &h, sizeof(h), -1);
	REFUSED(ROLE_LEASE, ROLE_CONN, RUN, &m, "unterminated string");

	memset(&lr, 0, sizeof(lr));
	lr.nalpn = 0;
	m = mk(IMSG_L_REGISTER, &lr, sizeof(lr), -1);
	REFUSED(ROLE_LEASE, ROLE_CONN, RUN, &m, "count out of range");
	lr.nalpn = ALPN_MAX_COUNT + 1;
	REFUSED(ROLE_LEASE, ROLE_CONN, RUN, &m, NULL);
	/* the listed ALPNs must be terminated, the rest are not looked at */
	lr.nalpn = 2;
	memset(lr.alpn[1], 'x', sizeof(lr.alpn[1]));
	REFUSED(ROLE_LEASE, ROLE_CONN, RUN, &m,
	    "unterminated string in a list");
	lr.nalpn = 1;
	PASSES(ROLE_LEASE, ROLE_CONN, RUN, &m);
	lr.nlocal = ADDR_MAX_COUNT + 1;
	REFUSED(ROLE_LEASE, ROLE_CONN, RUN, &m, NULL);
}
END_TEST

START_TEST(test_entries)
{
	struct {
		struct l_leaselist	 hdr;
		struct l_leaseinfo	 e[2];
	}			 page;
	struct imsg		 m;

	memset(&page, 0, sizeof(page));
	page.hdr.n = 2;
	page.e[0].nalpn = page.e[1].nalpn = 1;
	m = mk(IMSG_L_LEASELIST, &page, sizeof(page), -1);
	PASSES(ROLE_CONN, ROLE_LEASE, RUN, &m);
	/* the count and the size must agree */
	m = mk(IMSG_L_LEASELIST, &page, sizeof(page) - 1, -1);
	REFUSED(ROLE_CONN, ROLE_LEASE, RUN, &m, NULL);
	page.hdr.n = 1;
	m = mk(IMSG_L_LEASELIST, &page, sizeof(page), -1);
	REFUSED(ROLE_CONN, ROLE_LEASE, RUN, &m, NULL);
	page.hdr.n = LIST_PAGE + 1;
	REFUSED(ROLE_CONN, ROLE_LEASE, RUN, &m, NULL);
	/* every entry's strings are checked */
	page.hdr.n = 2;
	memset(page.e[1].id, 'z', sizeof(page.e[1].id));
	REFUSED(ROLE_CONN, ROLE_LEASE, RUN, &m, NULL);
	m = mk(IMSG_L_LEASELIST, &page, sizeof(page.hdr) - 1, -1);
	REFUSED(ROLE_CONN, ROLE_LEASE, RUN, &m, NULL);
}
END_TEST

START_TEST(test_phases)
{
	static const struct zcase	 t[] = {
		/* a signature before the conn worker is configured */
		{ IMSG_SIGN_REQ, sizeof(struct sign_req), -1, 0, ROLE_PARENT,
		    ROLE_CONN, PH_START, -1, "not allowed during start-up" },
		/* a reload from the lease worker while the tree starts */
		{ IMSG_CTL_RELOAD, 0, -1, 0, ROLE_PARENT, ROLE_LEASE, PH_RUN,
		    -1 },
		{ IMSG_CTL_RELOAD, 0, -1, 0, ROLE_PARENT, ROLE_LEASE,
		    PH_RUN | PH_TREE, 0 },
		/* a listener handed over after start-up */
		{ IMSG_LISTENER_FD, sizeof(struct listener_msg), 5, 0,
		    ROLE_CONN, ROLE_PARENT, PH_START, 0 },
		{ IMSG_LISTENER_FD, sizeof(struct listener_msg), 5, 0,
		    ROLE_CONN, ROLE_PARENT, RUN, -1,
		    "only allowed during start-up" },
	};

	ZCASES(t);
}
END_TEST

/* Every type the code knows has a row, with a name. */
START_TEST(test_every_type_has_a_row)
{
	uint32_t	 t;

	for (t = IMSG_NONE + 1; t < IMSG_MAX; t++)
		ck_assert_msg(strcmp(msg_name(t), "unknown") != 0,
		    "type %u has no row in msgtab.c", t);
	ck_assert_str_eq(msg_name(IMSG_SIGN_REQ), "SIGN_REQ");
}
END_TEST

UNIT_MAIN("msgtab",
	{ "check", { { test_good_messages_pass },
	    { test_sender_and_receiver }, { test_size },
	    { test_descriptors }, { test_strings_and_counts },
	    { test_entries }, { test_phases },
	    { test_every_type_has_a_row } } });
