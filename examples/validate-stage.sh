#!/bin/bash
# The operator's stage-validation script, as a Flotilla Command health check.
# Flotilla runs it with KUBECONFIG pointing at the member, so the
# `az aks get-credentials` line of the original is not needed; the arguments
# are the member and the stage, also in $CLUSTER and $STAGE.
CLUSTER=${1:-$CLUSTER}
STAGE=${2:-$STAGE}

echo "=== Validating stage: $STAGE ==="

# Check node readiness. (The original's nested jsonpath filter,
# {.items[?(@.status.conditions[?(@.type=="Ready")].status!="True")]...}, is
# refused by kubectl as an "unterminated filter"; with its error ignored the
# check always passed. This form lists each node with its Ready status.)
NOT_READY=$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | awk '$2 != "True" {print $1}' | xargs)
if [ -n "$NOT_READY" ]; then
  echo "FAIL: NotReady nodes: $NOT_READY"
  exit 1
fi

# Check pod health
FAILED=$(kubectl get pods --all-namespaces --field-selector=status.phase=Failed -o json | jq '.items | length')
if [ "$FAILED" -gt 0 ]; then
  echo "FAIL: $FAILED failed pods detected"
  exit 1
fi

echo "PASS: Stage validation successful"
