#!/bin/sh
# start_fault_compute.sh: stands in for pi-compute (as BIN/pi-compute beside a copy of
# pi-gateway) and fails the start of chosen jobs, before the compute reports `running`:
#   --digits 1234  the first start of each job only writes $PICLUSTER_TEST_MARKERS/<job id>
#                  and waits to be killed; later starts run the real compute
#   --digits 4242  every start is killed by SIGKILL at once
#   --digits 4343  every start exits 3 at once
#   anything else  runs the real compute ($PICLUSTER_TEST_REAL_COMPUTE) unchanged
set -eu
job='' digits='' prev=''
for arg in "$@"; do
	case "$prev" in
	--job-id) job=$arg ;;
	--digits) digits=$arg ;;
	esac
	prev=$arg
done
case "$digits" in
4242) kill -9 $$ ;;
4343) exit 3 ;;
1234)
	marker="$PICLUSTER_TEST_MARKERS/$job"
	if [ ! -e "$marker" ]; then
		echo $$ >"$marker"
		exec sleep 300
	fi
	;;
esac
exec "$PICLUSTER_TEST_REAL_COMPUTE" "$@"
