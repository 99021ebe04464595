#!/usr/bin/env bash
# Starts a real one-node Slurm cluster on localhost (Debian 12, run as root, no systemd needed):
# installs slurm-wlm + munge when missing, writes /etc/slurm/slurm.conf for this host, starts
# munged, slurmctld and slurmd directly and waits until the node is idle. Idempotent: when the
# cluster already answers with the node up, it exits at once. scripts/slurm-down.sh stops it.
# SLURM_UP_TIMEOUT (default 60) is the wait, in seconds, for the node to come up.
set -euo pipefail

log() { echo "slurm-up: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"

host="$(hostname -s)"
timeout="${SLURM_UP_TIMEOUT:-60}"
conf=/etc/slurm/slurm.conf
logdir=/var/log/slurm

node_state() { timeout 15 sinfo -h -N -n "$host" -o %T 2>/dev/null | head -n 1; }
node_up() { case "$(node_state)" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac; }
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The configuration for this machine (CPUs = nproc, RealMemory a bit under its memory).
write_conf() { # file
    cpus="$(nproc)"
    mem_mb="$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"
    real_mem=$((mem_mb * 9 / 10))
    # slurmd drains a node that has less memory than RealMemory says: stay under what it sees.
    if command -v slurmd >/dev/null 2>&1 &&
        seen="$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')" && [ -n "$seen" ] &&
        [ "$seen" -lt "$real_mem" ]; then
        real_mem=$((seen * 9 / 10))
    fi

    cat >"$1" <<EOF
# Written by xbar scripts/slurm-up.sh: a one-node cluster on localhost.
ClusterName=xbar
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurm/ctld
SlurmdSpoolDir=/var/spool/slurm/d
SlurmctldLogFile=$logdir/slurmctld.log
SlurmdLogFile=$logdir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
# A job whose dependency can never be met (afterok on a failed job) is cancelled, not left pending.
DependencyParameters=kill_invalid_depend
# No mail on this machine; the default /bin/mail is missing and slurmctld logs an error.
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Keep finished jobs visible to scontrol/squeue for a while (no accounting database).
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}
new_conf="$(mktemp)"
trap 'rm -f "$new_conf"' EXIT
write_conf "$new_conf"

# Fast path: already running with this configuration.
# (The pid files come first: sinfo takes ~10 s to give up when slurmctld or munged is down.)
if command -v sinfo >/dev/null 2>&1 && cmp -s "$new_conf" "$conf" && pid_alive /run/munge/munged.pid &&
    pid_alive /run/slurm/slurmctld.pid && pid_alive /run/slurm/slurmd.pid && node_up; then
    echo "slurm-up: one-node cluster $host with $cpus CPUs is idle (already up: $(node_state))"
    exit 0
fi

# --- install -------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 ||
    ! command -v munged >/dev/null 2>&1 || ! command -v sinfo >/dev/null 2>&1; then
    log "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    pkgs=(slurm-wlm munge)
    if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/tmp/slurm-up-apt.log 2>&1; then
        log "install failed; running apt-get update and retrying"
        apt-get update -qq >>/tmp/slurm-up-apt.log 2>&1 || true
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >>/tmp/slurm-up-apt.log 2>&1 ||
            { tail -n 20 /tmp/slurm-up-apt.log >&2; die "apt-get install ${pkgs[*]} failed"; }
    fi
fi

# --- munge ---------------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    # A stale pid file or socket from a killed munged would stop a new one.
    if ! pid_alive /run/munge/munged.pid; then
        rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    fi
    log "starting munged"
    runuser -u munge -- munged 2>>"/var/log/munge/munged.start.log" ||
        munged --force 2>>"/var/log/munge/munged.start.log" || true
    for _ in $(seq 1 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null ||
        { tail -n 20 /var/log/munge/munged.log /var/log/munge/munged.start.log >&2 2>/dev/null || true
          die "munge does not work (munge -n | unmunge failed)"; }
fi

# --- slurm.conf ----------------------------------------------------------------------------
# Written again now that slurmd -C can tell the memory it sees.
write_conf "$new_conf"
install -d -m 0755 /etc/slurm "$logdir" /var/spool/slurm /var/spool/slurm/ctld /var/spool/slurm/d /run/slurm
if ! cmp -s "$new_conf" "$conf"; then
    log "writing $conf"
    # Daemons running with another configuration must restart to pick it up.
    for pidfile in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid; do
        if pid_alive "$pidfile"; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            for _ in $(seq 1 50); do pid_alive "$pidfile" || break; sleep 0.1; done
        fi
    done
    install -m 0644 "$new_conf" "$conf"
fi

# --- daemons -------------------------------------------------------------------------------
if ! pid_alive /run/slurm/slurmctld.pid; then
    log "starting slurmctld"
    slurmctld || true
fi
slurmd_since=0
if ! pid_alive /run/slurm/slurmd.pid; then
    log "starting slurmd"
    slurmd_since=$(($(date +%s) - 1))
    slurmd || true
fi
# slurmctld restores the node's last state from its state files, so "idle" alone may be stale:
# when slurmd was started here, also wait for it to register (SlurmdStartTime from now on).
registered() {
    [ "$slurmd_since" -eq 0 ] && return 0
    local t
    t="$(scontrol show node "$host" 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p')"
    [ -n "$t" ] && [ "$t" != None ] && [ "$(date -d "$t" +%s 2>/dev/null || echo 0)" -ge "$slurmd_since" ]
}

fail() {
    for f in "$logdir/slurmctld.log" "$logdir/slurmd.log"; do
        echo "---- last lines of $f" >&2
        tail -n 25 "$f" >&2 2>/dev/null || echo "(missing)" >&2
    done
    die "$*"
}

started=$SECONDS
deadline=$((SECONDS + timeout))
next_resume=$SECONDS
while :; do
    state="$(node_state || true)"
    case "$state" in
        idle | mixed | allocated | completing) registered && break ;;
        down* | drain* | fail* | inval*)
            # ReturnToService=2 brings a node back on registration; an explicit resume covers the
            # state saved by an earlier run.
            if [ "$SECONDS" -ge "$next_resume" ] && pid_alive /run/slurm/slurmd.pid; then
                log "node $host is $state: resuming it"
                scontrol update nodename="$host" state=resume 2>/dev/null || true
                next_resume=$((SECONDS + 5))
            fi
            ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
        scontrol show node "$host" >&2 2>/dev/null || true
        fail "node $host not idle after ${timeout}s (state: ${state:-no answer from slurmctld})"
    fi
    if [ $((SECONDS - started)) -ge 5 ]; then
        pid_alive /run/slurm/slurmctld.pid || fail "slurmctld is not running"
        pid_alive /run/slurm/slurmd.pid || fail "slurmd is not running"
    fi
    sleep 0.5
done

echo "slurm-up: one-node cluster $host with $cpus CPUs is idle"
