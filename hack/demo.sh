#!/usr/bin/env bash
# `make demo`: a staged Kubernetes upgrade of a local fleet of real API
# servers, driven through the CLI as an operator would.
set -euo pipefail
cd "$(dirname "$0")/.."
flotilla=bin/flotilla
fleet=(--name demo)
export FLOTILLA_HUB_KUBECONFIG=${HOME}/.flotilla/local/demo/hub.kubeconfig

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "A local fleet: a hub and five members on Kubernetes 1.36, each a real kube-apiserver + etcd, nodes simulated by kwok"
run $flotilla local up "${fleet[@]}" --config examples/demo-fleet.yaml

step "Waiting for the hub's first heartbeat from every member"
for _ in $(seq 1 120); do
  [ "$($flotilla status -o json | grep -c '"health": "Healthy"' || true)" -ge 5 ] && break
  sleep 0.5
done
run $flotilla status

step "The seed's three stages as an update strategy, with health checks and an approval before the primaries"
run $flotilla updatestrategy create -n staged-rollout --stages examples/demo-strategy.yaml

step "The plan, then the run"
run $flotilla updaterun create -n k8s-1-37-rollout --upgrade-type Full --kubernetes-version 1.37 --update-strategy-name staged-rollout
run $flotilla updaterun start -n k8s-1-37-rollout

# The operator's approval: given once the primaries' gate is waiting.
(
  for _ in $(seq 1 600); do
    gate=$($flotilla gate list --state Pending -o json | sed -n 's/.*"name": "\(k8s-1-37-rollout-[^"]*\)".*/\1/p' | head -1)
    if [ -n "$gate" ]; then
      sleep 3
      $flotilla gate approve "$gate" >/dev/null
      exit 0
    fi
    sleep 0.5
  done
) &
approver=$!

step "Watching the run live (the demo approves the gate before the primaries when it opens)"
$flotilla updaterun watch -n k8s-1-37-rollout --timeout 10m || true
wait "$approver" 2>/dev/null || true

step "Every member on the new version"
sleep 6 # one heartbeat, so the status shows the new versions
run $flotilla status
run $flotilla updaterun list
run $flotilla gate list

cat <<'HINT'

Try next:
  export FLOTILLA_HUB_KUBECONFIG=~/.flotilla/local/demo/hub.kubeconfig
  bin/flotilla updaterun show -n k8s-1-37-rollout        # the run as a tree, with times
  bin/flotilla member show -n canary-eu                   # versions, nodes, conditions
  bin/flotilla local fault --name demo --member canary-eu --nodes-not-ready-after-upgrade
                                                          # rehearse a bad upgrade (on a fresh fleet)
Tear down with:  make demo-down
HINT
