#!/usr/bin/env bash
# A stand-in batch system for snakemake-executor-plugin-cluster-generic: each job script runs as
# its own detached process (new session, not a child of snakemake), like a job on a cluster node.
# Usage (by snakemake): submit.sh <jobscript>. Prints the job id; the job's state lives in
# $UPDOWN_SPOOL/<job id>/ (pid, out.log, exit), which status.sh and cancel.sh read.
set -euo pipefail
jobscript="${!#}"
spool="${UPDOWN_SPOOL:-.snakemake/cluster-spool}"
mkdir -p "$spool"
jobid="job-$(date +%s%N)-$$"
dir="$spool/$jobid"
mkdir "$dir"
# Snakemake removes its temporary job scripts when it exits: keep the job's own copy.
cp "$jobscript" "$dir/jobscript.sh"
setsid bash -c 'echo $$ > "$1/pid.tmp" && mv "$1/pid.tmp" "$1/pid"
  bash "$1/jobscript.sh" > "$1/out.log" 2>&1
  echo $? > "$1/exit.tmp" && mv "$1/exit.tmp" "$1/exit"' _ "$dir" < /dev/null > /dev/null 2>&1 &
echo "$jobid"
