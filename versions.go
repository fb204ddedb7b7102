// Package flotilla holds facts about the repository that the Go code and the
// build scripts share.
package flotilla

import _ "embed"

// ToolVersions is hack/versions.env: the versions of kube-apiserver, etcd,
// kwok and controller-gen that hack/tools.sh builds and local fleets run.
//
//go:embed hack/versions.env
var ToolVersions string
