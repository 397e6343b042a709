#!/usr/bin/env bash
# Job state for snakemake-executor-plugin-cluster-generic: prints running, success or failed.
# Usage (by snakemake): status.sh <job id> (as printed by submit.sh).
set -uo pipefail
dir="${UPDOWN_SPOOL:-.snakemake/cluster-spool}/$1"
verdict() { if [ "$(cat "$dir/exit")" = 0 ]; then echo success; else echo failed; fi; }
if [ -f "$dir/exit" ]; then verdict; exit 0; fi
if [ ! -f "$dir/pid" ] || kill -0 "$(cat "$dir/pid")" 2>/dev/null; then echo running; exit 0; fi
# The process is gone: it may have written its exit code between the two checks above.
if [ -f "$dir/exit" ]; then verdict; else echo failed; fi
