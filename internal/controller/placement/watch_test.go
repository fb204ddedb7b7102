package placement

import (
	"slices"
	"sort"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

func TestResourceWatchesWakeTheRightPlacements(t *testing.T) {
	w := newResourceWatches(nil)
	roles := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	quotas := schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}
	// Not started yet: tracking only records, it starts nothing.
	onlyFintechRole := func(name string, _ map[string]string) bool { return name == "fintech-readonly" }
	w.track("roles", []schema.GroupVersionResource{roles}, nil, onlyFintechRole)
	w.track("all-roles", []schema.GroupVersionResource{roles}, nil, nil)
	w.track("fintech", []schema.GroupVersionResource{quotas}, []string{"fintech"}, nil)
	w.track("other", []schema.GroupVersionResource{quotas}, []string{"other"}, nil)
	if len(w.pending) != 2 {
		t.Fatalf("pending informers %v", w.pending)
	}

	obj := func(ns, name string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	woken := func() []string {
		var out []string
		for len(w.wake) > 0 {
			out = append(out, (<-w.wake).Object.GetName())
		}
		sort.Strings(out)
		return out
	}
	cases := []struct {
		gvr  schema.GroupVersionResource
		obj  any
		want []string
	}{
		{roles, obj("", "fintech-readonly"), []string{"all-roles", "roles"}},
		// A cluster-scoped object its selectors do not match leaves a placement asleep.
		{roles, obj("", "unrelated"), []string{"all-roles"}},
		{quotas, obj("fintech", "platform-quota"), []string{"fintech"}},
		{quotas, cache.DeletedFinalStateUnknown{Obj: obj("other", "q")}, []string{"other"}},
		{quotas, obj("elsewhere", "q"), nil},
	}
	for _, tc := range cases {
		w.changed(tc.gvr, tc.obj)
		if got := woken(); !slices.Equal(got, tc.want) {
			t.Errorf("%s %v woke %v, want %v", tc.gvr.Resource, tc.obj, got, tc.want)
		}
	}
	if w.changeCount("fintech") != 1 || w.changeCount("roles") != 1 || w.changeCount("all-roles") != 2 {
		t.Errorf("change counts %v", w.changes)
	}
	w.forget("fintech")
	w.changed(quotas, obj("fintech", "platform-quota"))
	if got := woken(); len(got) != 0 {
		t.Errorf("a forgotten placement was woken: %v", got)
	}
}
