#!/bin/bash
# Runs a queue file's commands one at a time, first line first, until the queue is empty.
#
#   experiments/queue_worker.sh QUEUE NAME [AFTER_PID] >> NAME.log 2>&1 &
#
# Several workers can share one queue (two on a 2-core machine): each line is taken under a lock
# (QUEUE.lock), so it runs once. Edit the queue while they run: a line put at the top runs next;
# blank lines and lines starting with # are skipped. Each command runs with bash from the
# directory the worker started in, and the worker logs "=== HH:MM NAME START|EXIT rc: line".
#
# A worker notes the line it is running in QUEUE.NAME.running. Stopped part-way (a killed session,
# a reboot), a worker started again under the same NAME runs that line again before taking a new
# one: mimic_keras's training and sweeps resume from their last finished epoch, so the rerun
# continues the run rather than repeating it. With AFTER_PID the worker first waits for that
# process to exit (never pass 1: init never exits).
set -u
usage="usage: queue_worker.sh QUEUE NAME [AFTER_PID]"
QUEUE=${1:?$usage}
NAME=${2:?$usage}
AFTER=${3:-}
RUNNING="$QUEUE.$NAME.running"
[ -f "$QUEUE" ] || { echo "no queue file $QUEUE" >&2; exit 2; }
if [ -n "$AFTER" ]; then
  [ "$AFTER" = 1 ] && { echo "AFTER_PID 1 is init, which never exits" >&2; exit 2; }
  while kill -0 "$AFTER" 2>/dev/null; do sleep 30; done
fi

# the next command (the interrupted one first), noted in $RUNNING; status 1 when the queue is empty
take() {
  if [ -s "$RUNNING" ]; then
    cat "$RUNNING"
    return 0
  fi
  flock "$QUEUE.lock" bash -c '
    while [ -s "$1" ]; do
      line=$(head -n 1 "$1"); sed -i 1d "$1"
      trimmed="${line#"${line%%[![:space:]]*}"}"
      if [ -n "$trimmed" ] && [ "${trimmed:0:1}" != "#" ]; then
        printf "%s\n" "$line" > "$2"; printf "%s\n" "$line"; exit 0
      fi
    done
    exit 1' _ "$QUEUE" "$RUNNING"
}

while line=$(take); do
  echo "=== $(date -u +%H:%M) $NAME START: $line"
  bash -c "$line"
  rc=$?
  rm -f "$RUNNING"
  echo "=== $(date -u +%H:%M) $NAME EXIT $rc: $line"
done
echo "=== $(date -u +%H:%M) $NAME QUEUE EMPTY"
