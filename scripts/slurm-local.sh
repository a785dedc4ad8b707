#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (Debian's slurm-wlm + munge): slurmctld and
# slurmd on localhost, one partition "debug" with this machine's CPUs (at most 2). Idempotent: a
# second call returns as soon as the running cluster answers. Needs root (apt-get, daemons).
#
#   scripts/slurm-local.sh          install if needed, start, wait until the node is idle
#   scripts/slurm-local.sh --stop   stop the daemons started by this script
#
# Every step is time-bounded; the script exits non-zero with a message if the cluster is not up
# within its budget, so CI fails fast instead of hanging.
set -euo pipefail

STATE=/var/lib/featlab-slurm
LOG=/var/log/featlab-slurm
RUN=/run/featlab-slurm
CONF=/etc/slurm/slurm.conf
HOST=$(hostname -s)

say() { echo "slurm-local: $*"; }

stop() {
    for pidfile in "$RUN/slurmd.pid" "$RUN/slurmctld.pid"; do
        if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            kill "$(cat "$pidfile")" || true
        fi
    done
    say "stopped"
}

if [[ ${1:-} == --stop ]]; then stop; exit 0; fi

alive() { [[ -s $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
node_up() { timeout 10 sinfo -h -o %T 2>/dev/null | grep -qE "^(idle|mixed|allocated|completing)"; }

if alive slurmctld && alive slurmd && node_up; then
    say "cluster already up: $(sinfo -h -o '%P %D %C %T' | head -1)"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then say "needs root to install and start slurm"; exit 1; fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v slurmd >/dev/null; then
    say "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq
    timeout 600 apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

mkdir -p "$STATE/ctld" "$STATE/d" "$LOG" "$RUN" /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
if ! timeout 5 munge -n </dev/null >/dev/null 2>&1; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged --force
    for _ in $(seq 50); do timeout 5 munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.2; done
    timeout 5 munge -n </dev/null >/dev/null || { say "munged did not start"; exit 1; }
fi

CPUS=$(( $(nproc) < 2 ? $(nproc) : 2 ))
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4 ))
cat > "$CONF" <<EOF
# written by featlab scripts/slurm-local.sh: a one-node test cluster
ClusterName=featlab
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
KillWait=5
Waittime=0
MaxArraySize=10001
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
# no cgroup.conf: proctrack/linuxproc and task/none need no cgroups (containers often have none)

if ! alive slurmctld; then
    say "starting slurmctld"
    /usr/sbin/slurmctld -i || { say "slurmctld failed to start:"; tail -n 5 "$LOG/slurmctld.log"; exit 1; }
fi
if ! alive slurmd; then
    say "starting slurmd"
    /usr/sbin/slurmd || { say "slurmd failed to start:"; tail -n 5 "$LOG/slurmd.log"; exit 1; }
fi

for _ in $(seq 60); do
    if alive slurmd && node_up; then
        say "cluster up: $(sinfo -h -o 'partition %P, %D node, %C cpus (A/I/O/T), %T')"
        exit 0
    fi
    state=$(timeout 5 sinfo -h -o %T 2>/dev/null || true)
    if [[ $state == *drain* || $state == *down* ]]; then
        timeout 5 scontrol update nodename="$HOST" state=resume 2>/dev/null || true
    fi
    sleep 1
done
say "cluster did not come up within 60 s; see $LOG/slurmctld.log and $LOG/slurmd.log"
tail -n 5 "$LOG/slurmctld.log" "$LOG/slurmd.log" 2>/dev/null || true
exit 1
