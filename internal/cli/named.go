package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// objectKind is a cluster-scoped kind of the hub that commands act on by name.
type objectKind[T client.Object] struct {
	// noun names the kind in messages and flag help: "update run".
	noun string
	// newObject returns an empty object to read into.
	newObject func() T
	// dnsLabel says names of this kind are DNS labels, refused before the
	// hub is asked when they are not.
	dnsLabel bool
	// maxNameLength, when set, is shorter than a DNS label may be: a
	// member's name is also part of its hub namespace's name.
	maxNameLength int
	// whyMaxLength says why, for a name that is longer.
	whyMaxLength func(name string) string
}

var (
	memberKind = objectKind[*fleetv1.MemberCluster]{
		noun: "member", newObject: func() *fleetv1.MemberCluster { return &fleetv1.MemberCluster{} }, dnsLabel: true,
		maxNameLength: validation.DNS1123LabelMaxLength - len(fleetv1.MemberNamespacePrefix),
		whyMaxLength: func(name string) string {
			return fmt.Sprintf("so that its hub namespace %s fits in a namespace name", fleetv1.MemberNamespace(name))
		},
	}
	strategyKind = objectKind[*fleetv1.UpdateStrategy]{
		noun: "update strategy", newObject: func() *fleetv1.UpdateStrategy { return &fleetv1.UpdateStrategy{} }, dnsLabel: true,
	}
	runKind = objectKind[*fleetv1.UpdateRun]{
		noun: "update run", newObject: func() *fleetv1.UpdateRun { return &fleetv1.UpdateRun{} }, dnsLabel: true,
	}
	gateKind = objectKind[*fleetv1.Gate]{
		noun: "gate", newObject: func() *fleetv1.Gate { return &fleetv1.Gate{} },
	}
	placementKind = objectKind[*placementv1.ClusterResourcePlacement]{
		noun: "placement", newObject: func() *placementv1.ClusterResourcePlacement { return &placementv1.ClusterResourcePlacement{} },
	}
)

// checkName refuses a missing name, and a name the hub could not hold.
func (k objectKind[T]) checkName(cmd *cobra.Command, name string) error {
	if name == "" {
		return fmt.Errorf("name the %s: %s NAME, or --name NAME", k.noun, cmd.CommandPath())
	}
	if k.dnsLabel {
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return fmt.Errorf("invalid %s name %q: %s", k.noun, name, strings.Join(errs, "; "))
		}
	}
	if k.maxNameLength > 0 && len(name) > k.maxNameLength {
		return fmt.Errorf("invalid %s name %q: at most %d characters, %s", k.noun, name, k.maxNameLength, k.whyMaxLength(name))
	}
	return nil
}

// get reads one object, saying `<noun> "name" not found` when it is not there.
func (k objectKind[T]) get(ctx context.Context, hub client.Reader, name string) (T, error) {
	obj := k.newObject()
	if err := hub.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
		var zero T
		if apierrors.IsNotFound(err) {
			return zero, fmt.Errorf("%s %q not found", k.noun, name)
		}
		return zero, fmt.Errorf("reading %s %q: %w", k.noun, name, err)
	}
	return obj, nil
}

// onName completes cmd as a command on one object of this kind that need
// not exist yet (create) or is not read first: the name comes from a
// positional NAME or --name/-n and is checked before the command's own
// PreRunE checks its flags; then the hub is connected and act runs.
func (k objectKind[T]) onName(g *globalOptions, cmd *cobra.Command, act func(cmd *cobra.Command, hub client.WithWatch, name string) error) *cobra.Command {
	var flagName, name string
	cmd.Flags().StringVarP(&flagName, "name", "n", "", k.noun+" name (the same as the NAME argument)")
	// A command that sets Args takes positional arguments after NAME and
	// reads them with argsAfterName.
	moreArgs := cmd.Args != nil
	if !moreArgs {
		cmd.Args = cobra.MaximumNArgs(1)
	}
	flagChecks := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		var rest []string
		name, rest = nameAndArgs(cmd, args)
		if len(rest) > 0 && !moreArgs {
			return fmt.Errorf("%s named twice: --name %q and %q", k.noun, name, rest[0])
		}
		if err := k.checkName(cmd, name); err != nil {
			return err
		}
		if flagChecks != nil {
			return flagChecks(cmd, args)
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		hub, err := g.hub()
		if err != nil {
			return err
		}
		return act(cmd, hub, name)
	}
	return cmd
}

// onObject is onName for a command on an object that exists: act gets it
// read from the hub, or the command says it is not found.
func (k objectKind[T]) onObject(g *globalOptions, cmd *cobra.Command, act func(cmd *cobra.Command, hub client.WithWatch, obj T) error) *cobra.Command {
	return k.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		obj, err := k.get(cmd.Context(), hub, name)
		if err != nil {
			return err
		}
		return act(cmd, hub, obj)
	})
}

// nameAndArgs splits a named command's positional arguments into the name
// (--name, else the first argument) and the arguments after it.
func nameAndArgs(cmd *cobra.Command, args []string) (name string, rest []string) {
	if f := cmd.Flags().Lookup("name"); f != nil && f.Changed {
		return f.Value.String(), args
	}
	if len(args) == 0 {
		return "", nil
	}
	return args[0], args[1:]
}

// argsAfterName is what a named command got as positional arguments besides
// its name.
func argsAfterName(cmd *cobra.Command, args []string) []string {
	_, rest := nameAndArgs(cmd, args)
	return rest
}

// onHub is the RunE of a command that needs the hub but no one object.
func onHub(g *globalOptions, act func(cmd *cobra.Command, hub client.WithWatch) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		hub, err := g.hub()
		if err != nil {
			return err
		}
		return act(cmd, hub)
	}
}
