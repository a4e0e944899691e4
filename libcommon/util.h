/* SPDX-License-Identifier: ISC */
/*
 * util.h: small helpers shared by relayd, relay-ctl and relay-client:
 * default paths, hex encoding, text from the network made safe to show,
 * socket addresses as text, the open-file limit, parent directories,
 * whole reads and writes on a descriptor, a TCP connect with Nagle off.
 */
#ifndef RELAY_UTIL_H
#define RELAY_UTIL_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>


int	 default_socket_path(char *, size_t, int as_root, const char *root_path);
int	 default_state_path(char *, size_t, const char *file);
void	 hex_encode(const uint8_t *, size_t, char *, size_t);
int	 hex_parse(const char *, uint8_t *, size_t);
char	*text_safe(char *, size_t, const char *);
void	 sockaddr_fmt(const struct sockaddr *, char *, size_t);
int	 nofile_raise(void);
int	 mkdir_parent(const char *, mode_t);
int	 fd_write_full(int, const void *, size_t, int timeout_ms);
int	 fd_read_full(int, void *, size_t, int timeout_ms);
int	 tcp_connect_nodelay(int, const struct sockaddr *, socklen_t);

#endif /* RELAY_UTIL_H */
