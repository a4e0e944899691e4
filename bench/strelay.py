#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""strelay.py: sessions through strelaysrv (Syncthing's relay, relay
protocol v1) for bench/run, so that its data path is measured by the same
tool as relayd's.

usage: strelay.py PORT CERTDIR N -- COMMAND [ARG...]

Sets up N sessions through the strelaysrv listening on 127.0.0.1:PORT:
a "server" device joins the relay over TLS (protocol mode, ALPN
bep-relay, a client certificate whose SHA-256 is its device ID), a
"client" device asks to connect to it, each receives a session
invitation and opens a plain session connection with its key. Then it
runs COMMAND with the descriptor pairs appended (client side written,
server side read: fwd_bench's "fds" mode); the setup is not timed.
CERTDIR holds a.pem/a.key and b.pem/b.key (made by openssl req).
"""
import hashlib
import os
import socket
import ssl
import struct
import sys

MAGIC = 0x9E79BC40
T_JOIN_RELAY, T_JOIN_SESSION, T_RESPONSE = 2, 3, 4
T_CONNECT, T_INVITATION = 5, 6


def xdr_bytes(b):
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


def send(sock, mtype, payload=b""):
    sock.sendall(struct.pack(">IiI", MAGIC, mtype, len(payload)) + payload)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("strelaysrv closed the connection")
        buf += chunk
    return buf


def recv(sock):
    magic, mtype, length = struct.unpack(">IiI", recv_exact(sock, 12))
    if magic != MAGIC or length > 1024:
        raise ValueError("not a relay protocol message")
    return mtype, recv_exact(sock, length)


def take_bytes(p, off):
    (n,) = struct.unpack_from(">I", p, off)
    if n > 32:
        raise ValueError("field too long")
    return p[off + 4:off + 4 + n], off + 4 + n + (-n % 4)


def invitation(payload):
    _, off = take_bytes(payload, 0)           # from
    key, off = take_bytes(payload, off)
    addr, off = take_bytes(payload, off)
    (port,) = struct.unpack_from(">I", payload, off)
    return key, addr, port


def response_ok(sock, what):
    mtype, p = recv(sock)
    if mtype != T_RESPONSE:
        raise ValueError("%s: expected a response, got type %d" % (what, mtype))
    (code,) = struct.unpack_from(">i", p, 0)
    if code != 0:
        raise ValueError("%s: refused with code %d" % (what, code))


def tls(port, certdir, who):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["bep-relay"])
    ctx.load_cert_chain(os.path.join(certdir, who + ".pem"),
                        os.path.join(certdir, who + ".key"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    return ctx.wrap_socket(raw)


def device_id(certdir, who):
    with open(os.path.join(certdir, who + ".pem")) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).digest()


def join_session(port, key, addr, rport):
    host = socket.inet_ntoa(addr) if len(addr) == 4 else "127.0.0.1"
    s = socket.create_connection((host, rport or port), timeout=20)
    send(s, T_JOIN_SESSION, xdr_bytes(key))
    response_ok(s, "join session")
    s.settimeout(None)
    return s


def main():
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        sys.exit(__doc__)
    port, certdir, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    server = tls(port, certdir, "a")
    send(server, T_JOIN_RELAY)
    response_ok(server, "join relay")
    fds = []
    keep = []
    for _ in range(n):
        client = tls(port, certdir, "b")
        send(client, T_CONNECT, xdr_bytes(device_id(certdir, "a")))
        mtype, p = recv(client)
        if mtype != T_INVITATION:
            raise ValueError("connect: expected an invitation, got %d" % mtype)
        ckey, caddr, cport = invitation(p)
        mtype, p = recv(server)
        if mtype != T_INVITATION:
            raise ValueError("server: expected an invitation, got %d" % mtype)
        skey, saddr, sport = invitation(p)
        c = join_session(port, ckey, caddr, cport)
        s = join_session(port, skey, saddr, sport)
        for sock in (c, s):
            os.set_inheritable(sock.fileno(), True)
            keep.append(sock)
        fds += [str(c.fileno()), str(s.fileno())]
        client.close()
    # the server's protocol connection stays open (inherited, unused):
    # strelaysrv drops the sessions of a device that leaves
    os.set_inheritable(server.fileno(), True)
    cmd = sys.argv[5:] + fds
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
