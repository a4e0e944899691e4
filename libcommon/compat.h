/* SPDX-License-Identifier: ISC */
/*
 * compat.h: what the libbsd overlay lacks or gets wrong on Linux.
 * libbsd's RB_GENERATE_STATIC expands to "__unused static", and libbsd
 * leaves __unused undefined on Linux (it clashes with kernel headers),
 * so file-local trees use RB_GENERATE_LOCAL from here instead.
 */
#ifndef RELAY_COMPAT_H
#define RELAY_COMPAT_H

#include <sys/tree.h>

#define RB_GENERATE_LOCAL(name, type, field, cmp)			\
	RB_GENERATE_INTERNAL(name, type, field, cmp,			\
	    __attribute__((__unused__)) static)

#endif /* RELAY_COMPAT_H */
