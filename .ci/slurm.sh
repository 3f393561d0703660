#!/usr/bin/env bash
# The README's Slurm recipe, run on a real scheduler. It starts a one-node Slurm cluster on
# localhost (munged, slurmctld and slurmd, with a generated munge key and their own
# configuration in a temporary directory), submits scripts/slurm/submit.sh (a job array of
# shards, then a merge that depends on it), and requires the merged report.json to equal a local
# run's byte for byte. Then it deletes one shard: `stacksim merge` must name it by index; it is
# re-run alone with `sbatch --array=K` and the new merge must match again. The daemons it
# started are stopped on exit, whatever happens; every wait has a deadline.
#
#   bash .ci/slurm.sh [FILE [SHARDS]]      (default: experiments/quickstart.ron, 4 shards)
#
# Needs root and Debian's slurm-wlm and munge (installed with apt-get when absent). Where they
# cannot be had it says why and skips, except when CI is set: then it fails instead.
# SLURM_TEST_PORT (default 16817) and the port after it must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
file=$(realpath "${1:-experiments/quickstart.ron}")
shards=${2:-4}
port=${SLURM_TEST_PORT:-16817}
export PATH=$PATH:/usr/sbin:/sbin
started=$SECONDS

skip() {
    if [[ -n ${CI:-} ]]; then
        echo "slurm test: $1; CI is set, so this is a failure, not a skip" >&2
        exit 1
    fi
    echo "slurm test skipped: $1" >&2
    exit 0
}

# --- Slurm and munge ---------------------------------------------------------------------------
have_slurm() {
    local command
    for command in munged munge unmunge slurmctld slurmd sbatch scontrol sinfo scancel; do
        command -v "$command" >/dev/null || return 1
    done
}
if ! have_slurm; then
    [[ $(id -u) == 0 ]] || skip "slurm-wlm and munge are not installed, and installing them needs root"
    command -v apt-get >/dev/null || skip "slurm-wlm and munge are not installed, and there is no apt-get"
    echo "== installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -q
    timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -q slurm-wlm munge
fi
[[ $(id -u) == 0 ]] || skip "starting slurmd needs root"

echo "== building stacksim (release)"
cargo build --release -q -p stacksim-cli
bin=${CARGO_TARGET_DIR:-$repo/target}/release
[[ -x $bin/stacksim ]] || { echo "no release binary at $bin/stacksim" >&2; exit 1; }
export PATH=$bin:$PATH

# --- a one-node cluster in a temporary directory ------------------------------------------------
work=$(mktemp -d -t stacksim-slurm.XXXXXX)
pids=()
cleanup() {
    local status=$?
    set +e
    if [[ $status != 0 && -d $work ]]; then
        for log in "$work"/*.log "$work"/*.stderr "$work"/run/slurm-*.out; do
            # slurmctld's stderr repeats its log, but has what it said before opening it.
            [[ $log == *.stderr && -s ${log%.stderr}.log ]] && continue
            [[ -f $log ]] && { echo "--- $log (last 30 lines)"; tail -n 30 "$log"; }
        done
    fi
    [[ -n ${SLURM_CONF:-} ]] && timeout 10 scancel --quiet --user=root 2>/dev/null
    # Stop the daemons this script started, newest first: TERM, then KILL after 10 s.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$work"
    echo "slurm test: $([[ $status == 0 ]] && echo passed || echo FAILED) in $((SECONDS - started)) s"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

for p in "$port" $((port + 1)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "port $p is in use: set SLURM_TEST_PORT to a free pair of ports" >&2
        exit 1
    fi
done

echo "== starting munged, slurmctld, slurmd in $work"
t0=$SECONDS
mkdir -p "$work"/{state,spool,run}
chmod 0755 "$work" # munged's socket is in it
head -c 1024 /dev/urandom >"$work/munge.key"
chmod 0400 "$work/munge.key"
munged --foreground --force --key-file="$work/munge.key" --socket="$work/munge.sock" \
    --pid-file="$work/munged.pid" --log-file="$work/munged.log" --seed-file="$work/munged.seed" \
    >>"$work/munged.log" 2>&1 &
pids+=($!)
deadline=$((SECONDS + 20))
until munge -n -S "$work/munge.sock" 2>/dev/null | unmunge -S "$work/munge.sock" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "munged did not start within 20 s" >&2; exit 1; }
    sleep 0.2
done

# The node as slurmd sees this machine (its CPUs, sockets, cores, memory), named localhost.
node=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]*/NodeName=localhost NodeAddr=127.0.0.1/; s/ UpTime=.*//')
cat >"$work/slurm.conf" <<EOF
ClusterName=stacksim-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge.sock
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
$node State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf
slurmctld -D -c -f "$SLURM_CONF" >>"$work/slurmctld.stderr" 2>&1 &
pids+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >>"$work/slurmd.log" 2>&1 &
pids+=($!)
deadline=$((SECONDS + 60))
until [[ $(timeout 10 sinfo -h -n localhost -o %t 2>/dev/null) == idle ]]; do
    ((SECONDS < deadline)) || { echo "the node did not come up within 60 s" >&2; timeout 10 sinfo -N -l; exit 1; }
    sleep 0.5
done
echo "$node: up in $((SECONDS - t0)) s"

# Waits until job $1 (every task of an array) has ended, for at most $2 seconds; fails unless
# every task COMPLETED.
wait_for() {
    local job=$1 deadline=$((SECONDS + $2)) info states
    while :; do
        info=$(timeout 10 scontrol -o show job "$job")
        states=$(grep -o 'JobState=[A-Z_]*' <<<"$info" | sort -u | cut -d= -f2 | tr '\n' ' ')
        case " $states" in
        " COMPLETED ") return 0 ;;
        *" PENDING "* | *" RUNNING "* | *" CONFIGURING "* | *" COMPLETING "*)
            if grep -q 'Reason=DependencyNeverSatisfied' <<<"$info"; then
                echo "job $job will never start: a job it depends on failed" >&2
                return 1
            fi
            ;;
        *)
            echo "job $job ended $states" >&2
            return 1
            ;;
        esac
        ((SECONDS < deadline)) || { echo "job $job did not end within $2 s" >&2; return 1; }
        sleep 0.5
    done
}

# --- the recipe ---------------------------------------------------------------------------------
cd "$work/run"
echo "== local run: stacksim run $file --out local/"
t0=$SECONDS
stacksim run "$file" --out local/ >/dev/null
echo "local run done in $((SECONDS - t0)) s"

echo "== scripts/slurm/submit.sh $file $shards 1"
t0=$SECONDS
submitted=$("$repo/scripts/slurm/submit.sh" "$file" "$shards" 1)
echo "$submitted"
merge_job=$(awk '/^merge:/ { print $3 }' <<<"$submitted")
wait_for "$merge_job" 300
echo "array of $shards shards and merge done in $((SECONDS - t0)) s"
cmp results/report.json local/report.json
cmp results/runs.csv local/runs.csv
cmp results/variants.csv local/variants.csv
echo "merged report.json equals the local run's, byte for byte"

# --- a lost shard, named by merge, re-run alone -------------------------------------------------
lost=$((shards / 2))
rm "shards/shard-$lost-of-$shards.json"
rm -r results
if stacksim merge shards/ --out results/ >/dev/null 2>merge.err; then
    echo "merge succeeded with shard $lost deleted" >&2
    exit 1
fi
cat merge.err
grep -qF "missing shard $lost of $shards" merge.err
grep -qF -- "--shard $lost/$shards" merge.err
grep -qF -- "--array=$lost" merge.err
[[ ! -e results/report.json ]]

echo "== sbatch --array=$lost --cpus-per-task=1 scripts/slurm/shard.sbatch $file $shards"
t0=$SECONDS
rerun=$(sbatch --parsable --array="$lost" --cpus-per-task=1 "$repo/scripts/slurm/shard.sbatch" "$file" "$shards")
wait_for "${rerun%%;*}" 300
stacksim merge shards/ --out results/ >/dev/null
echo "shard $lost re-run and merged in $((SECONDS - t0)) s"
cmp results/report.json local/report.json
echo "merged report.json equals the local run's again"
