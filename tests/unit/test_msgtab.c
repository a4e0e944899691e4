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

#define RUN	(PH_RUN | PH_TREE)

START_TEST(test_good_messages_pass)
{
	struct l_register	 lr;
	struct sign_req		 sr;
	struct imsg		 m;
	const char		*why = NULL;

	memset(&lr, 0, sizeof(lr));
	strlcpy(lr.name, "svc", sizeof(lr.name));
	strlcpy(lr.alpn[0], "tcp", sizeof(lr.alpn[0]));
	lr.nalpn = 1;
	m = mk(IMSG_L_REGISTER, &lr, sizeof(lr), -1);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), 0);
	memset(&sr, 0, sizeof(sr));
	m = mk(IMSG_SIGN_REQ, &sr, sizeof(sr), -1);
	ck_assert_int_eq(msg_check(ROLE_PARENT, ROLE_CONN, PH_RUN, &m, &why),
	    0);
	m = mk(IMSG_L_GONE, NULL, 0, -1);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), 0);
}
END_TEST

START_TEST(test_sender_and_receiver)
{
	struct sign_req	 sr;
	struct imsg	 m;
	const char	*why = NULL;

	memset(&sr, 0, sizeof(sr));
	m = mk(IMSG_SIGN_REQ, &sr, sizeof(sr), -1);
	/* only a conn worker asks for signatures, only the parent signs */
	ck_assert_int_eq(msg_check(ROLE_PARENT, ROLE_LEASE, PH_RUN, &m, &why),
	    -1);
	ck_assert_str_eq(why, "wrong sender or receiver");
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
	m = mk(IMSG_MAX, NULL, 0, -1);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
	ck_assert_str_eq(why, "unknown type");
	m = mk(IMSG_NONE, NULL, 0, -1);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
}
END_TEST

START_TEST(test_size)
{
	uint8_t		 buf[sizeof(struct l_register) + 1];
	struct imsg	 m;
	const char	*why = NULL;

	memset(buf, 0, sizeof(buf));
	m = mk(IMSG_L_REGISTER, buf, sizeof(struct l_register) - 1, -1);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
	ck_assert_str_eq(why, "wrong size");
	m = mk(IMSG_L_REGISTER, buf, sizeof(buf), -1);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
	m = mk(IMSG_L_GONE, buf, 1, -1);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
}
END_TEST

START_TEST(test_descriptors)
{
	struct f_data	 fd;
	struct l_hello	 h;
	struct imsg	 m;
	const char	*why = NULL;

	memset(&fd, 0, sizeof(fd));
	m = mk(IMSG_F_DATA_FD, &fd, sizeof(fd), -1);
	ck_assert_int_eq(msg_check(ROLE_FWD, ROLE_CONN, RUN, &m, &why), -1);
	ck_assert_str_eq(why, "descriptor missing");
	m = mk(IMSG_F_DATA_FD, &fd, sizeof(fd), 7);
	ck_assert_int_eq(msg_check(ROLE_FWD, ROLE_CONN, RUN, &m, &why), 0);
	/* a descriptor the kernel dropped still counts as the one it had */
	m = mk(IMSG_F_DATA_FD, &fd, sizeof(fd), -1);
	m.fd_lost = 1;
	ck_assert_int_eq(msg_check(ROLE_FWD, ROLE_CONN, RUN, &m, &why), 0);
	memset(&h, 0, sizeof(h));
	m = mk(IMSG_L_HELLO, &h, sizeof(h), 7);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
	ck_assert_str_eq(why, "unexpected descriptor");
}
END_TEST

START_TEST(test_strings_and_counts)
{
	struct l_register	 lr;
	struct l_hello		 h;
	struct imsg		 m;
	const char		*why = NULL;

	memset(&h, 'A', sizeof(h));
	m = mk(IMSG_L_HELLO, &h, sizeof(h), -1);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
	ck_assert_str_eq(why, "unterminated string");

	memset(&lr, 0, sizeof(lr));
	lr.nalpn = 0;
	m = mk(IMSG_L_REGISTER, &lr, sizeof(lr), -1);
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
	ck_assert_str_eq(why, "count out of range");
	lr.nalpn = ALPN_MAX_COUNT + 1;
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
	/* the listed ALPNs must be terminated, the rest are not looked at */
	lr.nalpn = 2;
	memset(lr.alpn[1], 'x', sizeof(lr.alpn[1]));
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
	ck_assert_str_eq(why, "unterminated string in a list");
	lr.nalpn = 1;
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), 0);
	lr.nlocal = ADDR_MAX_COUNT + 1;
	ck_assert_int_eq(msg_check(ROLE_LEASE, ROLE_CONN, RUN, &m, &why), -1);
}
END_TEST

START_TEST(test_entries)
{
	struct {
		struct l_leaselist	 hdr;
		struct l_leaseinfo	 e[2];
	}			 page;
	struct imsg		 m;
	const char		*why = NULL;

	memset(&page, 0, sizeof(page));
	page.hdr.n = 2;
	page.e[0].nalpn = page.e[1].nalpn = 1;
	m = mk(IMSG_L_LEASELIST, &page, sizeof(page), -1);
	ck_assert_int_eq(msg_check(ROLE_CONN, ROLE_LEASE, RUN, &m, &why), 0);
	/* the count and the size must agree */
	m = mk(IMSG_L_LEASELIST, &page, sizeof(page) - 1, -1);
	ck_assert_int_eq(msg_check(ROLE_CONN, ROLE_LEASE, RUN, &m, &why), -1);
	page.hdr.n = 1;
	m = mk(IMSG_L_LEASELIST, &page, sizeof(page), -1);
	ck_assert_int_eq(msg_check(ROLE_CONN, ROLE_LEASE, RUN, &m, &why), -1);
	page.hdr.n = LIST_PAGE + 1;
	ck_assert_int_eq(msg_check(ROLE_CONN, ROLE_LEASE, RUN, &m, &why), -1);
	/* every entry's strings are checked */
	page.hdr.n = 2;
	memset(page.e[1].id, 'z', sizeof(page.e[1].id));
	ck_assert_int_eq(msg_check(ROLE_CONN, ROLE_LEASE, RUN, &m, &why), -1);
	m = mk(IMSG_L_LEASELIST, &page, sizeof(page.hdr) - 1, -1);
	ck_assert_int_eq(msg_check(ROLE_CONN, ROLE_LEASE, RUN, &m, &why), -1);
}
END_TEST

START_TEST(test_phases)
{
	struct sign_req		 sr;
	struct listener_msg	 lm;
	struct imsg		 m;
	const char		*why = NULL;

	memset(&sr, 0, sizeof(sr));
	m = mk(IMSG_SIGN_REQ, &sr, sizeof(sr), -1);
	/* a signature before the conn worker is configured: refused */
	ck_assert_int_eq(msg_check(ROLE_PARENT, ROLE_CONN, PH_START, &m, &why),
	    -1);
	ck_assert_str_eq(why, "not allowed during start-up");
	/* a reload from the lease worker while the tree starts: refused */
	m = mk(IMSG_CTL_RELOAD, NULL, 0, -1);
	ck_assert_int_eq(msg_check(ROLE_PARENT, ROLE_LEASE, PH_RUN, &m, &why),
	    -1);
	ck_assert_int_eq(msg_check(ROLE_PARENT, ROLE_LEASE, PH_RUN | PH_TREE,
	    &m, &why), 0);
	/* a listener handed over after start-up: refused */
	memset(&lm, 0, sizeof(lm));
	m = mk(IMSG_LISTENER_FD, &lm, sizeof(lm), 5);
	ck_assert_int_eq(msg_check(ROLE_CONN, ROLE_PARENT, PH_START, &m, &why),
	    0);
	ck_assert_int_eq(msg_check(ROLE_CONN, ROLE_PARENT, RUN, &m, &why), -1);
	ck_assert_str_eq(why, "only allowed during start-up");
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
