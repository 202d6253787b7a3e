#!/usr/bin/env bash
# The nightly workflow's last step, run on every outcome: deletes every kind cluster on the
# runner and fails if Docker objects labelled by kind remain.
set -uo pipefail
for cluster in $(kind get clusters 2>/dev/null); do
  echo "deleting kind cluster $cluster"
  kind delete cluster --name "$cluster"
done
left="$(docker ps --all --filter label=io.x-k8s.kind.cluster --format '{{.Names}}'; docker volume ls --filter label=io.x-k8s.kind.cluster --format '{{.Name}}')"
if [ -n "$left" ]; then
  echo "leftover Docker objects labelled by kind:"
  echo "$left"
  exit 1
fi
