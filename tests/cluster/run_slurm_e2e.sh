#!/usr/bin/env bash
# End-to-end test of profiles/slurm on a throwaway single-node SLURM cluster (this machine).
# Runs the workflow through SLURM, checks with sacct that every job ran as a SLURM job,
# runs the same config locally and checks that the metrics are identical. Needs root
# (apt-get, daemons) on Debian/Ubuntu; not part of pytest. See tests/cluster/README.md.
#
#   tests/cluster/run_slurm_e2e.sh [CONFIG]      CONFIG: default config/quick.yaml
#
# Environment: MINARCH_DATA_MIRROR (default ../shared/data beside the repo), VENV (default
# .venv), SLURM_E2E_ACCOUNTING=slurmdbd (default: MariaDB + slurmdbd, so plain `sacct`
# works as on a real cluster) or jobcomp (no database: the plugin polls squeue and the check
# reads the job-completion file with `sacct --completion`), KEEP=1 keeps the temp dir.
set -euo pipefail
{ # one compound command: bash reads it whole, so editing this file mid-run is safe

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CONFIG=${1:-config/quick.yaml}
[[ -f $CONFIG ]] || CONFIG=$REPO/$CONFIG
[[ -f $CONFIG ]] || { echo "no config file: ${1:-config/quick.yaml}" >&2; exit 2; }
CONFIG=$(realpath "$CONFIG")
VENV=${VENV:-$REPO/.venv}
export MINARCH_DATA_MIRROR=${MINARCH_DATA_MIRROR:-$(realpath -m "$REPO/../shared/data")}
ACCOUNTING=${SLURM_E2E_ACCOUNTING:-slurmdbd}
[[ $ACCOUNTING == slurmdbd || $ACCOUNTING == jobcomp ]] || { echo "SLURM_E2E_ACCOUNTING: slurmdbd or jobcomp" >&2; exit 2; }
# The jobstep strips SLURM_* variables before srun, so SLURM_CONF cannot point elsewhere:
# the config must sit at the default path. A file there that we did not write is a real
# cluster's: leave it alone.
SLURM_CONF_PATH=/etc/slurm/slurm.conf
MARK="# written by minarch tests/cluster/run_slurm_e2e.sh; safe to delete"
PORTS=(26817 26818 26819 23306) # slurmctld slurmd slurmdbd mariadb: off the default ports

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "FAIL: $*" >&2; exit 1; }
declare -A PHASE_SECONDS=()
PHASES=()
phase_start() { PHASE=$1; PHASE_T0=$SECONDS; log "== $PHASE"; }
phase_end() {
    PHASE_SECONDS[$PHASE]=$((SECONDS - PHASE_T0)); PHASES+=("$PHASE")
    log "== $PHASE: $((SECONDS - PHASE_T0)) s"
}

[[ $(id -u) == 0 ]] || die "needs root (apt-get, munged, slurmctld, slurmd)"
[[ -x $VENV/bin/snakemake ]] || die "no venv with snakemake at $VENV (set VENV)"
[[ -d $MINARCH_DATA_MIRROR ]] || die "no data mirror at $MINARCH_DATA_MIRROR (set MINARCH_DATA_MIRROR)"
if [[ -e $SLURM_CONF_PATH ]] && ! head -1 "$SLURM_CONF_PATH" | grep -qF "$MARK"; then
    die "$SLURM_CONF_PATH exists and is not ours: refusing to run on a configured SLURM host"
fi
for port in "${PORTS[@]}"; do
    ! ss -Hltn "sport = :$port" | grep -q . || die "port $port is in use (a previous run still up?)"
done

T=$(mktemp -d /tmp/minarch-slurm-e2e.XXXXXX)
S=$T/slurm # daemons' state, logs, sockets
OK=0

cleanup() {
    set +e
    if [[ -f $S/run/slurmctld.pid ]]; then
        scancel --partition=e2e 2>/dev/null
        for _ in $(seq 20); do [[ -z $(squeue -h -p e2e 2>/dev/null) ]] && break; sleep 1; done
    fi
    for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
        pidfile=$S/run/$daemon.pid
        [[ -f $pidfile ]] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null
    done
    if [[ -e $SLURM_CONF_PATH ]] && head -1 "$SLURM_CONF_PATH" | grep -qF "$MARK"; then
        rm -f "$SLURM_CONF_PATH"
    fi
    if [[ $OK == 1 && ${KEEP:-0} != 1 ]]; then
        rm -rf "$T"
    else
        log "kept $T (daemon logs in $S/log, workflow logs in $T/*.log)"
    fi
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

# ---------------------------------------------------------------- install
phase_start "install"
packages=(slurm-wlm munge)
[[ $ACCOUNTING == slurmdbd ]] && packages+=(slurmdbd mariadb-server)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "slurm $(dpkg-query -W -f='${Version}' slurm-wlm), $(munged --version 2>&1 | head -1), plugin $("$VENV/bin/python" -c \
    'from importlib.metadata import version as v; print(v("snakemake-executor-plugin-slurm"))'), snakemake $("$VENV/bin/snakemake" --version)"
phase_end

# ---------------------------------------------------------------- daemons
phase_start "start cluster ($ACCOUNTING)"
mkdir -p "$S"/{key,run,log,state,spool}
chmod 755 "$T" "$S" "$S/run" # munged wants its socket's directory world-executable
chmod 700 "$S/key"
mungekey --create --keyfile="$S/key/munge.key"
munged --socket="$S/run/munge.sock" --key-file="$S/key/munge.key" --pid-file="$S/run/munged.pid" \
    --seed-file="$S/key/munged.seed" --log-file="$S/log/munged.log"
munge --socket="$S/run/munge.sock" -n | unmunge --socket="$S/run/munge.sock" >/dev/null || die "munge does not work"

# The machine's real CPUs and memory, under the name localhost.
node=$(slurmd -C | head -1 | sed -E 's/^NodeName=[^ ]+/NodeName=localhost NodeAddr=127.0.0.1/')
if [[ $ACCOUNTING == slurmdbd ]]; then
    accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=${PORTS[2]}
AccountingStoragePass=$S/run/munge.sock
JobAcctGatherType=jobacct_gather/linux"
else
    # No database: plain sacct answers "accounting storage is disabled"; `sacct --completion`
    # reads the jobcomp file. Finished jobs stay visible to squeue for MinJobAge seconds.
    accounting="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600"
fi
cat >"$SLURM_CONF_PATH" <<EOF
$MARK
# state under $S
ClusterName=minarch-e2e
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/run/munge.sock
SlurmctldPort=${PORTS[0]}
SlurmdPort=${PORTS[1]}
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
# no systemd or cgroup delegation in a container: track processes through /proc
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobCompType=jobcomp/filetxt
JobCompLoc=$S/log/jobcomp.txt
$accounting
$node State=UNKNOWN
PartitionName=e2e Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

if [[ $ACCOUNTING == slurmdbd ]]; then
    mkdir -p "$S/mysql"
    mariadb-install-db --no-defaults --user=root --datadir="$S/mysql" --auth-root-authentication-method=normal \
        --skip-test-db >"$S/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed: $S/log/mariadb-install.log"
    mariadbd --no-defaults --user=root --datadir="$S/mysql" --socket="$S/run/mysqld.sock" \
        --pid-file="$S/run/mariadbd.pid" --port="${PORTS[3]}" --bind-address=127.0.0.1 --skip-name-resolve \
        --innodb-use-native-aio=0 --innodb-lock-wait-timeout=900 --log-error="$S/log/mariadb.log" \
        </dev/null >/dev/null 2>&1 &
    for _ in $(seq 60); do mariadb-admin --no-defaults --socket="$S/run/mysqld.sock" -uroot ping >/dev/null 2>&1 && break; sleep 1; done
    db_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mariadb --no-defaults --socket="$S/run/mysqld.sock" -uroot -e "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY
        '$db_password'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "MariaDB is not up: $S/log/mariadb.log"
    cat >"$S/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$S/run/munge.sock
DbdHost=localhost
DbdPort=${PORTS[2]}
SlurmUser=root
PidFile=$S/run/slurmdbd.pid
LogFile=$S/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=${PORTS[3]}
StorageUser=slurm
StoragePass=$db_password
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$S/slurmdbd.conf"
    SLURM_CONF=$S/slurm.conf slurmdbd # reads slurmdbd.conf beside SLURM_CONF
    for _ in $(seq 60); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 1; done
    sacctmgr -i add cluster minarch-e2e >/dev/null || die "slurmdbd does not answer: $S/log/slurmdbd.log"
fi

slurmctld
slurmd -N localhost
for _ in $(seq 60); do [[ $(sinfo -h -n localhost -o %t 2>/dev/null) == idle ]] && break; sleep 1; done
[[ $(sinfo -h -n localhost -o %t) == idle ]] || die "node not idle: $(sinfo -h -N); see $S/log"
sinfo -N -o "%N %t %c CPUs %m MB"
smoke=$(sbatch --parsable --wait -c 1 --mem 100 -t 2 -D "$T" -o "$T/smoke.out" --wrap "srun true") ||
    die "a one-line sbatch + srun job failed: $(cat "$T/smoke.out" 2>/dev/null)"
log "smoke job $smoke ran"
phase_end

# ---------------------------------------------------------------- workflow via SLURM
# Two copies of the working tree taken now, so that edits to the checkout during the test
# reach neither run; PYTHONPATH makes both (and every SLURM job: sbatch --export=ALL) import
# minarch from the copy instead of the venv's editable install.
copy_tree() {
    mkdir -p "$1"
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
        { tar --null --ignore-failed-read -T - -cf - 2>/dev/null; (($? <= 1)); }) | tar -xf - -C "$1"
}
copy_tree "$T/run-slurm"
cp -r "$T/run-slurm" "$T/run-local"
cp "$CONFIG" "$T/config.yaml"
export PATH=$VENV/bin:$PATH
unset SLURM_CONF

run_workflow() { # dir logfile snakemake-args...: full log to the file, progress to the terminal
    local dir=$1 logfile=$2; shift 2
    # On Ctrl-C only Snakemake acts (it scancels its jobs); tee keeps logging meanwhile.
    (cd "$dir" && PYTHONPATH=$dir/src${PYTHONPATH:+:$PYTHONPATH} snakemake "$@" --configfile "$T/config.yaml") 2>&1 |
        tee -i -p "$logfile" | { trap '' INT; grep --line-buffered -E '^[0-9]+ of [0-9]+ steps|rror in rule' || true; }
}

phase_start "workflow through SLURM"
slurm_args=(--profile "$T/run-slurm/profiles/slurm")
[[ $ACCOUNTING == jobcomp ]] && slurm_args+=(--slurm-status-command squeue)
since=$(date +%Y-%m-%dT%H:%M:%S)
run_workflow "$T/run-slurm" "$T/slurm.log" "${slurm_args[@]}" || die "SLURM run failed: $T/slurm.log"
phase_end

phase_start "check jobs with sacct"
run_id=$(sed -n 's/.*SLURM run ID: //p' "$T/slurm.log" | head -1)
[[ -n $run_id ]] || die "no 'SLURM run ID' in $T/slurm.log: did the slurm executor run?"
sed -n 's/.*has been submitted with SLURM jobid \([0-9]*\).*/\1/p' "$T/slurm.log" | sort -n >"$T/submitted.txt"
n_remote=$(grep -cE '^rule [A-Za-z0-9_]+:$' "$T/slurm.log" || true)
n_local=$(grep -cE '^localrule [A-Za-z0-9_]+:$' "$T/slurm.log" || true)
if [[ $ACCOUNTING == slurmdbd ]]; then
    sacct -X -n -P -S "$since" -E now --name "$run_id" -o JobIDRaw,JobName,State,NCPUS,ReqMem,Timelimit >"$T/sacct.txt"
else
    sacct --completion -n -P -S "$since" -E now -o JobIDRaw,JobName,State,NCPUS,ReqMem,Timelimit |
        awk -F'|' -v name="$run_id" '$2 == name' >"$T/sacct.txt"
fi
awk -F'|' '$3 == "COMPLETED" {print $1}' "$T/sacct.txt" | sort -n >"$T/completed.txt"
log "Snakemake: $n_remote jobs run remotely, $n_local locally; $(wc -l <"$T/submitted.txt") sbatch submissions"
log "sacct (${ACCOUNTING}): $(wc -l <"$T/sacct.txt") jobs named $run_id: $(cut -d'|' -f3 "$T/sacct.txt" | sort | uniq -c | xargs)"
log "requests (count CPUs|mem|time limit): $(cut -d'|' -f4- "$T/sacct.txt" | sort | uniq -c | xargs)"
((n_remote > 0)) || die "Snakemake ran no job remotely"
[[ $(wc -l <"$T/submitted.txt") == "$n_remote" ]] || die "$n_remote remote jobs but $(wc -l <"$T/submitted.txt") submissions"
cmp -s "$T/submitted.txt" "$T/completed.txt" ||
    die "submitted SLURM jobs and COMPLETED ones in sacct differ: $(diff "$T/submitted.txt" "$T/completed.txt" | head | xargs)"
log "every job Snakemake ran remotely is a COMPLETED SLURM job"
phase_end

# ---------------------------------------------------------------- same config locally
phase_start "workflow locally (--cores $(nproc))"
run_workflow "$T/run-local" "$T/local.log" --cores "$(nproc)" || die "local run failed: $T/local.log"
phase_end

phase_start "compare outputs"
"$VENV/bin/python" - "$T/run-slurm/results" "$T/run-local/results" <<'PY' || die "outputs differ"
"""Every Parquet table and CSV under results/ must be equal in both runs, except columns
that measure time (seconds, *_seconds, …)."""
import sys
from pathlib import Path

import pandas as pd

slurm, local = map(Path, sys.argv[1:])
timing = lambda c: "second" in c or c in {"time", "elapsed", "duration"} or c.endswith("_time")
files = sorted(p.relative_to(local) for p in local.rglob("*") if p.suffix in {".parquet", ".csv"}
               and not {"benchmarks", "logs"} & set(p.relative_to(local).parts))
other = sorted(p.relative_to(slurm) for p in slurm.rglob("*") if p.suffix in {".parquet", ".csv"}
               and not {"benchmarks", "logs"} & set(p.relative_to(slurm).parts))
if files != other:
    sys.exit(f"different files: only SLURM {sorted(set(other) - set(files))}, only local {sorted(set(files) - set(other))}")
bad, ignored = [], set()
for name in files:
    read = pd.read_parquet if name.suffix == ".parquet" else pd.read_csv
    a, b = read(slurm / name), read(local / name)
    drop = [c for c in a.columns if timing(c)]
    ignored.update(drop)
    try:
        pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop, errors="ignore"), check_exact=True)
    except AssertionError as error:
        bad.append(f"{name}: {str(error).splitlines()[0:3]}")
collected = [f for f in files if f.parts[0] == "collected"]
print(f"{len(files)} tables compared ({len(collected)} in collected/, table1.csv included: "
      f"{Path('table1.csv') in files}); time columns ignored: {sorted(ignored)}")
if bad:
    sys.exit("differ:\n  " + "\n  ".join(bad))
print("identical")
PY
phase_end

OK=1
log "PASS ($ACCOUNTING, config $CONFIG)"
for p in "${PHASES[@]}"; do printf '  %-34s %5d s\n' "$p" "${PHASE_SECONDS[$p]}"; done
printf '  %-34s %5d s\n' "total" "$SECONDS"
exit 0
}
