#!/usr/bin/env bash
# `make demo`: a local fleet of real API servers, shown through the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
flotilla=bin/flotilla
config=${DEMO_CONFIG:-examples/fleet-two-groups.yaml}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Starting a local fleet from $config (a hub and three members, each a real kube-apiserver + etcd, nodes simulated by kwok)"
$flotilla local up --config "$config"

step "Waiting for the hub's first heartbeat from every member"
for _ in $(seq 1 60); do
  healthy=$($flotilla status -o json | grep -c '"health": "Healthy"' || true)
  [ "$healthy" -ge 3 ] && break
  sleep 0.5
done

step "flotilla member list"
$flotilla member list
step "flotilla status"
$flotilla status

cat <<'HINT'

Try next:
  bin/flotilla member show -n dev-1          # versions, nodes, conditions
  bin/flotilla status -o yaml                 # the same, for scripts
  bin/flotilla local status                   # the local clusters, ports and processes
  kill -STOP <apiserver pid of a member>      # watch it turn Unreachable in `bin/flotilla status`

Tear down with:  make demo-down   (or bin/flotilla local down)
HINT
