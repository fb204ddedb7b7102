package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
)

// fakeHub is a hub holding objs, for commands that need only a few objects.
func fakeHub(objs ...client.Object) client.WithWatch {
	return fake.NewClientBuilder().WithScheme(fleetscheme.New()).WithObjects(objs...).
		WithStatusSubresource(&fleetv1.UpdateRun{}, &fleetv1.MemberCluster{}).Build()
}

// runCLI runs flotilla with args against hub.
func runCLI(hub client.WithWatch, args ...string) (stdout, stderr string, err error) {
	return runCLIContext(context.Background(), hub, args...)
}

func member(name, group string) *fleetv1.MemberCluster {
	return &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1.MemberClusterSpec{UpdateGroup: group}}
}

func TestANamedCommandTakesTheNameAsArgumentOrWithName(t *testing.T) {
	hub := fakeHub(member("dev-1", "dev"))
	var outputs []string
	for _, args := range [][]string{
		{"member", "show", "dev-1", "-o", "json"},
		{"member", "show", "-n", "dev-1", "-o", "json"},
		{"member", "show", "--name", "dev-1", "-o", "json"},
	} {
		out, _, err := runCLI(hub, args...)
		if err != nil {
			t.Fatalf("flotilla %s: %v", strings.Join(args, " "), err)
		}
		outputs = append(outputs, out)
	}
	if outputs[0] != outputs[1] || outputs[1] != outputs[2] || !strings.Contains(outputs[0], `"name": "dev-1"`) {
		t.Errorf("the three forms differ or miss the member:\n%s", strings.Join(outputs, "\n"))
	}
}

func TestANamedCommandSaysWhatIsWrongWithTheName(t *testing.T) {
	hub := fakeHub(member("dev-1", "dev"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"updaterun", "start"}, "name the update run: flotilla updaterun start NAME, or --name NAME"},
		{[]string{"updaterun", "show", "nope"}, `update run "nope" not found`},
		{[]string{"placement", "delete", "nope"}, `placement "nope" not found`},
		{[]string{"updatestrategy", "show", "Bad_Name"}, `invalid update strategy name "Bad_Name"`},
		{[]string{"member", "show", strings.Repeat("m", 48)}, "at most 47 characters, so that its hub namespace flotilla-member-mmm"},
		{[]string{"member", "show", "-n", "dev-1", "dev-2"}, `member named twice: --name "dev-1" and "dev-2"`},
		{[]string{"member", "show", "dev-1", "dev-2"}, "accepts at most 1 arg(s), received 2"},
	} {
		_, _, err := runCLI(hub, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("flotilla %s: %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestAnUnknownOutputFormatIsRefusedBeforeAnythingIsDone(t *testing.T) {
	hub := fakeHub(member("dev-1", "dev"))
	_, _, err := runCLI(hub, "member", "delete", "dev-1", "-o", "xml")
	if err == nil || !strings.Contains(err.Error(), `unknown output format "xml"`) {
		t.Fatalf("member delete -o xml: %v", err)
	}
	if _, _, err := runCLI(hub, "member", "show", "dev-1"); err != nil {
		t.Errorf("the member is gone after a refused command: %v", err)
	}
}

// Every command that takes --name (outside `local`, where -n names the
// local fleet) takes the name as its argument too.
func TestEveryNamedCommandTakesAPositionalName(t *testing.T) {
	var walk func(*cobra.Command)
	named := 0
	walk = func(cmd *cobra.Command) {
		if cmd.Name() == "local" {
			return
		}
		if f := cmd.Flags().Lookup("name"); f != nil && cmd.Runnable() {
			named++
			if f.Shorthand != "n" {
				t.Errorf("%s: --name has no -n", cmd.CommandPath())
			}
			if cmd.Args == nil || cmd.Args(cmd, []string{"x"}) != nil {
				t.Errorf("%s: a positional NAME is refused", cmd.CommandPath())
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCommand())
	if named < 20 {
		t.Errorf("only %d named commands found", named)
	}
}

func TestSkipTakesTargetsAfterTheName(t *testing.T) {
	run := &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: "r1"},
		Spec: fleetv1.UpdateRunSpec{Strategy: &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{
			{Name: "s1", Groups: []fleetv1.UpdateGroup{{Name: "g1"}}}, {Name: "s2"},
		}}},
	}
	for _, args := range [][]string{
		{"updaterun", "skip", "r1", "--targets", "Stage:s2", "Group:g1"},
		{"updaterun", "skip", "-n", "r1", "--targets", "Stage:s2", "Group:g1"},
	} {
		hub := fakeHub(run.DeepCopy())
		if _, _, err := runCLI(hub, args...); err != nil {
			t.Fatalf("flotilla %s: %v", strings.Join(args, " "), err)
		}
		got, err := runKind.get(context.Background(), hub, "r1")
		if err != nil {
			t.Fatal(err)
		}
		want := []fleetv1.SkipTarget{{Type: fleetv1.SkipStage, Name: "s2"}, {Type: fleetv1.SkipGroup, Name: "g1"}}
		if len(got.Spec.Skip) != 2 || got.Spec.Skip[0] != want[0] || got.Spec.Skip[1] != want[1] {
			t.Errorf("flotilla %s: skip = %+v, want %+v", strings.Join(args, " "), got.Spec.Skip, want)
		}
	}
}
