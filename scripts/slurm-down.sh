#!/usr/bin/env bash
# Stops the one-node cluster of scripts/slurm-up.sh: slurmd, slurmctld, munged. Best effort,
# always exits 0. Jobs still running are killed with slurmd; slurmctld keeps its state files.
set -uo pipefail

any_alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }

stop() { # name pidfile
    local name="$1" pidfile="$2" pids=()
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        pids=("$(cat "$pidfile")")
    else
        # No live pid file: fall back to the exact process name.
        mapfile -t pids < <(pgrep -x "$name" 2>/dev/null || true)
    fi
    if [ "${#pids[@]}" -eq 0 ]; then rm -f "$pidfile"; return 0; fi
    kill "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
        any_alive "${pids[@]}" || { rm -f "$pidfile"; echo "slurm-down: stopped $name"; return 0; }
        sleep 0.1
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
    rm -f "$pidfile"
    echo "slurm-down: killed $name"
}

stop slurmd /run/slurm/slurmd.pid
stop slurmctld /run/slurm/slurmctld.pid
stop munged /run/munge/munged.pid
exit 0
