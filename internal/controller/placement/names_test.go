package placement

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestBindingNamesDoNotCollide(t *testing.T) {
	pairs := [][2]string{
		{"app", "eu-1"}, {"app-eu", "1"}, {"app-eu-1", ""}, {"", "app-eu-1"},
		{"a.b", "c"}, {"a", "b.c"},
		{strings.Repeat("p", 63), strings.Repeat("m", 63)},
		{strings.Repeat("p", 200), strings.Repeat("m", 100)},
		{strings.Repeat("p", 200), strings.Repeat("m", 101)},
		{strings.Repeat("p", 240) + ".", "x"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		name := bindingName(p[0], p[1])
		if other, ok := seen[name]; ok {
			t.Errorf("%v and %v are both %s", p, other, name)
		}
		seen[name] = p
		if p[0] == "" || p[1] == "" {
			continue // not a real pair, only there to collide
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("%v: %s is not a valid name: %v", p, name, errs)
		}
		if bindingName(p[0], p[1]) != name {
			t.Errorf("%v: not deterministic", p)
		}
	}
	if got := bindingName("app", "eu-1"); !strings.HasPrefix(got, "app-eu-1-") || len(got) != len("app-eu-1-")+pairHashLength {
		t.Errorf("a short pair keeps its readable name: %s", got)
	}
}

func TestSnapshotNamesSplitOneWay(t *testing.T) {
	seen := map[string]string{}
	for _, p := range []string{"app", "app-1", "app-1-0", "app-10", "a"} {
		for _, i := range []int32{0, 1, 10, 100} {
			name := snapshotName(p, i)
			if other, ok := seen[name]; ok {
				t.Errorf("%s/%d and %s are both %s", p, i, other, name)
			}
			seen[name] = p
		}
	}
}
