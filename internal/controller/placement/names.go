package placement

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Names of the objects a placement makes. Each must name one placement's
// object and no other's:
//   - a binding joins two names chosen by users, so "app" + "eu-1" and
//     "app-eu" + "1" would meet: its name carries a hash of the pair;
//   - a snapshot is <placement>-<index>: the index has no '-', so the
//     last '-' splits any such name one way only;
//   - a snapshot part k > 0 is <placement>-<index>.<k>: the text after
//     the last '-' has a '.', which part 0's never has;
//   - a Work is named after its placement in its member's own namespace,
//     and its part k > 0 <placement>.<k>; the Secret data of a Work part
//     or a snapshot part has the part's name.
// An object found under one of these names is only ours when its labels
// say so (see owns).

// maxNameLength is the longest name of a cluster-scoped object (a DNS
// subdomain).
const maxNameLength = 253

// pairHashLength is how many hex digits of the pair's hash a binding name
// carries: 40 bits.
const pairHashLength = 10

// bindingName is <placement>-<member>-<hash of the pair>, the readable part
// cut short when the whole would not fit a name.
func bindingName(placement, member string) string {
	// NUL appears in no name, so the pair hashes without ambiguity.
	sum := sha256.Sum256([]byte(placement + "\x00" + member))
	suffix := hex.EncodeToString(sum[:])[:pairHashLength]
	prefix := placement + "-" + member
	if limit := maxNameLength - len(suffix) - 1; len(prefix) > limit {
		// A DNS subdomain's parts end with a letter or digit.
		prefix = strings.TrimRight(prefix[:limit], "-.")
	}
	return prefix + "-" + suffix
}

// snapshotName is <placement>-<index>.
func snapshotName(placement string, index int32) string {
	return fmt.Sprintf("%s-%d", placement, index)
}

// snapshotPartName names part k of a snapshot.
func snapshotPartName(placement string, index int32, k int) string {
	if k == 0 {
		return snapshotName(placement, index)
	}
	return fmt.Sprintf("%s-%d.%d", placement, index, k)
}

// workPartName names part k of a placement's Work for a member.
func workPartName(placement string, k int) string {
	if k == 0 {
		return placement
	}
	return fmt.Sprintf("%s.%d", placement, k)
}

// owner is the (placement, member) an object's labels say it belongs to.
type owner struct{ placement, member string }

func ownerOf(o client.Object) owner {
	l := o.GetLabels()
	return owner{placement: l[fleetv1.PlacementLabel], member: l[fleetv1.MemberClusterLabel]}
}

func (o owner) String() string {
	if o.placement == "" && o.member == "" {
		return "no placement"
	}
	if o.member == "" {
		return fmt.Sprintf("placement %q", o.placement)
	}
	return fmt.Sprintf("placement %q and member %q", o.placement, o.member)
}

// errNameTaken says an object we would create exists and belongs to
// someone else.
type errNameTaken struct {
	kind, name string
	by         owner
}

func (e *errNameTaken) Error() string {
	return fmt.Sprintf("%s %s already exists and belongs to %s", e.kind, e.name, e.by)
}
