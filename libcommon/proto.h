/* SPDX-License-Identifier: ISC */
/*
 * proto.h: packing and unpacking of the control messages (relay.v1) with
 * a size cap and a bounded allocator, and the field checks of DESIGN 4.4.
 *
 * Unpacked messages live in an arena owned by the caller: no single
 * message, however crafted, can make the process allocate more than the
 * arena, and one proto_arena_reset() releases everything.
 */
#ifndef RELAY_PROTO_H
#define RELAY_PROTO_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "proto/relay.pb-c.h"

typedef Relay__V1__ClientMessage	ClientMessage;
typedef Relay__V1__RelayMessage		RelayMessage;

#define PROTO_ARENA_RELAY	(64 * 1024)	/* relay side: ClientMessage */
#define PROTO_ARENA_CLIENT	(512 * 1024)	/* client side: RelayMessage */

struct proto_arena {
	uint8_t		*mem;
	size_t		 size;
	size_t		 used;
	int		 exhausted;	/* the last unpack ran out of room */
	int		 bad_string;	/* ... or met a NUL inside a string */
	void		*refused;	/* then: the message, for its request_id */
};

int		 proto_arena_init(struct proto_arena *, size_t);
void		 proto_arena_reset(struct proto_arena *);
void		 proto_arena_free(struct proto_arena *);

ClientMessage	*proto_unpack_client(struct proto_arena *, const uint8_t *, size_t);
RelayMessage	*proto_unpack_relay(struct proto_arena *, const uint8_t *, size_t);
ssize_t		 proto_pack_client(const ClientMessage *, uint8_t *, size_t);
ssize_t		 proto_pack_relay(const RelayMessage *, uint8_t *, size_t);
ProtobufCBinaryData proto_bytes(const uint8_t *, size_t);
size_t		 proto_field_values(const ProtobufCMessage *,
		    const ProtobufCFieldDescriptor *, void * const **);

int		 proto_check_client(const ClientMessage *, char *, size_t);
int		 proto_check_relay(const RelayMessage *, char *, size_t);

int		 proto_name_valid(const char *);
int		 proto_alpn_valid(const char *);
int		 proto_text_valid(const char *, size_t max);
int		 proto_addr_valid(const Relay__V1__Address *);
int		 proto_local_addr_valid(const Relay__V1__Address *);
const char	*proto_error_name(int code);
const char	*proto_client_msg_name(int which);
const char	*proto_relay_msg_name(int which);
void		 proto_connect_target(Relay__V1__Connect *, const char *id,
		    const char *name);

#endif /* RELAY_PROTO_H */
