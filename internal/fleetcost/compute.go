package fleetcost

import (
	"fmt"
	"math"
	"sort"
)

// Member is what the model needs of one member.
type Member struct {
	Name     string
	Provider string
	// Tier is the member's control-plane tier; empty takes the model's
	// default for the provider.
	Tier   string
	Region string
	// CPU (cores) and MemoryGiB are the member's node capacity.
	CPU       float64
	MemoryGiB float64
	// Price overrides the model's region price when set (from labels).
	Price *Price
}

// Placement is one placement's requests per copy and the members it is on.
type Placement struct {
	Name    string
	Members []string
	// CPU (cores) and MemoryGiB are what one copy of the placed workloads
	// requests.
	CPU       float64
	MemoryGiB float64
	// Unpriced names placed objects whose requests were not counted.
	Unpriced []string
}

// MemberCost is one member's month.
type MemberCost struct {
	Name         string  `json:"name"`
	Provider     string  `json:"provider"`
	Tier         string  `json:"tier"`
	Region       string  `json:"region,omitempty"`
	CPU          float64 `json:"cpu"`
	MemoryGiB    float64 `json:"memoryGiB"`
	ControlPlane float64 `json:"controlPlane"`
	Compute      float64 `json:"compute"`
	Total        float64 `json:"total"`
	Note         string  `json:"note,omitempty"`
}

// PlacementCost is one placement's month: its requests priced on every
// member it is on.
type PlacementCost struct {
	Name string `json:"name"`
	// Copies is how many members hold it: it costs Copies× one copy.
	Copies    int                `json:"copies"`
	Members   []string           `json:"members"`
	CPU       float64            `json:"cpuPerCopy"`
	MemoryGiB float64            `json:"memoryGiBPerCopy"`
	PerMember map[string]float64 `json:"perMember"`
	Total     float64            `json:"total"`
	Unpriced  []string           `json:"unpriced,omitempty"`
}

// Report is the fleet's month.
type Report struct {
	Currency      string          `json:"currency"`
	HoursPerMonth float64         `json:"hoursPerMonth"`
	Members       []MemberCost    `json:"members"`
	Placements    []PlacementCost `json:"placements"`
	Regions       []string        `json:"regions"`
	ControlPlane  float64         `json:"controlPlane"`
	Compute       float64         `json:"compute"`
	Hub           float64         `json:"hub"`
	CrossRegion   float64         `json:"crossRegion"`
	// Total is members (control plane and compute), hub and cross-region.
	// Placement costs are the share of member compute their requests take,
	// so they are not added again.
	Total      float64     `json:"total"`
	Comparison *Comparison `json:"comparison,omitempty"`
}

// Calculate prices the fleet for a month.
func Calculate(model Model, members []Member, placements []Placement) Report {
	r := Report{Currency: model.Currency, HoursPerMonth: model.HoursPerMonth, Members: []MemberCost{}, Placements: []PlacementCost{}, Regions: []string{}}
	prices := map[string]Price{}
	regions := map[string]bool{}
	for _, m := range members {
		mc := MemberCost{Name: m.Name, Provider: m.Provider, Tier: m.Tier, Region: m.Region, CPU: m.CPU, MemoryGiB: m.MemoryGiB}
		if mc.Provider == "" {
			mc.Provider = ProviderNone
		}
		if mc.Tier == "" {
			mc.Tier = model.DefaultTier[mc.Provider]
		}
		if cp, ok := model.ControlPlane[mc.Provider][mc.Tier]; ok {
			mc.ControlPlane = cp
		} else {
			mc.Note = fmt.Sprintf("no control-plane price for %s tier %q in the model: counted as 0", mc.Provider, mc.Tier)
		}
		price := model.price(m.Region)
		if m.Price != nil {
			price = *m.Price
		}
		prices[m.Name] = price
		mc.Compute = round(model.HoursPerMonth * (m.CPU*price.VCPUHour + m.MemoryGiB*price.GiBHour))
		mc.Total = round(mc.ControlPlane + mc.Compute)
		r.ControlPlane += mc.ControlPlane
		r.Compute += mc.Compute
		if m.Region != "" {
			regions[m.Region] = true
		}
		r.Members = append(r.Members, mc)
	}
	for reg := range regions {
		r.Regions = append(r.Regions, reg)
	}
	sort.Strings(r.Regions)
	if len(r.Regions) > 1 {
		r.CrossRegion = model.CrossRegionMonthly
	}
	r.Hub = model.HubMonthly
	r.ControlPlane, r.Compute = round(r.ControlPlane), round(r.Compute)
	r.Total = round(r.ControlPlane + r.Compute + r.Hub + r.CrossRegion)

	for _, p := range placements {
		pc := PlacementCost{Name: p.Name, Copies: len(p.Members), Members: append([]string{}, p.Members...), CPU: p.CPU, MemoryGiB: p.MemoryGiB,
			PerMember: map[string]float64{}, Unpriced: p.Unpriced}
		sort.Strings(pc.Members)
		for _, name := range pc.Members {
			price, ok := prices[name]
			if !ok {
				price = model.Compute.Default
			}
			c := round(model.HoursPerMonth * (p.CPU*price.VCPUHour + p.MemoryGiB*price.GiBHour))
			pc.PerMember[name] = c
			pc.Total += c
		}
		pc.Total = round(pc.Total)
		r.Placements = append(r.Placements, pc)
	}
	sort.Slice(r.Placements, func(i, j int) bool { return r.Placements[i].Name < r.Placements[j].Name })
	return r
}

// Comparison is the seed's "redundancy cost X vs outage cost Y".
type Comparison struct {
	// RedundancyCost is what the fleet costs a month beyond its single most
	// expensive member: what running more than one cluster adds.
	RedundancyCost      float64 `json:"redundancyCost"`
	OutageCostPerHour   float64 `json:"outageCostPerHour"`
	ExpectedOutageHours float64 `json:"expectedOutageHours"`
	// OutageCost is OutageCostPerHour × ExpectedOutageHours, a month.
	OutageCost float64 `json:"outageCost"`
	// Worth is RedundancyCost < OutageCost.
	Worth   bool   `json:"worth"`
	Verdict string `json:"verdict"`
}

// Compare weighs the fleet's redundancy against the outages it avoids:
// perHour is what an hour of outage costs, hours how many hours of outage a
// month redundancy is expected to avoid.
func Compare(r Report, perHour, hours float64) Comparison {
	largest := 0.0
	for _, m := range r.Members {
		largest = math.Max(largest, m.Total)
	}
	c := Comparison{
		RedundancyCost:      round(r.Total - largest),
		OutageCostPerHour:   perHour,
		ExpectedOutageHours: hours,
		OutageCost:          round(perHour * hours),
	}
	c.Worth = c.RedundancyCost < c.OutageCost
	if c.Worth {
		c.Verdict = fmt.Sprintf("redundancy cost %s vs outage cost %s: the redundancy is an investment (it costs %s less than the outages it avoids)",
			Money(r.Currency, c.RedundancyCost), Money(r.Currency, c.OutageCost), Money(r.Currency, c.OutageCost-c.RedundancyCost))
	} else {
		c.Verdict = fmt.Sprintf("redundancy cost %s vs outage cost %s: the redundancy costs %s more than the outages it avoids",
			Money(r.Currency, c.RedundancyCost), Money(r.Currency, c.OutageCost), Money(r.Currency, c.RedundancyCost-c.OutageCost))
	}
	return c
}

// Money prints an amount: "$730.00" in USD, "730.00 EUR" otherwise.
func Money(currency string, v float64) string {
	if currency == "USD" || currency == "" {
		return fmt.Sprintf("$%.2f", v)
	}
	return fmt.Sprintf("%.2f %s", v, currency)
}

func round(v float64) float64 { return math.Round(v*100) / 100 }
