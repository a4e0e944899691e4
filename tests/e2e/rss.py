# SPDX-License-Identifier: ISC
"""rss.py: samples the resident memory of relayd and of each of its
workers for tests/e2e/hostile.sh, which reads the result to print each
process's RSS before, at its peak during and after every attack.

  rss.py PARENT_PID PHASEFILE OUTFILE

Every 100 ms it reads VmRSS of PARENT_PID and of its children (found
through /proc/PID/task/PID/children). PHASEFILE holds the name of the
current phase; the test writes a new name there when an attack starts.
For each phase and process OUTFILE gets one line, rewritten atomically
after every sample:

  PHASE PID TITLE FIRST_KIB PEAK_KIB LAST_KIB

It only reads /proc and writes OUTFILE; it stops when PARENT_PID is gone
or when the test kills it (by its PID, from the test's trap).
"""
import os
import sys
import time


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def title(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            t = f.read().split(b"\0")[0].decode(errors="replace").strip()
    except OSError:
        return "?"
    # "relayd: conn 0" -> "conn0"; the parent keeps its role name too
    t = t.replace("relayd:", "").strip().replace(" ", "")
    return t or "?"


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def main():
    parent = int(sys.argv[1])
    phasefile, outfile = sys.argv[2], sys.argv[3]
    order = []          # (phase, pid) in first-seen order
    rec = {}            # (phase, pid) -> [title, first, peak, last]
    while True:
        try:
            with open(phasefile) as f:
                phase = f.read().strip() or "start"
        except OSError:
            phase = "start"
        pids = [parent] + children(parent)
        alive = False
        for pid in pids:
            kib = rss_kib(pid)
            if kib is None:
                continue
            if pid == parent:
                alive = True
            key = (phase, pid)
            if key not in rec:
                rec[key] = [title(pid), kib, kib, kib]
                order.append(key)
            r = rec[key]
            r[2] = max(r[2], kib)
            r[3] = kib
        tmp = outfile + ".tmp"
        with open(tmp, "w") as f:
            for key in order:
                r = rec[key]
                f.write("%s %d %s %d %d %d\n" % (key[0], key[1], r[0],
                                                r[1], r[2], r[3]))
        os.rename(tmp, outfile)
        if not alive:
            return
        time.sleep(0.1)


if __name__ == "__main__":
    main()
