package rollout

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Builders that keep test strategies short.

func stage(name string, groups ...fleetv1.UpdateGroup) fleetv1.UpdateStage {
	return fleetv1.UpdateStage{Name: name, Groups: groups}
}

func group(name string) fleetv1.UpdateGroup { return fleetv1.UpdateGroup{Name: name} }

func count(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }

func percent(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }

func selector(kv ...string) *metav1.LabelSelector {
	ls := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		ls.MatchLabels[kv[i]] = kv[i+1]
	}
	return ls
}

func strategyOf(stages ...fleetv1.UpdateStage) fleetv1.UpdateStrategySpec {
	return fleetv1.UpdateStrategySpec{Stages: stages}
}

// fleetOf makes n members of a group, named <group>-<i>.
func fleetOf(groupName string, n int) []*fakeMember {
	var out []*fakeMember
	for i := 0; i < n; i++ {
		out = append(out, member(fmt.Sprintf("%s-%02d", groupName, i), groupName))
	}
	return out
}

func concat(lists ...[]*fakeMember) []*fakeMember {
	var out []*fakeMember
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func approval() fleetv1.GateConfig { return fleetv1.GateConfig{Type: fleetv1.GateApproval} }

func scheduled(startTime string, days ...string) fleetv1.GateConfig {
	return fleetv1.GateConfig{Type: fleetv1.GateScheduledStart, Schedule: &fleetv1.GateSchedule{StartTime: startTime, DaysOfWeek: days}}
}

func check(name string, runAfter fleetv1.HealthCheckRunAfter) fleetv1.HealthCheck {
	return fleetv1.HealthCheck{Name: name, Type: fleetv1.CheckNodesReady, RunAfter: runAfter, TimeoutSeconds: 60}
}
