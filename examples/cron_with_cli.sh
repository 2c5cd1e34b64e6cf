#!/usr/bin/env bash
# Cron-style work on the leader only, with the `leaselect run` CLI.
#
# Run this on every host (as a systemd service, say): every copy campaigns, only the leader runs
# the periodic command, and when the leader dies or loses its lease, the command is stopped by
# the local deadline and another host's copy starts it. The command gets the fencing token in
# $LEASELECT_TOKEN: pass it to whatever it writes to.
# (A crontab line `leaselect run --once NAME -- CMD` on every host would NOT do: the hosts that
# lose the race wait, and each runs CMD in turn once the previous one releases.)
#
# Run: LEASELECT_URL=STORE_URL INTERVAL=SECONDS bash examples/cron_with_cli.sh
set -euo pipefail
export LEASELECT_URL="${LEASELECT_URL:-sqlite:///${TMPDIR:-/tmp}/leaselect-cron-example.db}"
exec leaselect run --ttl "${TTL:-5}" nightly-report -- sh -c '
    while :; do
        echo "report ran with fencing token $LEASELECT_TOKEN (pid $$)"
        sleep "$0"
    done' "${INTERVAL:-60}"
