package eks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// view is the cluster as `flotilla member show` prints it. EKS keeps no
// maintenance windows (it upgrades only when asked, apart from platform
// versions, which it rolls within a minor itself), so there are none.
func view(s snapshot, catalogue []clusterVersion) upgrade.MemberView {
	v := upgrade.MemberView{ControlPlaneVersion: s.Cluster.Version, State: s.Cluster.Status}
	if s.Cluster.PlatformVersion != "" {
		v.State += ", platform " + s.Cluster.PlatformVersion
	}
	var ops []string
	for _, u := range latestPerResource(s.Updates) {
		if u.Status == statusInProgress {
			ops = append(ops, fmt.Sprintf("update %s: %s, in progress", u.ID, describeUpdate(u)))
		}
	}
	v.Operation = strings.Join(ops, "; ")
	for _, o := range offeredVersions(s.Cluster.Version, catalogue) {
		if cmpMinor(o, s.Cluster.Version) > 0 {
			v.UpgradableVersions = append(v.UpgradableVersions, o)
		}
	}
	groups := slices.Clone(s.Nodegroups)
	slices.SortFunc(groups, func(a, b nodegroup) int { return strings.Compare(a.Name, b.Name) })
	for _, g := range groups {
		v.Pools = append(v.Pools, upgrade.PoolView{
			Name:              g.Name,
			OS:                amiOS(g.AMIType) + " (" + g.AMIType + ")",
			KubernetesVersion: g.Version,
			NodeImageVersion:  g.Release,
			Count:             g.Desired,
			MaxSurge:          updateConfig(g),
			State:             g.Status,
		})
	}
	return v
}

// updateConfig is a node group's updateConfig as EKS spells it: EKS
// upgrades a managed node group by taking at most maxUnavailable nodes (a
// count or a percentage) out at a time, not by surging.
func updateConfig(g nodegroup) string {
	var s string
	switch {
	case g.MaxUnavailable > 0:
		s = fmt.Sprintf("maxUnavailable %d", g.MaxUnavailable)
	case g.MaxUnavailablePercentage > 0:
		s = fmt.Sprintf("maxUnavailable %d%%", g.MaxUnavailablePercentage)
	}
	if g.UpdateStrategy != "" {
		if s != "" {
			s += ", "
		}
		s += "strategy " + g.UpdateStrategy
	}
	return s
}
