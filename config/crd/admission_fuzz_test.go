package crd_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// admission is what the API server checks of a custom resource on create,
// in process: defaults, the OpenAPI schema, then the CEL rules.
type admission struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

var (
	admissionsOnce sync.Once
	admissions     map[string]*admission
	admissionsErr  error
)

// admissionFor returns the checks of the CRD of kind, built once from the
// CRDs the hub installs.
func admissionFor(t testing.TB, kind string) *admission {
	t.Helper()
	admissionsOnce.Do(func() {
		crds, err := crd.All()
		if err != nil {
			admissionsErr = err
			return
		}
		admissions = map[string]*admission{}
		for _, c := range crds {
			v1 := c.Spec.Versions[0].Schema.OpenAPIV3Schema
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1, internal, nil); err != nil {
				admissionsErr = err
				return
			}
			s, err := structuralschema.NewStructural(internal)
			if err != nil {
				admissionsErr = err
				return
			}
			sv, _, err := apiservervalidation.NewSchemaValidator(internal)
			if err != nil {
				admissionsErr = err
				return
			}
			admissions[c.Spec.Names.Kind] = &admission{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
		}
	})
	if admissionsErr != nil {
		t.Fatal(admissionsErr)
	}
	a, ok := admissions[kind]
	if !ok {
		t.Fatalf("no CRD for kind %s", kind)
	}
	return a
}

// check admits obj (an object as JSON decodes into map[string]any) the way
// the API server would on create.
func (a *admission) check(obj map[string]any) field.ErrorList {
	structuraldefaulting.Default(obj, a.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, a.schema)
	if len(errs) > 0 {
		return errs // as the API server, CEL runs only on what the schema admits
	}
	celErrs, _ := a.cel.Validate(context.Background(), nil, a.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return celErrs
}

// FuzzStrategyAdmission checks UpdateStrategies (their spec as JSON) as the
// hub does, all of it: the CRD's schema and CEL rules, as the API server
// runs them, then the update-run controller's ValidateStrategy. Nothing
// panics; every refusal, by either, names a field under spec; and what the
// controller's check accepts the API server accepts too, so that the CLI,
// which runs that check before it writes, never sends a strategy the API
// server refuses.
func FuzzStrategyAdmission(f *testing.F) {
	f.Add(`{"stages": ` + seedStages + `}`)
	f.Add(`{"stages": [{"name": "a", "groups": [{"name": "g", "maxConcurrency": "50%", "maxAllowedFailures": 1, "beforeGates": [{"type": "Approval"}]}], "afterStageWaitInSeconds": 60, "afterGates": [{"type": "ScheduledStart", "schedule": {"daysOfWeek": ["Tuesday"], "startTime": "09:30", "utcOffset": "+01:00"}}]}, {"name": "b", "memberSelector": {"matchLabels": {"tier": "edge"}}, "maxConcurrency": 2}], "memberUpgradeTimeoutSeconds": 600}`)
	f.Add(`{"stages": [{"name": "a", "groups": [{"name": "g"}]}], "healthChecks": [{"name": "c", "type": "Command", "command": ["x"], "runAfter": "Stage"}, {"name": "h", "type": "HTTP", "http": {"url": "http://x"}}], "maintenanceWindows": [{"startTime": "22:00", "durationMinutes": 240, "utcOffset": "-05:00", "daysOfWeek": ["Friday"]}], "freezeWindows": [{"from": "2026-11-27T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, {"startTime": "00:00", "durationMinutes": 60}]}`)
	f.Add(`{"stages": [{"name": "a", "groups": [{"name": "g"}, {"name": "g"}]}, {"name": "a"}]}`)
	f.Add(`{"stages": [{"name": "a", "memberSelector": {"matchExpressions": [{"key": "env", "operator": "Near"}]}, "maxConcurrency": "0%"}]}`)
	f.Add(`{"stages": [{"name": "a", "groups": [{"name": "b"}]}, {"name": "b", "memberSelector": {}}]}`)
	f.Add(`{"stages": [{"name": "a", "memberSelector": {}, "beforeGates": [{"type": "Approval"}, {"type": "Approval"}, {"type": "Approval"}, {"type": "Approval"}, {"type": "Approval"}]}]}`)
	f.Add(`{"stages": [{"name": "` + strings.Repeat("a", 64) + `", "memberSelector": {}, "afterStageWaitInSeconds": 604800}]}`)
	f.Add(`{"stages": [{"name": "a", "memberSelector": {}}], "maintenanceWindows": [{"startTime": "7:00", "durationMinutes": 10081, "utcOffset": "+5", "daysOfWeek": ["Funday"]}], "freezeWindows": [{"startTime": "00:00", "durationMinutes": 60, "daysOfWeek": ["Sunday"], "utcOffset": "-12:00"}]}`)
	f.Add(`{"stages": [{"name": "a", "memberSelector": {}}], "healthChecks": [{"name": "w", "type": "WorkloadsAvailable", "workloads": {"kind": "Deployment", "namespace": "x", "labelSelector": {"matchLabels": {"app": "web"}}}, "settleSeconds": 5, "timeoutSeconds": 60}, {"name": "p", "type": "PVCsBound", "namespaces": ["a"], "runAfter": "Group"}, {"name": "h", "type": "HTTP", "http": {"url": "https://x/healthz", "expectedStatus": 204}}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var spec fleetv1.UpdateStrategySpec
		if err := json.Unmarshal([]byte(doc), &spec); err != nil {
			return
		}
		if len(spec.Stages) > 50 {
			return // the API allows 20; keep each input quick
		}
		obj := manifestOf(t, "UpdateStrategy", "fuzz", spec)
		admitted := admissionFor(t, "UpdateStrategy").check(obj)
		for _, e := range admitted {
			if !strings.HasPrefix(e.Field, "spec") && !strings.HasPrefix(e.Field, "<nil>") {
				t.Fatalf("the API server would refuse it naming %q, not a field under spec: %v", e.Field, e)
			}
		}
		problems := rollout.ValidateStrategy(spec, nil).Under("spec")
		for _, p := range problems {
			if !p.Warning && !strings.HasPrefix(p.Field, "spec") {
				t.Fatalf("the controller refuses it naming %q, not a field under spec: %s", p.Field, p)
			}
		}
		if problems.Err() == nil && len(admitted) > 0 {
			t.Fatalf("the controller's check (and so the CLI) accepts what the API server refuses:\n%s\n%v", doc, admitted.ToAggregate())
		}
	})
}

// manifestOf is the object a client sends for spec, as the API server sees
// it: JSON decoded into maps.
func manifestOf(t *testing.T, kind, name string, spec any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"apiVersion": fleetv1.GroupVersion.String(), "kind": kind,
		"metadata": map[string]any{"name": name}, "spec": spec,
	})
	if err != nil {
		t.Fatal(err)
	}
	// As the API server decodes: whole numbers are int64, not float64.
	var obj map[string]any
	if err := utiljson.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}
