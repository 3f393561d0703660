#!/bin/bash
# Runs an experiment as a Slurm job array, one task per shard, then merges the shards:
#
#   scripts/slurm/submit.sh experiments/big.ron 32 4    # FILE, SHARDS, CPUS per task (default 4)
#
# Submit from a directory that every node shares: the tasks write shards/shard-I-of-N.json
# there, and the merge job, which starts once every task has succeeded, writes results/
# (report.json, CSVs, plots). `stacksim` must be on the PATH the jobs inherit.
set -euo pipefail
file=$1 shards=$2 cpus=${3:-4}
array=$(sbatch --parsable --array=0-$((shards - 1)) --cpus-per-task="$cpus" \
    "$(dirname "$0")/shard.sbatch" "$file" "$shards")
array=${array%%;*}
merge=$(sbatch --parsable --dependency=afterok:"$array" --job-name=stacksim-merge \
    --output=slurm-%j.out --wrap "stacksim merge shards/ --out results/")
echo "shards: job $array"
echo "merge: job ${merge%%;*}"
