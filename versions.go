// Package flotilla holds facts about the repository that the Go code and the
// build scripts share.
package flotilla

import _ "embed"

// ToolVersions is hack/versions.env: the versions of the tools hack/tools.sh
// builds (kube-apiserver, etcd, kwok, controller-gen, golangci-lint, ...).
//
//go:embed hack/versions.env
var ToolVersions string
