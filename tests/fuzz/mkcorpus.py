#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# mkcorpus.py: writes the seed corpora of tests/fuzz/corpus/<target>/.
# Every seed is a short program in the target's own input language (see
# the comment at the top of each fuzz_<target>.c): the targets do the
# cryptography themselves (their keys and ephemerals are fixed, those of
# tests/unit/protocol-vectors.json), so a seed that makes a whole
# handshake or a stream of authentic records is only a few bytes here.
# Control messages are encoded with the small protobuf writer below.
#
# Regression inputs (each reproduced a bug that is fixed now) are named
# "regress-*": those the fuzzer found are committed as it wrote them and
# this script never touches them; the few written here are marked so.
#
# usage: python3 tests/fuzz/mkcorpus.py [corpus-dir]
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


# ---- protobuf (proto3) writer, enough for relay.proto ----

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fv(field, n):
    return varint(field << 3) + varint(n)


def fb(field, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(field << 3 | 2) + varint(len(b)) + b


def addr(ip=b"\x7f\x00\x00\x01", port=7420):
    return fb(1, ip) + fv(2, port)


RELAY_ID = "p6nzz6hzra46cm6aeej3blmwjyyjbbib"   # identity R of the vectors
CLIENT_ID = "lgzloceab4o4lrjnqhvbgyqkmdav5nio"  # identity I
LEASE_ID = bytes(range(16))
SESSION_ID = bytes(range(16, 32))
TOKEN = bytes(range(32, 64))


def c_register(rid=1, name="myssh", alpn=("ssh",), desc="a host", addrs=0):
    body = fv(1, rid) + fb(2, name)
    for a in alpn:
        body += fb(3, a)
    body += fv(4, 60) + fb(5, desc)
    for i in range(addrs):
        body += fb(7, addr(port=1000 + i))
    return fb(1, body)


def c_renew(rid=2, lease=LEASE_ID):
    return fb(2, fv(1, rid) + fb(2, lease))


def c_unregister(rid=3, lease=LEASE_ID):
    return fb(3, fv(1, rid) + fb(2, lease))


def c_connect(rid=4, name="myssh", ident=None, alpn="ssh"):
    body = fv(1, rid)
    body += fb(2, ident) if ident is not None else fb(3, name)
    return fb(4, body + fb(4, alpn))


def c_accept(sid=SESSION_ID):
    return fb(5, fb(1, sid))


def c_path_report(sid=SESSION_ID, outcome=1):
    return fb(9, fb(1, sid) + fv(2, outcome))


def c_reject(sid=SESSION_ID, reason="no"):
    return fb(6, fb(1, sid) + fb(2, reason))


def c_list(rid=5, offset=0):
    return fb(7, fv(1, rid) + fv(2, offset))


def c_ping(nonce=7):
    return fb(8, fv(1, nonce))


def r_registered(rid=1, name="myssh", ttl=60):
    return fb(1, fv(1, rid) + fb(2, LEASE_ID) + fb(3, name) + fv(4, ttl) +
              fv(5, 1700000000) + fb(6, addr()))


def r_ack(rid=3):
    return fb(2, fv(1, rid))


def r_incoming(lease=LEASE_ID):
    return fb(3, fb(1, SESSION_ID) + fb(2, lease) + fb(3, "ssh") +
              fb(4, CLIENT_ID) + fb(5, addr()) + fb(6, TOKEN) +
              fv(7, 10000) + fb(8, addr(port=22)))


def r_connected(rid=4, ident=RELAY_ID):
    return fb(4, fv(1, rid) + fb(2, SESSION_ID) + fb(3, ident) +
              fb(4, addr()) + fb(5, TOKEN) + fb(6, addr(port=22)))


def leaseinfo(name="myssh", ident=RELAY_ID, alpn=("ssh",), desc="a host"):
    body = fb(1, name) + fb(2, ident)
    for a in alpn:
        body += fb(3, a)
    return body + fb(4, desc) + fv(5, 1700000000)


def r_lease_list(rid=5, n=2, more=False):
    body = fv(1, rid)
    for i in range(n):
        body += fb(2, leaseinfo(name="lease-%d" % i))
    if more:
        body += fv(3, 1)
    return fb(5, body)


def r_pong(nonce=7):
    return fb(6, fv(1, nonce))


def r_error(rid=4, code=1, msg="not found"):
    return fb(7, fv(1, rid) + fv(2, code) + fb(3, msg))


def r_notice(kind=0, lease=LEASE_ID, msg="revoked"):
    return fb(8, fv(1, kind) + fb(2, lease) + fb(3, msg))


CLIENT_MSGS = {
    "register": c_register(),
    "register-full": c_register(alpn=("ssh", "http/1.1", "h2"),
                                desc="caf\u00e9 \u2603", addrs=3),
    "renew": c_renew(),
    "unregister": c_unregister(),
    "connect-name": c_connect(),
    "connect-id": c_connect(ident=RELAY_ID.upper()),
    "accept": c_accept(),
    "reject": c_reject(),
    "list": c_list(),
    "ping": c_ping(),
}

RELAY_MSGS = {
    "registered": r_registered(),
    "ack": r_ack(),
    "incoming": r_incoming(),
    "connected": r_connected(),
    "lease-list": r_lease_list(),
    "lease-list-more": r_lease_list(n=3, more=True),
    "pong": r_pong(),
    "error": r_error(),
    "notice": r_notice(),
    "notice-shutdown": r_notice(kind=1, lease=b"", msg="bye"),
}


# ---- fuzz_record: ops (see fuzz_record.c) ----

def rec_seal(length, typ=0, fill=0):
    return bytes([0, typ]) + u16(length) + bytes([0, fill])


def rec_deliver(back=0):
    return bytes([2, back, 0])


REC_CLOSE = bytes([0, 200]) + u16(0) + bytes([0, 0])

write("record", "roundtrip", rec_seal(5) + rec_deliver() + REC_CLOSE +
      rec_deliver() + bytes([8]))
write("record", "max-payload", rec_seal(0xff00 + 1) + rec_deliver())
write("record", "tamper", rec_seal(20, fill=3) + bytes([4]) + u16(77))
write("record", "cut", rec_seal(20) + bytes([5, 3, 1, 0]))
write("record", "replay", rec_seal(9) + rec_deliver() + rec_deliver())
write("record", "reorder", rec_seal(1) + rec_seal(2) + rec_deliver(0) +
      rec_deliver(1))
write("record", "raw", bytes([6]) + u16(40) + bytes(range(40)) + bytes([1]))
write("record", "truncated-eof", rec_seal(3) + rec_deliver() + bytes([8]))
write("record", "frame-len", bytes([7, 2]) + u16(17) + bytes([7, 2]) +
      u16(16401))

# ---- fuzz_handshake (see fuzz_handshake.c) ----
# mode: bit 0 responder, bit 1 script; then ctx, peer ctx, [expect],
# ephemerals, then the steps.

HS_ALL_HONEST = bytes(16)
write("handshake", "script-initiator", bytes([2, 0, 0, 0, 0, 0]) +
      HS_ALL_HONEST)
write("handshake", "script-initiator-tofu", bytes([2, 0, 0, 0xff, 0, 0]) +
      HS_ALL_HONEST)
write("handshake", "script-responder", bytes([3, 0, 0, 0, 0]) +
      HS_ALL_HONEST)
write("handshake", "script-e2e", bytes([2, 200]) + SESSION_ID +
      bytes([3]) + b"ssh" + bytes([0, 0xff, 0, 0]) + HS_ALL_HONEST)
# the peer (responder) claims identity X and signs with X's key
write("handshake", "script-peer-claims-x", bytes([2, 0, 0, 0xff, 0, 0]) +
      bytes([0, 200, 2, 2]) + bytes(16))
# steps: us write M1, peer read, peer sign, peer write, us read, us sign,
# us write, peer read, then a call after the end
HS_STEPS = bytes([0x00, 0x00, 0xa0, 0x00, 0xd0, 0x00, 0x80, 0x00, 0x20,
                  0x00, 0x50, 0x00, 0x00, 0x00, 0xa0, 0x00])
write("handshake", "steps-initiator", bytes([0, 0, 0, 0xff, 0, 0]) +
      HS_STEPS + bytes([0x7f]))
# regression: a call after the end kept the traffic keys (handshake.c)
write("handshake", "regress-keys-after-done", bytes([0, 0, 0, 0xff, 0, 0]) +
      HS_STEPS + bytes([0x00, 0x00]))
write("handshake", "steps-responder", bytes([1, 0, 0, 0, 0]) +
      bytes([0x80, 0x00, 0x20, 0x00, 0x50, 0x00, 0x00, 0x00, 0xa0, 0x00,
             0xd0, 0x00, 0x80, 0x00, 0x20, 0x00, 0x7f]))
write("handshake", "zero-point", bytes([1, 0, 0, 0, 0, 0x20, 200]) +
      bytes(32))

# ---- fuzz_proto: mode byte (bit 0: RelayMessage; >= 0xf0 validators) ----

for k, v in CLIENT_MSGS.items():
    write("proto", "client-" + k, bytes([0]) + v)
for k, v in RELAY_MSGS.items():
    write("proto", "relay-" + k, bytes([1]) + v)
# regression: a valid PathReport failed the target's own check of what
# conn.c copies (fuzz_proto had no case for it)
write("proto", "regress-client-path-report", bytes([0]) + c_path_report())
write("proto", "validators-utf8", bytes([0xf0]) + u16(12) +
      "\u00e9\u2603\U0001f600a".encode())
write("proto", "validators-id", bytes([0xf0]) + u16(32) +
      RELAY_ID.upper().encode())

# ---- fuzz_config: the config tests' files; after a NUL, the include ----

CONFIG_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "config", "data")
for fn in sorted(os.listdir(CONFIG_DATA)):
    if fn.endswith((".in", ".bad")):
        with open(os.path.join(CONFIG_DATA, fn), "rb") as f:
            write("config", fn.replace(".", "-"), f.read())
write("config", "include-mem",
      b'include "inc.conf"\nlisten on $fzport\n\0'
      b'workers conn 2 fwd 2\nlisting off\n')
write("config", "include-self", b'x = "1"\ninclude "relayd.conf"\n')
write("config", "include-dir", b'include "dir"\n')

# ---- fuzz_imsg: mode 0 buffer, 1 socket, 2 compose (see fuzz_imsg.c) ----

def imsg_hdr(typ, plen, fd=False, peer=0):
    # kind 64..191 even: a header with a u16 payload length; odd: HASFD
    return bytes([64 | (1 if fd else 0), typ]) + u16(plen) + bytes([peer])


write("imsg", "buffer-two", bytes([0, 1, 1]) + imsg_hdr(7, 4, fd=True) +
      b"abcd" + imsg_hdr(8, 0) + bytes([0xff, 1, 1, 1, 0]))
write("imsg", "buffer-badlen", bytes([0, 0, 0, 224, 1]) + u32(3) +
      bytes([0, 0xff]))
write("imsg", "buffer-partial", bytes([0, 0, 0]) + imsg_hdr(9, 300) +
      bytes([0xff]))
write("imsg", "socket-fds", bytes([1, 1]) + imsg_hdr(7, 10, fd=True) +
      bytes(10) + imsg_hdr(8, 2) + b"xy" + bytes([0xff]) + u16(15) +
      bytes([1, 1, 0]) + u16(100) + bytes([0]))
write("imsg", "socket-nofd-channel", bytes([1, 0]) + imsg_hdr(7, 4) +
      b"abcd" + bytes([0xff]) + u16(24) + bytes([2]))
write("imsg", "compose", bytes([2, 4]) + bytes([1]) + u16(0) + bytes([0]) +
      bytes([2]) + u16(100) + bytes([200]) + bytes([3]) + u16(4000) +
      bytes([0]) + bytes([4]) + u16(0xfff1) + bytes([200]))
write("imsg", "compose-toolarge", bytes([2, 2, 1]) + u16(0xfff2) +
      bytes([0]))

# ---- fuzz_ctl: mode (request = mode % 10; (mode / 10) % 3: 0 people,
# 1 JSON, 2 show metrics), then replies: kind (index of SUMMARY LEASE
# SESSION STATS EVENT RESULT END; bit 6 set: strings left unterminated),
# fill length, the bytes, the offset-run flag ----

C_SUMMARY, C_LEASE, C_SESSION, C_STATS, C_EVENT, C_RESULT, C_END = range(7)


def ctl_reply(kind, fill=b""):
    return bytes([kind, len(fill)]) + fill + bytes([0])


lease_row = (LEASE_ID + b"myssh".ljust(64, b"\0") +
             RELAY_ID.encode() + b"\0" + b"ssh")
session_row = SESSION_ID + b"myssh".ljust(64, b"\0") + CLIENT_ID.encode()
write("ctl", "summary", bytes([0]) +
      ctl_reply(C_SUMMARY, b"0.1.0\0".ljust(32, b"\0") + bytes([1, 0, 0, 0])) +
      ctl_reply(C_END) + b"\xff")
write("ctl", "summary-json", bytes([10]) +
      ctl_reply(C_SUMMARY, b"0.1.0\0") + ctl_reply(C_END) + b"\xff")
write("ctl", "leases", bytes([1]) + ctl_reply(C_LEASE, lease_row) +
      ctl_reply(C_LEASE, lease_row) + ctl_reply(C_END) + b"\xff")
write("ctl", "leases-json", bytes([11]) + ctl_reply(C_LEASE, lease_row) +
      ctl_reply(C_LEASE) + ctl_reply(C_END) + b"\xff")
write("ctl", "sessions", bytes([2]) + ctl_reply(C_SESSION, session_row) +
      ctl_reply(C_END) + b"\xff")
write("ctl", "sessions-json", bytes([12]) +
      ctl_reply(C_SESSION, session_row) + ctl_reply(C_END) + b"\xff")
write("ctl", "stats", bytes([3]) + ctl_reply(C_STATS, bytes([7] * 64)) +
      ctl_reply(C_END) + b"\xff")
write("ctl", "stats-json", bytes([13]) + ctl_reply(C_STATS, bytes([1])) +
      ctl_reply(C_END) + b"\xff")
write("ctl", "revoke", bytes([4]) +
      ctl_reply(C_RESULT, bytes(4) + b"revoked 1 lease") + b"\xff")
write("ctl", "revoke-fails", bytes([14]) +
      ctl_reply(C_RESULT, bytes([2, 0, 0, 0]) + b"no lease named x") +
      b"\xff")
write("ctl", "monitor", bytes([9]) + ctl_reply(C_EVENT, bytes(8) +
      bytes([1, 0, 0, 0]) + b"myssh") + ctl_reply(C_EVENT) + b"\xff")
write("ctl", "monitor-json", bytes([19]) + ctl_reply(C_EVENT, bytes(8) +
      bytes([4, 0, 0, 0]) + b"myssh") + b"\xff")
write("ctl", "metrics", bytes([20]) + ctl_reply(C_SUMMARY, b"0.1.0\0") +
      ctl_reply(C_END) + ctl_reply(C_STATS, bytes([3] * 40)) +
      ctl_reply(C_END) + b"\xff")
write("ctl", "reload", bytes([6]) + ctl_reply(C_END) + b"\xff")
write("ctl", "bad-size", bytes([0, 0xe0]) + u16(10) + bytes([0, 0]) +
      b"\xff")

# ---- fuzz_client: mode (% 4: 0 lease manager, 1 list, 2 connect by
# name, 3 connect by ID; mode >> 2: choices), then the relay's steps:
# op % 8 == 0/1 a message answering request op / 8 % 4, 2 a message as
# it is, 3 raw bytes, 4 close record, 5 EOF, 6 renewal timer ----

def cl_msg(m, op=0):
    return bytes([op]) + u16(len(m)) + m


write("client", "lease-registered", bytes([0]) + cl_msg(r_registered()))
write("client", "lease-renew", bytes([0]) + cl_msg(r_registered()) +
      bytes([6]) + cl_msg(r_registered(ttl=30)))
write("client", "lease-renew-notfound", bytes([0]) + cl_msg(r_registered()) +
      bytes([6]) + cl_msg(r_error(code=1)))
write("client", "lease-incoming-accept", bytes([4]) +
      cl_msg(r_registered()) + cl_msg(r_incoming(), op=2))
write("client", "lease-incoming-reject", bytes([0]) +
      cl_msg(r_registered()) + cl_msg(r_incoming(), op=2) +
      cl_msg(r_incoming(lease=bytes(16)), op=2))
write("client", "lease-revoked", bytes([0]) + cl_msg(r_registered()) +
      cl_msg(r_notice(), op=2))
write("client", "lease-name-taken", bytes([0]) + cl_msg(r_error(code=4)))
write("client", "lease-stop", bytes([8]) + cl_msg(r_registered()))
write("client", "lease-close", bytes([0]) + cl_msg(r_registered()) +
      bytes([4, 5]))
write("client", "list", bytes([1]) + cl_msg(r_lease_list(n=2, more=True)) +
      cl_msg(r_lease_list(n=1)))
write("client", "list-json", bytes([5]) +
      cl_msg(r_lease_list(n=2, more=True)) + cl_msg(r_lease_list(n=0)))
write("client", "list-empty", bytes([1]) + cl_msg(r_lease_list(n=0)))
write("client", "list-refused", bytes([5]) + cl_msg(r_error(code=8)))
write("client", "connect-name", bytes([2]) + cl_msg(r_connected()))
write("client", "connect-notfound", bytes([2]) + cl_msg(r_error(code=1)))
write("client", "connect-id", bytes([3]) + cl_msg(r_connected()))
write("client", "connect-id-mismatch", bytes([3]) +
      cl_msg(r_connected(ident=CLIENT_ID)))
write("client", "connect-eof", bytes([2, 5]))

# ---- fuzz_preamble: a chunking pattern, then one connection's bytes ----

M1_BODY = bytes.fromhex("79a631eede1bf9c98f12032cdeadd0e7"
                        "a079398fc786b88cc846ec89af85a51a")
write("preamble", "control-m1", bytes([0x40]) + b"RLY\x01C" + u16(32) +
      M1_BODY + u16(112) + bytes(112))
write("preamble", "control-bytewise", bytes([0xff]) + b"RLY\x01C" +
      u16(32) + M1_BODY)
write("preamble", "control-bad-frame", bytes([0x40]) + b"RLY\x01C" +
      u16(33) + bytes(33))
write("preamble", "data-token", bytes([0x10]) + b"RLY\x01D" + TOKEN +
      b"what follows belongs to the peer")
write("preamble", "data-exact", bytes([0x40]) + b"RLY\x01D" + TOKEN)
write("preamble", "data-short", bytes([0x40]) + b"RLY\x01D" + TOKEN[:10])
write("preamble", "bad-magic", bytes([0x40]) + b"RLY\x02C")
write("preamble", "bad-kind", bytes([0x40]) + b"RLY\x01X" + bytes(8))

# ---- fuzz_conn: op = slot << 4 | kind (see fuzz_conn.c) ----
# kinds: 0 connect (0x80: small send buffer), 1 handshake, 2 raw message
# record, 3 valid requests, 4 tampered record / (0x80) close, 5 raw
# bytes, 6-7 lease answers, 8 lease news, 9 read, 10 deadline, 11 close,
# 12 parent signs, 13 data preamble, 14 lease channel drained /
# (0x80) backlogged / (0x40) second fwd worker gone or back, 15 a path
# record

HS = bytes([0x01, 0, 0])           # handshake: parent signs, M3 intact


def valid(kind, extra, count=1, name=1):
    # count, 16 id bytes, name byte, kind, then the kind's fields
    return bytes([0x03, count - 1]) + bytes(16) + bytes([name, kind]) + extra


# Register: request_id, ALPN count, TTL, hidden | local addresses << 1;
# Connect: request_id, by name, direct | local addresses << 1
V_REGISTER = valid(0, bytes([5, 1, 60, 2 << 1]))
V_RENEW = valid(1, bytes([6]))
V_UNREGISTER = valid(2, bytes([7]))
V_CONNECT = valid(3, bytes([8, 1, 1 | 3 << 1]))
V_ACCEPT = valid(4, bytes([1]))
V_LIST = valid(6, bytes([9, 0]))
V_PING = valid(7, bytes([1]))
V_PATH = valid(8, bytes([0]))
A_REGISTERED = bytes([0x06, 0]) + LEASE_ID + bytes([1]) + u32(60) + bytes(8)
A_ERROR = bytes([0x06, 1, 4, 5]) + b"taken"
A_SIMPLE = bytes([0x06, 0])
A_CONNECTED = bytes([0x06, 0]) + SESSION_ID + TOKEN + bytes([1]) + u16(22) + \
    bytes([1]) + bytes(16) + bytes([1]) + u16(22)
A_LIST_FULL = bytes([0x06, 0, 20]) + (bytes([7, 1]) + bytes(8)) * 20 + \
    bytes([1])

write("conn", "ping", bytes([0x00]) + HS + V_PING + bytes([0x09]))
write("conn", "register", bytes([0x00]) + HS + V_REGISTER + A_REGISTERED +
      bytes([0x09]))
write("conn", "register-refused", bytes([0x00]) + HS + V_REGISTER +
      A_ERROR + bytes([0x09]))
write("conn", "renew-unregister", bytes([0x00]) + HS + V_RENEW +
      A_REGISTERED + V_UNREGISTER + A_SIMPLE + bytes([0x09]))
write("conn", "connect-accept", bytes([0x00]) + HS + V_CONNECT +
      A_CONNECTED + V_ACCEPT + A_SIMPLE + bytes([0x09]))
write("conn", "list", bytes([0x00]) + HS + V_LIST + A_LIST_FULL +
      bytes([0x09]))
# a client that sends 64 ListLeases and never reads, while the lease
# worker answers every page in full and floods it with Incoming
write("conn", "list-never-reads", bytes([0x80]) + HS +
      valid(6, bytes([9, 0]), count=64) + A_LIST_FULL * 8 +
      bytes([0x08, 0x80, 255]) + bytes([0x09]))
write("conn", "notice-flood", bytes([0x80]) + HS +
      bytes([0x08, 0x81, 255]))
write("conn", "bad-requests", bytes([0x00]) + HS +
      (bytes([0x02]) + u16(3) + b"\xff\xff\xff") * 3 + bytes([0x09]))
write("conn", "tampered", bytes([0x00]) + HS + bytes([0x04, 0x09]))
write("conn", "close-record", bytes([0x00]) + HS + bytes([0x84, 0x09]))
write("conn", "kick", bytes([0x00]) + HS + bytes([0x08, 2, 1, 0x09]))
write("conn", "idle", bytes([0x00]) + HS + bytes([0x0a, 1, 0x09]))
write("conn", "handshake-deadline", bytes([0x00, 0x0a, 0]))
write("conn", "bad-signer", bytes([0x00, 0x01, 0xff, 0]))
write("conn", "data", bytes([0x00, 0x0d]) + TOKEN)
write("conn", "path-report", bytes([0x00]) + HS + V_PATH + A_SIMPLE +
      bytes([0x09]))
# requests while the lease channel is backlogged: read once it drains
write("conn", "backlog", bytes([0x00]) + HS + bytes([0x8e]) + V_PING +
      V_LIST + bytes([0x09, 0x0e]) + A_LIST_FULL + bytes([0x09]))
# token[0] odd: the second fwd worker's, gone
write("conn", "data-fwd-gone", bytes([0x4e, 0x00, 0x0d]) + bytes([1]) +
      TOKEN[1:])
write("conn", "path-record", bytes([0x00]) + HS + bytes([0x0f, 0x09]))
write("conn", "two-clients", bytes([0x00, 0x00]) + HS +
      bytes([0x11, 0, 0]) + V_PING + bytes([0x12]) + u16(2) + b"\x42\x00" +
      bytes([0x09, 0x19, 0x0b, 0x1b]))
