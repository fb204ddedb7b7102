package placement

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	"github.com/flotilla-dev/flotilla/internal/placement/selection"
)

// selectionCache keeps each placement's last selection. Reading a selection
// lists every type in the selected namespaces; most reconciles are woken by
// Work status or members, not by the selected objects, and reuse it.
type selectionCache struct {
	mu    sync.Mutex
	byCRP map[string]cachedSelection
}

type cachedSelection struct {
	sel        *selection.Selection
	generation int64
	changes    uint64
	readAt     time.Time
}

func (c *selectionCache) get(name string) (cachedSelection, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.byCRP[name]
	return s, ok
}

func (c *selectionCache) put(name string, s cachedSelection) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byCRP == nil {
		c.byCRP = map[string]cachedSelection{}
	}
	c.byCRP[name] = s
}

func (c *selectionCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byCRP, name)
}

// clusterScopedInterest says which cluster-scoped objects may concern a
// placement: those it selected (a change may unselect them) and those its
// selectors match by name or labels (a new or relabelled object). Matching
// ignores the kind, which only costs a spare wake-up.
func clusterScopedInterest(selectors []placementv1.ClusterResourceSelector, sel *selection.Selection) func(name string, lbls map[string]string) bool {
	selected := map[string]bool{}
	for _, o := range sel.Objects {
		if o.GetNamespace() == "" {
			selected[o.GetName()] = true
		}
	}
	type matcher struct {
		name string
		sel  labels.Selector
	}
	var ms []matcher
	for _, s := range selectors {
		m := matcher{name: s.Name, sel: labels.Everything()}
		if s.LabelSelector != nil {
			ls, err := metav1.LabelSelectorAsSelector(s.LabelSelector)
			if err != nil {
				// The selection reports a bad selector; here it only
				// costs spare wake-ups.
				ls = labels.Everything()
			}
			m.sel = ls
		}
		ms = append(ms, m)
	}
	return func(name string, lbls map[string]string) bool {
		if selected[name] {
			return true
		}
		for _, m := range ms {
			if (m.name == "" || m.name == name) && m.sel.Matches(labels.Set(lbls)) {
				return true
			}
		}
		return false
	}
}

// selection returns what the placement selects: the cached selection while
// the spec is unchanged, no watched object changed since it was read and
// it is younger than the resync period, else a fresh read.
func (r *Reconciler) selection(ctx context.Context, crp *placementv1.ClusterResourcePlacement) (*selection.Selection, error) {
	changes := r.watches.changeCount(crp.Name)
	if c, ok := r.selections.get(crp.Name); ok && r.watches != nil &&
		c.generation == crp.Generation && c.changes == changes && r.now().Sub(c.readAt) < r.resync() {
		return c.sel, nil
	}
	// The count is taken before reading: an event during the read makes
	// the next reconcile read again.
	readAt := r.now()
	sel, err := r.Reader.Select(ctx, crp.Spec.ResourceSelectors)
	if err != nil {
		r.selections.forget(crp.Name)
		return nil, err
	}
	r.watches.track(crp.Name, sel.Resources, sel.Namespaces, clusterScopedInterest(crp.Spec.ResourceSelectors, sel))
	// Starting a watch lists its type, which counts as changes; the
	// selection just read already holds them.
	r.selections.put(crp.Name, cachedSelection{sel: sel, generation: crp.Generation, changes: changes, readAt: readAt})
	return sel, nil
}
