# SPDX-License-Identifier: ISC
"""direct-attacker.py: a third host that tries to take a session's direct
path, for tests/e2e/direct.sh.

  direct-attacker.py HOST PORT SESSION_ID_HEX ALPN SECONDS

It knows what an attacker on the public side can learn at worst: the
address and port a lease holder's direct paths listen on and the
session's id. For SECONDS it keeps connecting to HOST:PORT and, on each
connection, sends the direct-path preamble with that session id and
plays the requester's part of the end-to-end handshake, alternately

  own-key  a complete, valid handshake with a key of its own (so only
           the holder's check of the requester's ID can stop it), then
           the path record that chooses the connection;
  bad-m3   a handshake whose last message is garbage (it cannot sign as
           the requester).

Each attempt prints one line. An attempt is "taken" if the holder sends
anything after its M2 (a record: it accepted the attacker); otherwise
"refused" (closed) or "no-connect". Exit 0 when at least one handshake
reached the holder and none was taken, 1 if one was taken, 2 if no
attempt got as far as the holder's M2.

Needs the Python "cryptography" package; exits 77 without it.
"""
import hashlib
import hmac
import importlib.util
import os
import socket
import struct
import sys
import time

try:
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
except ImportError:
    sys.exit(77)

# the record layer and frame helpers of the dishonest relay, shared
_spec = importlib.util.spec_from_file_location(
    "fakerelay", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "client-fakerelay.py"))
fr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fr)


def initiator(c, ctx, sk, garbage_m3, state):
    """The handshake as initiator; the record layer, or None (bad-m3)."""
    pk = fr.raw(sk.public_key())
    h = hashlib.sha256(ctx).digest()
    e = x25519.X25519PrivateKey.generate()
    e_i = fr.raw(e.public_key())
    c.sendall(struct.pack(">H", 32) + e_i)
    m2 = fr.frame(c, 144)
    e_r = m2[:32]
    h = hashlib.sha256(h + e_i + e_r).digest()
    ss = e.exchange(x25519.X25519PublicKey.from_public_bytes(e_r))
    hk = hmac.new(h, ss, hashlib.sha256).digest()
    k_r, k_i = fr.hkdf_expand(hk, b"r hs"), fr.hkdf_expand(hk, b"i hs")
    ChaCha20Poly1305(k_r).decrypt(b"\0" * 12, m2[32:], h)
    state["m2"] = True
    h = hashlib.sha256(h + m2).digest()
    if garbage_m3:
        c.sendall(struct.pack(">H", 112) + os.urandom(112))
        return None
    sig = sk.sign(b"relay/1 i" + h + pk)
    m3 = ChaCha20Poly1305(k_i).encrypt(b"\0" * 12, pk + sig, h)
    c.sendall(struct.pack(">H", len(m3)) + m3)
    h = hashlib.sha256(h + m3).digest()
    ak = hmac.new(h, ss, hashlib.sha256).digest()
    return fr.Records(fr.hkdf_expand(ak, b"i2r"), fr.hkdf_expand(ak, b"r2i"))


def attempt(host, port, sid, ctx, sk, garbage_m3, state):
    try:
        c = socket.create_connection((host, port), 2)
    except OSError:
        return "no-connect"
    c.settimeout(3)
    try:
        c.sendall(b"RLY\x01P" + sid)
        if fr.read_exact(c, 21) != b"RLY\x01P" + sid:
            return "refused (preamble)"
        rec = initiator(c, ctx, sk, garbage_m3, state)
        if rec is not None:
            c.sendall(rec.seal(2, b"\x01"))
            c.sendall(rec.seal(0, b"GET / HTTP/1.0\r\n\r\n"))
        # the holder must close now; anything it sends means it took us
        d = c.recv(1)
        return "taken" if d else "refused (closed)"
    except (EOFError, ConnectionError, ValueError):
        return "refused (closed)"
    except socket.timeout:
        return "refused (silent)"
    except Exception as e:              # a failed M2 open: not the holder
        return "refused (%s)" % type(e).__name__
    finally:
        c.close()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sid = bytes.fromhex(sys.argv[3])
    alpn = sys.argv[4].encode()
    end = time.monotonic() + float(sys.argv[5])
    ctx = b"relay/1 e2e" + sid + bytes([len(alpn)]) + alpn
    sk = ed25519.Ed25519PrivateKey.generate()
    reached = taken = 0
    n = 0
    while time.monotonic() < end:
        mode = n % 2 == 1
        state = {"m2": False}
        r = attempt(host, port, sid, ctx, sk, mode, state)
        print("attempt %d (%s): %s%s" % (n, "bad-m3" if mode else "own-key",
                                          r, ", after M2" if state["m2"]
                                          else ""), flush=True)
        if r == "taken":
            taken += 1
        if state["m2"]:
            reached += 1
        n += 1
        time.sleep(0.05)
    print("%d attempts, %d reached the holder's M2, %d taken" %
          (n, reached, taken))
    sys.exit(1 if taken else 0 if reached else 2)


if __name__ == "__main__":
    main()
