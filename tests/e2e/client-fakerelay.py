# SPDX-License-Identifier: ISC
"""client-fakerelay.py: a dishonest relay for tests/e2e/client.sh.

  client-fakerelay.py PORTFILE MODE

It speaks just enough of relay-protocol(7) to answer one Connect: a real
control handshake (with its own identity, whose ID it prints on stdout),
then Connected. In MODE "swap" Connected names the ID that was asked for,
and the relay then answers the end-to-end handshake itself, with its own
key, as if it were that lease holder. In MODE "lie" Connected names the
relay's own ID instead. Either way an honest client must refuse. In
MODE "escape" it answers Connect with an Error (rejected) whose message
carries terminal escape sequences, which the client must not print as
they are.

Needs the Python "cryptography" package; exits 77 without it.
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys

try:
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives import serialization
except ImportError:
    sys.exit(77)


def raw(pub):
    return pub.public_bytes(serialization.Encoding.Raw,
                            serialization.PublicFormat.Raw)


def ident(pk):
    d = hashlib.sha256(b"relay-id-v1" + pk).digest()[:20]
    return base64.b32encode(d).decode().lower()


def hkdf_expand(prk, label):
    return hmac.new(prk, label + b"\x01", hashlib.sha256).digest()


def read_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b


def frame(c, want):
    n = struct.unpack(">H", read_exact(c, 2))[0]
    if n != want:
        raise ValueError("frame %d, want %d" % (n, want))
    return read_exact(c, n)


class Records:
    def __init__(self, send_key, recv_key):
        self.s = ChaCha20Poly1305(send_key)
        self.r = ChaCha20Poly1305(recv_key)
        self.sc = self.rc = 0

    def seal(self, typ, payload):
        hdr = struct.pack(">H", 1 + len(payload) + 16)
        ct = self.s.encrypt(b"\0" * 4 + struct.pack(">Q", self.sc),
                            bytes([typ]) + payload, hdr)
        self.sc += 1
        return hdr + ct

    def open(self, c):
        hdr = read_exact(c, 2)
        ct = read_exact(c, struct.unpack(">H", hdr)[0])
        pt = self.r.decrypt(b"\0" * 4 + struct.pack(">Q", self.rc), ct, hdr)
        self.rc += 1
        return pt[0], pt[1:]


def responder(c, ctx, sk):
    """The handshake as responder (R); returns the record layer."""
    pk = raw(sk.public_key())
    h = hashlib.sha256(ctx).digest()
    e_i = frame(c, 32)
    e = x25519.X25519PrivateKey.generate()
    e_r = raw(e.public_key())
    h = hashlib.sha256(h + e_i + e_r).digest()
    ss = e.exchange(x25519.X25519PublicKey.from_public_bytes(e_i))
    hk = hmac.new(h, ss, hashlib.sha256).digest()
    k_r, k_i = hkdf_expand(hk, b"r hs"), hkdf_expand(hk, b"i hs")
    sig = sk.sign(b"relay/1 r" + h + pk)
    m2 = e_r + ChaCha20Poly1305(k_r).encrypt(b"\0" * 12, pk + sig, h)
    c.sendall(struct.pack(">H", len(m2)) + m2)
    h = hashlib.sha256(h + m2).digest()
    m3 = frame(c, 112)
    ChaCha20Poly1305(k_i).decrypt(b"\0" * 12, m3, h)
    h = hashlib.sha256(h + m3).digest()
    ak = hmac.new(h, ss, hashlib.sha256).digest()
    return Records(hkdf_expand(ak, b"r2i"), hkdf_expand(ak, b"i2r"))


def varint(b, i):
    v = s = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7f) << s
        s += 7
        if x < 0x80:
            return v, i


def fields(b):
    """(number, value) of each field of a protobuf message."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        yield num, v


def pb_bytes(num, v):
    return bytes([num << 3 | 2, len(v)]) + v


def main():
    portfile, mode = sys.argv[1], sys.argv[2]
    relay_sk = ed25519.Ed25519PrivateKey.generate()
    relay_id = ident(raw(relay_sk.public_key()))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d %s\n" % (s.getsockname()[1], relay_id))
    os.rename(portfile + ".tmp", portfile)
    session_id, token = os.urandom(16), os.urandom(32)
    alpn = b"tcp"
    while True:
        c, _ = s.accept()
        c.settimeout(20)
        try:
            pre = read_exact(c, 5)
            if pre == b"RLY\x01C":
                rec = responder(c, b"relay/1 control", relay_sk)
                typ, msg = rec.open(c)
                connect = dict(fields(msg))[4]
                req = dict(fields(connect))
                asked = req.get(2, b"").decode()
                alpn = req.get(4, b"tcp")
                if mode == "escape":
                    text = (b"\x1b[2J\x1b]0;owned\x07 why \xc2\x9b31m" +
                            b"\r\x7f")
                    err = (bytes([0x08, req.get(1, 0), 0x10, 3]) +
                           pb_bytes(3, text))
                    c.sendall(rec.seal(0, pb_bytes(7, err)))
                    rec.open(c)
                    continue
                named = asked if mode == "swap" else relay_id
                cd = (bytes([0x08, req.get(1, 0)]) +
                      pb_bytes(2, session_id) + pb_bytes(3, named.encode()) +
                      pb_bytes(5, token))
                c.sendall(rec.seal(0, pb_bytes(4, cd)))
                rec.open(c)     # wait for the client's close
            elif pre == b"RLY\x01D" and read_exact(c, 32) == token:
                ctx = (b"relay/1 e2e" + session_id + bytes([len(alpn)]) +
                       alpn)
                responder(c, ctx, relay_sk)
                read_exact(c, 1)    # the client closes on the mismatch
        except (EOFError, OSError, ValueError, KeyError):
            pass
        c.close()


if __name__ == "__main__":
    main()
