# SPDX-License-Identifier: ISC
"""client-helper.py: small TCP programs for tests/e2e/client.sh.

  echo PORTFILE          echo server on 127.0.0.1; writes its port to PORTFILE;
                         on end of input it finishes echoing, then half-closes
  sum PORTFILE           reads everything until end of input, then answers
                         "<bytes> <sha256>\\n" and closes: proves half-close
  load PORT N SIZE       N concurrent clients of an echo service at PORT,
                         each sending SIZE random bytes then half-closing, and
                         checking that exactly those bytes come back
  fetch URL FILE         HTTP GET URL into FILE (when curl is missing)
  gen SEED MIB HASHFILE  writes MIB MiB of a stream seeded by SEED to stdout,
                         then "<bytes> <sha256>" of it to HASHFILE
  duplex PORTFILE SEED MIB RESULTFILE
                         for each connection, sends MIB MiB seeded by SEED
                         (then half-closes) while it reads and hashes all it
                         receives; on the end of both writes to RESULTFILE
                         "sent <bytes> <sha256>" and "received <bytes>
                         <sha256>" lines
  slow                   a slow reader: stdin in 16 KiB reads, 2 ms apart,
                         then "<bytes> <sha256>" of it on stdout
  count-when-full        reads nothing until the pipe on stdin is full (all
                         its pages but one; or 20 s pass), then counts it: "full <bytes>",
                         or "not full <bytes>" if it never filled
  upload PORT FILE       sends FILE to 127.0.0.1:PORT, half-closes, and
                         prints what comes back (a sink's byte count, what
                         an echo service sent back)
  sink PORTFILE          reads and discards until end of input, then
                         answers with the byte count and closes
  shim PORTFILE RELAY_PORT DUMP [FLIP]
                         a forwarding shim in front of the relay: copies
                         every connection both ways (half-close included),
                         appends all bytes it carries to DUMP, and with FLIP
                         inverts the byte at offset FLIP of what the relay
                         sends back on each data connection

Only loopback addresses; every socket has a timeout so a broken path fails
the test instead of hanging it.
"""
import hashlib
import os
import random
import socket
import sys
import threading
import time
import urllib.request

TIMEOUT = 30


def serve(portfile, handler):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.rename(tmp, portfile)
    while True:
        c, _ = s.accept()
        c.settimeout(TIMEOUT)
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def chunks(c, size=65536):
    """What c receives, a recv at a time, until the end of input."""
    while True:
        d = c.recv(size)
        if not d:
            return
        yield d


def echo(c):
    try:
        for d in chunks(c):
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    c.close()


def summer(c):
    h = hashlib.sha256()
    n = 0
    try:
        for d in chunks(c):
            h.update(d)
            n += len(d)
        c.sendall(b"%d %s\n" % (n, h.hexdigest().encode()))
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    c.close()


MIB = 1 << 20


def stream(seed, mib):
    """MIB chunks of 1 MiB, the same for the same seed."""
    r = random.Random(seed)
    for _ in range(mib):
        yield r.randbytes(MIB)


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def gen(seed, mib, hashfile):
    h = hashlib.sha256()
    n = 0
    out = sys.stdout.buffer
    for chunk in stream(seed, mib):
        out.write(chunk)
        h.update(chunk)
        n += len(chunk)
    out.flush()
    write_atomic(hashfile, "%d %s\n" % (n, h.hexdigest()))


def duplex(seed, mib, result):
    def handler(c):
        sent = []

        def sender():
            h = hashlib.sha256()
            n = 0
            try:
                for chunk in stream(seed, mib):
                    c.sendall(chunk)
                    h.update(chunk)
                    n += len(chunk)
                c.shutdown(socket.SHUT_WR)
            except OSError as e:
                print("duplex: send: %s" % e, file=sys.stderr)
            sent.append("%d %s" % (n, h.hexdigest()))
        t = threading.Thread(target=sender)
        t.start()
        h = hashlib.sha256()
        n = 0
        buf = bytearray(MIB)
        try:
            while True:
                k = c.recv_into(buf)
                if not k:
                    break
                h.update(memoryview(buf)[:k])
                n += k
        except OSError as e:
            print("duplex: receive: %s" % e, file=sys.stderr)
        t.join()
        c.close()
        write_atomic(result, "sent %s\nreceived %d %s\n" %
                     (sent[0], n, h.hexdigest()))
    return handler


def sink(c):
    buf = bytearray(MIB)
    n = 0
    try:
        while True:
            k = c.recv_into(buf)
            if not k:
                break
            n += k
        c.sendall(b"%d\n" % n)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    c.close()


def slow():
    h = hashlib.sha256()
    n = 0
    while True:
        d = os.read(0, 16384)
        if not d:
            break
        h.update(d)
        n += len(d)
        time.sleep(0.002)
    print("%d %s" % (n, h.hexdigest()))


def count_when_full():
    """The writer must find the pipe full, so it blocks (or fails)."""
    import fcntl
    import termios
    try:
        cap = fcntl.fcntl(0, 1032)      # F_GETPIPE_SZ
    except OSError:
        cap = 65536
    # each write may start a page of its own: full is all pages but one
    full = cap - os.sysconf("SC_PAGE_SIZE")
    deadline = time.monotonic() + 20
    state = "not full"
    while time.monotonic() < deadline:
        avail = fcntl.ioctl(0, termios.FIONREAD, b"\0\0\0\0")
        if int.from_bytes(avail, sys.byteorder) > full:
            state = "full"
            break
        time.sleep(0.01)
    n = 0
    while True:
        d = os.read(0, 1 << 16)
        if not d:
            break
        n += len(d)
    print("%s %d" % (state, n))


def load(port, n, size):
    errors = []

    def one(i):
        data = os.urandom(size)
        try:
            c = socket.create_connection(("127.0.0.1", port), TIMEOUT)
            c.settimeout(TIMEOUT)
            got = []

            def reader():
                got.extend(chunks(c))
            t = threading.Thread(target=reader)
            t.start()
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            t.join(TIMEOUT)
            c.close()
            if b"".join(got) != data:
                errors.append("client %d: %d bytes back, %d sent" %
                              (i, len(b"".join(got)), size))
        except OSError as e:
            errors.append("client %d: %s" % (i, e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors[:10]:
        print(e, file=sys.stderr)
    print("%d of %d sessions correct" % (n - len(errors), n))
    return 1 if errors else 0


def shim(portfile, relay_port, dump, flip):
    lock = threading.Lock()

    def copy(src, dst, flip_at):
        n = 0
        try:
            for d in chunks(src):
                if flip_at is not None and n <= flip_at < n + len(d):
                    b = bytearray(d)
                    b[flip_at - n] ^= 0xff
                    d = bytes(b)
                n += len(d)
                with lock, open(dump, "ab") as f:
                    f.write(d)
                dst.sendall(d)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle(c):
        try:
            pre = b""
            while len(pre) < 5:
                d = c.recv(5 - len(pre))
                if not d:
                    c.close()
                    return
                pre += d
            u = socket.create_connection(("127.0.0.1", relay_port), TIMEOUT)
            u.sendall(pre)
        except OSError:
            c.close()
            return
        flip_at = flip if pre == b"RLY\x01D" else None
        t = threading.Thread(target=copy, args=(c, u, None))
        t.start()
        copy(u, c, flip_at)
        t.join()
        c.close()
        u.close()

    serve(portfile, handle)


def main():
    mode = sys.argv[1]
    if mode == "echo":
        serve(sys.argv[2], echo)
    elif mode == "sum":
        serve(sys.argv[2], summer)
    elif mode == "load":
        sys.exit(load(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    elif mode == "shim":
        shim(sys.argv[2], int(sys.argv[3]), sys.argv[4],
             int(sys.argv[5]) if len(sys.argv) > 5 else None)
    elif mode == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif mode == "duplex":
        serve(sys.argv[2], duplex(int(sys.argv[3]), int(sys.argv[4]),
                                  sys.argv[5]))
    elif mode == "slow":
        slow()
    elif mode == "count-when-full":
        count_when_full()
    elif mode == "upload":
        c = socket.create_connection(("127.0.0.1", int(sys.argv[2])),
                                     TIMEOUT)
        with open(sys.argv[3], "rb") as f:
            c.sendfile(f)
        c.shutdown(socket.SHUT_WR)
        sys.stdout.write(b"".join(chunks(c, 4096)).decode())
    elif mode == "sink":
        serve(sys.argv[2], sink)
    elif mode == "fetch":
        with urllib.request.urlopen(sys.argv[2], timeout=TIMEOUT) as r, \
                open(sys.argv[3], "wb") as f:
            f.write(r.read())
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
