// Package fleetcost is the fleet cost model behind `flotilla cost`: what a
// fleet costs a month from its members' control-plane tiers and node
// capacity, the hub and cross-region connectivity, what each placement's
// requests cost on the members it is placed on (a workload on N members
// costs N×), and the seed's comparison of redundancy cost against outage
// cost. The model file (cost.yaml) is Model; Compute and Compare are pure.
package fleetcost

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// Labels (or MemberCluster properties) a member can carry to say what the
// model cannot know.
const (
	// TierLabel is the default label naming a member's control-plane tier
	// (Free, Standard, Premium); Model.TierLabel renames it.
	TierLabel = "cost.flotilla.dev/control-plane-tier"
	// VCPUHourLabel and GiBHourLabel price the member's nodes, overriding
	// the model's region prices, e.g. "0.045".
	VCPUHourLabel = "cost.flotilla.dev/vcpu-hour"
	GiBHourLabel  = "cost.flotilla.dev/gib-hour"
	// RegionLabel is where the member runs when no property says so.
	RegionLabel = "topology.kubernetes.io/region"
)

// ProviderNone keys the control-plane prices of members without a provider.
const ProviderNone = "None"

// Model is the cost.yaml file. Every field has a default (DefaultModel); a
// file sets only what it changes. A provider given under controlPlane
// replaces that provider's tiers; regions add to or replace the defaults'.
type Model struct {
	// Currency is printed with every figure; the model does not convert.
	Currency string `json:"currency"`
	// HoursPerMonth turns hourly prices into monthly ones (730 = 8760/12).
	HoursPerMonth float64 `json:"hoursPerMonth"`
	// ControlPlane prices a cluster-month per provider (AKS, EKS, GKE,
	// ClusterAPI, Local, Exec, None) and tier.
	ControlPlane map[string]map[string]float64 `json:"controlPlane"`
	// DefaultTier is a provider's tier when the member has no tier label.
	DefaultTier map[string]string `json:"defaultTier"`
	// TierLabel names the member label carrying the tier.
	TierLabel string `json:"tierLabel"`
	// HubMonthly is the hub's own monthly cost (its cluster, control plane
	// and nodes).
	HubMonthly float64 `json:"hubMonthly"`
	// CrossRegionMonthly is connectivity between regions (ExpressRoute, VPN,
	// peering) a month, charged once when the members span two or more
	// regions.
	CrossRegionMonthly float64 `json:"crossRegionMonthly"`
	// Compute prices node capacity: Default, or the member's region's.
	Compute Compute `json:"compute"`
}

// Compute prices node capacity per hour.
type Compute struct {
	Default Price            `json:"default"`
	Regions map[string]Price `json:"regions,omitempty"`
}

// Price is an hourly price of one vCPU and one GiB of memory.
type Price struct {
	VCPUHour float64 `json:"vcpuHour"`
	GiBHour  float64 `json:"gibHour"`
}

// DefaultModel is the model without a file: the seed's control-plane
// figures (AKS Standard about $73 per cluster-month, Free $0), the same
// $0.10 an hour for EKS standard support and GKE, a hub that costs one
// Standard control plane, no cross-region charge, and compute at an
// illustrative $0.04 per vCPU-hour and $0.005 per GiB-hour (roughly a
// general-purpose pay-as-you-go VM; set your own).
func DefaultModel() Model {
	return Model{
		Currency:      "USD",
		HoursPerMonth: 730,
		ControlPlane: map[string]map[string]float64{
			"AKS":        {"Free": 0, "Standard": 73, "Premium": 438},
			"EKS":        {"Standard": 73, "Extended": 438},
			"GKE":        {"Standard": 73, "Autopilot": 73, "Free": 0},
			"ClusterAPI": {"Standard": 0},
			"Local":      {"Standard": 0},
			"Exec":       {"Standard": 0},
			ProviderNone: {"Standard": 0},
		},
		DefaultTier: map[string]string{
			"AKS": "Standard", "EKS": "Standard", "GKE": "Standard",
			"ClusterAPI": "Standard", "Local": "Standard", "Exec": "Standard", ProviderNone: "Standard",
		},
		TierLabel:  TierLabel,
		HubMonthly: 73,
		Compute:    Compute{Default: Price{VCPUHour: 0.04, GiBHour: 0.005}},
	}
}

// ParseModel reads a cost.yaml over the defaults and checks it.
func ParseModel(data []byte) (Model, error) {
	m := DefaultModel()
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return Model{}, fmt.Errorf("reading the cost model: %w", err)
	}
	if err := m.Validate(); err != nil {
		return Model{}, err
	}
	return m, nil
}

// Validate refuses negative prices and a month without hours.
func (m *Model) Validate() error {
	if m.HoursPerMonth <= 0 {
		return fmt.Errorf("cost model: hoursPerMonth must be positive")
	}
	if m.HubMonthly < 0 || m.CrossRegionMonthly < 0 {
		return fmt.Errorf("cost model: hubMonthly and crossRegionMonthly cannot be negative")
	}
	for p, tiers := range m.ControlPlane {
		for t, v := range tiers {
			if v < 0 {
				return fmt.Errorf("cost model: controlPlane %s %s cannot be negative", p, t)
			}
		}
	}
	for r, p := range m.Compute.Regions {
		if p.VCPUHour < 0 || p.GiBHour < 0 {
			return fmt.Errorf("cost model: compute region %s cannot have negative prices", r)
		}
	}
	if m.Compute.Default.VCPUHour < 0 || m.Compute.Default.GiBHour < 0 {
		return fmt.Errorf("cost model: compute default cannot have negative prices")
	}
	return nil
}

// price is the compute price for a region.
func (m *Model) price(region string) Price {
	if p, ok := m.Compute.Regions[region]; ok {
		return p
	}
	return m.Compute.Default
}
