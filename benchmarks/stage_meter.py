"""Stand in for `updown` on PATH during a benchmark: run the real command, record what it cost.

Snakemake and DVC start each stage as `updown <stage> ...` through the shell, so a launcher named
`updown` placed first on PATH sees every stage process of a real run without changing a rule.
It forks the real `updown` ($UPDOWN_BENCH_REAL), waits for it with wait4 (exact CPU time and peak
resident set size of that process tree, no sampling) and appends one JSON line to
$UPDOWN_BENCH_LOG. The exit status is passed through unchanged. $UPDOWN_BENCH_AS_LIMIT_MB, if
set, caps each stage's address space, so a stage too big for the machine fails with a memory
error rather than pushing the whole machine into the out-of-memory killer.

Standard library only, and started with `python -S`, so it adds a few milliseconds per stage.
"""

import json
import os
import sys
import time


def main() -> int:
    real = os.environ["UPDOWN_BENCH_REAL"]
    log_path = os.environ["UPDOWN_BENCH_LOG"]
    argv = [real, *sys.argv[1:]]
    started = time.time()
    t0 = time.perf_counter()
    limit_mb = os.environ.get("UPDOWN_BENCH_AS_LIMIT_MB")
    pid = os.fork()
    if pid == 0:  # the child becomes the real stage
        try:
            if limit_mb:  # a stage that outgrows the machine fails alone instead of the machine
                import resource

                cap = int(limit_mb) * 2**20
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            os.execv(real, argv)
        finally:
            os._exit(127)
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    args = sys.argv[1:]
    ticker = args[args.index("--ticker") + 1] if "--ticker" in args[:-1] else None
    shard = args[args.index("--shard") + 1] if "--shard" in args[:-1] else None
    record = {
        "stage": args[0] if args else "",
        "ticker": ticker,
        "shard": shard,  # I/N of a sharded features or label job (benchmarks/sharded.py)
        "start": started,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss / 1024,  # Linux reports kilobytes
        "exit": code,
        "cwd": os.getcwd(),
    }
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write on an O_APPEND file: parallel stages do not interleave
    finally:
        os.close(fd)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
