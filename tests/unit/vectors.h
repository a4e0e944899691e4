/* SPDX-License-Identifier: ISC */
/*
 * vectors.h: reads tests/unit/protocol-vectors.json, the fixed transcript
 * computed by an independent implementation of DESIGN 4. The file is a
 * flat object of "key": "hex" pairs plus a "cases" array of flat objects,
 * so a small scanner suffices; anything else makes the lookup fail.
 */
#ifndef RELAY_TEST_VECTORS_H
#define RELAY_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

int	vec_load(const char *path);
/* Hex value of key in case ("" for the top level); NULL if missing. */
const char *vec_get(const char *casename, const char *key);
/* Decode into out; returns the byte length or -1. */
int	vec_bytes(const char *casename, const char *key, uint8_t *out,
	    size_t outlen);
int	hex_decode(const char *hex, uint8_t *out, size_t outlen);
const char *vec_path(void);

#endif
