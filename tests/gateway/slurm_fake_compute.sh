#!/bin/bash
# slurm_fake_compute.sh - stand-in for pi-compute in test_sched_slurm, run by slurm/pi.sbatch
# under a real Slurm: records its arguments, then behaves as --digits asks:
# 1 exits 0, 2 exits 3 (a failed compute), 3 sleeps (for cancel and time limit tests).
digits='' id=''
args=("$@")
while [ $# -gt 0 ]; do
	case "$1" in
	--digits) digits=$2; shift ;;
	--job-id) id=$2; shift ;;
	esac
	shift
done
dir=${PICLUSTER_TEST_FAKE_DIR:?}
printf '%s\n' "${args[*]}" >"$dir/$id.args.tmp"
mv "$dir/$id.args.tmp" "$dir/$id.args"
case "$digits" in
1) exit 0 ;;
2) exit 3 ;;
3)
	sleep 600 &
	echo "$!" >"$dir/$id.pid.$SLURM_PROCID.tmp"
	mv "$dir/$id.pid.$SLURM_PROCID.tmp" "$dir/$id.pid.$SLURM_PROCID"
	wait
	;;
*) exit 2 ;;
esac
