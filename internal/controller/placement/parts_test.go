package placement

import (
	"slices"
	"testing"
)

func TestSplitBySize(t *testing.T) {
	cases := []struct {
		name   string
		sizes  []int
		budget int
		want   []int
	}{
		{"nothing is one empty part", nil, 10, []int{0}},
		{"all fit", []int{3, 3, 3}, 10, []int{0}},
		{"exactly the budget fits", []int{5, 5}, 10, []int{0}},
		{"one more byte starts a part", []int{5, 6, 4}, 10, []int{0, 1}},
		{"an item over the budget is a part of its own", []int{2, 30, 2}, 10, []int{0, 1, 2}},
		{"in order, never reordered", []int{6, 6, 3, 6}, 10, []int{0, 1, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := splitBySize(tc.sizes, tc.budget); !slices.Equal(got, tc.want) {
				t.Errorf("splitBySize(%v, %d) = %v, want %v", tc.sizes, tc.budget, got, tc.want)
			}
		})
	}
}

func TestPartNames(t *testing.T) {
	if got := snapshotPartName("app", 3, 0); got != "app-3" {
		t.Errorf("part 0: %s", got)
	}
	if got := snapshotPartName("app", 3, 2); got != "app-3.2" {
		t.Errorf("part 2: %s", got)
	}
	if got := workPartName("app", 0); got != "app" {
		t.Errorf("Work part 0: %s", got)
	}
	if got := workPartName("app", 1); got != "app.1" {
		t.Errorf("Work part 1: %s", got)
	}
}
