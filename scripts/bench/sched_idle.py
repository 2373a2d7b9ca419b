#!/usr/bin/env python3
"""Where a CPU's idle time goes, from `perf sched timehist` output.

    perf sched record -o sched.data -- sleep 2      # during a benchmark run
    perf sched timehist -i sched.data > timehist.txt
    python3 scripts/bench/sched_idle.py timehist.txt

Splits each CPU's idle time into the part during which some task was runnable but not
yet running (woken, waiting for a CPU) and the part during which nothing waited; for
the latter, names what ran on the other CPUs meanwhile. Also prints each task's total
scheduling delay (from wake-up to running) and how long all CPUs were idle at once.

timehist prints one line per switch-out: the time, the CPU, the task, then its wait
time, scheduling delay and run time in milliseconds. A run started at time - run time,
and the task was woken a scheduling delay before that.
"""

import collections
import sys


def read(path):
    slices = []  # (start, end, cpu, task, scheduling delay in s)
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 6 or not fields[0][0].isdigit():
                continue
            try:
                end = float(fields[0])
                cpu = int(fields[1].strip("[]"))
                delay, run = float(fields[-2]) / 1e3, float(fields[-1]) / 1e3
            except ValueError:
                continue
            task = " ".join(fields[2:-3])
            slices.append((end - run, end, cpu, task, delay))
    return slices


def union(intervals):
    out = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(xs, ys):
    """Both sorted and disjoint; returns the sorted intersection."""
    out, i, j = [], 0, 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(xs, ys):
    """xs minus ys, both sorted and disjoint."""
    out, j = [], 0
    for a, b in xs:
        cur = a
        while j < len(ys) and ys[j][1] <= cur:
            j += 1
        k = j
        while k < len(ys) and ys[k][0] < b:
            if ys[k][0] > cur:
                out.append((cur, ys[k][0]))
            cur = max(cur, ys[k][1])
            k += 1
        if cur < b:
            out.append((cur, b))
    return out


def total(intervals):
    return sum(b - a for a, b in intervals)


def main(path):
    slices = read(path)
    idle = collections.defaultdict(list)
    runs = collections.defaultdict(list)
    waits, delays = [], collections.Counter()
    for start, end, cpu, task, delay in slices:
        if task.startswith("<idle>"):
            idle[cpu].append((start, end))
            continue
        runs[cpu].append((start, end, task))
        if delay > 0:
            waits.append((start - delay, start))
            delays[task.split("[")[0]] += delay
    if not idle:
        sys.exit("no idle slices: is this `perf sched timehist` output?")
    waiting = union(waits)
    cpus = sorted(set(idle) | set(runs))
    idle = {cpu: union(idle[cpu]) for cpu in cpus}

    span = max(s[1] for s in slices) - min(s[0] for s in slices)
    print(f"{len(cpus)} CPUs over {span * 1e3:.0f} ms")
    for cpu in cpus:
        print(f"  CPU {cpu} idle {total(idle[cpu]) * 1e3:.1f} ms")
    all_idle = idle[cpus[0]]
    for cpu in cpus[1:]:
        all_idle = intersect(all_idle, idle[cpu])
    print(f"all CPUs idle at once: {total(all_idle) * 1e3:.1f} ms")

    idle_total = sum(total(idle[cpu]) for cpu in cpus)
    with_waiter = sum(total(intersect(idle[cpu], waiting)) for cpu in cpus)
    print(f"idle while a task waited to run: {with_waiter * 1e3:.1f} of "
          f"{idle_total * 1e3:.1f} ms")

    alone = collections.Counter()
    for cpu in cpus:
        lone = subtract(idle[cpu], waiting)
        for other in cpus:
            if other == cpu:
                continue
            ran, i = sorted(runs[other]), 0
            for a, b in lone:
                while i < len(ran) and ran[i][1] <= a:
                    i += 1
                j = i
                while j < len(ran) and ran[j][0] < b:
                    start, end, task = ran[j]
                    alone[task] += min(b, end) - max(a, start)
                    j += 1
    print(f"idle while nothing waited: {(idle_total - with_waiter) * 1e3:.1f} ms; "
          "meanwhile the other CPUs ran:")
    for task, seconds in alone.most_common(8):
        print(f"  {task:40s} {seconds * 1e3:8.1f} ms")

    print("scheduling delay (woken to running), by task:")
    for task, seconds in delays.most_common(10):
        print(f"  {task:40s} {seconds * 1e3:8.1f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
    elif len(sys.argv) != 2:
        print("usage: sched_idle.py TIMEHIST_OUTPUT (--help for more)", file=sys.stderr)
        sys.exit(2)
    else:
        main(sys.argv[1])
