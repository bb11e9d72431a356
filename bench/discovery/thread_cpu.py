#!/usr/bin/env python3
"""CPU-seconds of a process's threads over a span, by thread name.

Usage: thread_cpu.py PID STOPFILE OUT

Samples utime + stime of every thread of PID (/proc/PID/task/*/stat) every
0.25 s until STOPFILE exists (or PID exits), keeping each thread's last
value, so that threads that start and end in between (parser and matching
threads) are counted with what they had used when last seen. The first
sample is the baseline (subtracted). Writes `name<TAB>seconds` lines to OUT,
names with their trailing number dropped (openlmt-parse-0 and -1 summed),
largest first, then `TOTAL<TAB>seconds`. A thread that ends between two
samples loses at most its last 0.25 s.
"""
import collections
import os
import re
import sys
import time

pid, stopfile, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tick = os.sysconf("SC_CLK_TCK")
base = {}
last = {}


def sample(first=False):
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as fh:
                s = fh.read()
        except OSError:
            continue
        name = s[s.index("(") + 1 : s.rindex(")")]
        f = s[s.rindex(")") + 2 :].split()
        cpu = int(f[11]) + int(f[12])
        if first:
            base[t] = cpu
        last[t] = (name, cpu)
    return True


sample(first=True)
while not os.path.exists(stopfile) and sample():
    time.sleep(0.25)
sample()
by = collections.defaultdict(float)
for t, (name, cpu) in last.items():
    by[re.sub(r"-?\d+$", "", name)] += (cpu - base.get(t, 0)) / tick
with open(out, "w") as fh:
    for name, secs in sorted(by.items(), key=lambda x: -x[1]):
        fh.write(f"{name}\t{secs:.2f}\n")
    fh.write(f"TOTAL\t{sum(by.values()):.2f}\n")
