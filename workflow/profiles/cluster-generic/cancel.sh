#!/usr/bin/env bash
# Cancel jobs for snakemake-executor-plugin-cluster-generic (Ctrl-C, or a failed run without
# --keep-going). Usage (by snakemake): cancel.sh <job id>... Each job is its own session.
set -uo pipefail
spool="${UPDOWN_SPOOL:-.snakemake/cluster-spool}"
for jobid in "$@"; do
  pid_file="$spool/$jobid/pid"
  [ -f "$pid_file" ] && kill -TERM -- "-$(cat "$pid_file")" 2>/dev/null
done
exit 0
