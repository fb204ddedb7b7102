package aks

import (
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// viewOf is `member show`'s view of a managed cluster.
func viewOf(c cluster, profile *armcontainerservice.ManagedClusterUpgradeProfileProperties, configs []*armcontainerservice.MaintenanceConfiguration) upgrade.MemberView {
	v := upgrade.MemberView{ControlPlaneVersion: upgrade.NormalizeVersion(c.Current), State: c.State}
	if busy(c.State) || anyBusy(c.Pools) != "" {
		v.Operation = describeVersions(c)
	}
	if profile != nil && profile.ControlPlaneProfile != nil {
		for _, u := range profile.ControlPlaneProfile.Upgrades {
			if u != nil && u.KubernetesVersion != nil {
				s := upgrade.NormalizeVersion(*u.KubernetesVersion)
				if u.IsPreview != nil && *u.IsPreview {
					s += " (preview)"
				}
				v.UpgradableVersions = append(v.UpgradableVersions, s)
			}
		}
	}
	for _, p := range c.Pools {
		v.Pools = append(v.Pools, upgrade.PoolView{
			Name: p.Name, OS: p.OS, Count: p.Count,
			KubernetesVersion: upgrade.NormalizeVersion(p.Current), NodeImageVersion: p.Image, LatestNodeImageVersion: p.LatestImage,
			MaxSurge: p.MaxSurge, State: p.State,
		})
	}
	for _, mc := range configs {
		v.Windows = append(v.Windows, windowsOf(mc)...)
	}
	return v
}

// windowsOf turns an AKS planned maintenance configuration into windows:
// aksManagedAutoUpgradeSchedule and aksManagedNodeOSUpgradeSchedule have a
// maintenanceWindow (a schedule, a start time, a duration, dates not
// allowed); the legacy "default" one has timeInWeek hour slots and
// notAllowedTime spans.
func windowsOf(mc *armcontainerservice.MaintenanceConfiguration) []upgrade.MaintenanceWindow {
	if mc == nil || mc.Properties == nil {
		return nil
	}
	name := str(mc.Name)
	var out []upgrade.MaintenanceWindow
	if w := mc.Properties.MaintenanceWindow; w != nil {
		out = append(out, upgrade.MaintenanceWindow{Name: name, Schedule: describeWindow(w)})
		for _, d := range w.NotAllowedDates {
			if d != nil {
				out = append(out, upgrade.MaintenanceWindow{Name: name + "/notAllowedDates", Schedule: span(d.Start, d.End, time.DateOnly), Exclusion: true})
			}
		}
	}
	if slots := describeTimeInWeek(mc.Properties.TimeInWeek); slots != "" {
		out = append(out, upgrade.MaintenanceWindow{Name: name, Schedule: slots})
	}
	for _, t := range mc.Properties.NotAllowedTime {
		if t != nil {
			out = append(out, upgrade.MaintenanceWindow{Name: name + "/notAllowedTime", Schedule: span(t.Start, t.End, time.RFC3339), Exclusion: true})
		}
	}
	return out
}

// describeWindow is, e.g., "every week on Sunday, 00:00 +00:00 for 4h,
// from 2026-01-05".
func describeWindow(w *armcontainerservice.MaintenanceWindow) string {
	var parts []string
	parts = append(parts, describeSchedule(w.Schedule))
	at := str(w.StartTime)
	if at == "" {
		at = "00:00"
	}
	offset := str(w.UTCOffset)
	if offset == "" {
		offset = "+00:00"
	}
	dur := ""
	if w.DurationHours != nil {
		dur = fmt.Sprintf(" for %dh", *w.DurationHours)
	}
	parts = append(parts, fmt.Sprintf("%s %s%s", at, offset, dur))
	if w.StartDate != nil {
		parts = append(parts, "from "+w.StartDate.Format(time.DateOnly))
	}
	return strings.Join(parts, ", ")
}

func every(n *int32, unit string) string {
	if n == nil || *n <= 1 {
		return "every " + unit
	}
	return fmt.Sprintf("every %d %ss", *n, unit)
}

func describeSchedule(s *armcontainerservice.Schedule) string {
	switch {
	case s == nil:
		return "no schedule"
	case s.Daily != nil:
		return every(s.Daily.IntervalDays, "day")
	case s.Weekly != nil:
		return fmt.Sprintf("%s on %s", every(s.Weekly.IntervalWeeks, "week"), str(s.Weekly.DayOfWeek))
	case s.AbsoluteMonthly != nil:
		day := int32(1)
		if s.AbsoluteMonthly.DayOfMonth != nil {
			day = *s.AbsoluteMonthly.DayOfMonth
		}
		return fmt.Sprintf("day %d of %s", day, every(s.AbsoluteMonthly.IntervalMonths, "month"))
	case s.RelativeMonthly != nil:
		return fmt.Sprintf("%s %s of %s", str(s.RelativeMonthly.WeekIndex), str(s.RelativeMonthly.DayOfWeek), every(s.RelativeMonthly.IntervalMonths, "month"))
	}
	return "no schedule"
}

// describeTimeInWeek is, e.g., "Saturday 01:00-03:00 UTC; Sunday 02:00-03:00 UTC".
func describeTimeInWeek(slots []*armcontainerservice.TimeInWeek) string {
	var days []string
	for _, s := range slots {
		if s == nil {
			continue
		}
		var hours []string
		for _, h := range s.HourSlots {
			if h != nil {
				hours = append(hours, fmt.Sprintf("%02d:00-%02d:00", *h, (*h+1)%24))
			}
		}
		if len(hours) == 0 {
			hours = []string{"all day"}
		}
		days = append(days, fmt.Sprintf("%s %s UTC", str(s.Day), strings.Join(hours, ", ")))
	}
	return strings.Join(days, "; ")
}

func span(start, end *time.Time, layout string) string {
	f := func(t *time.Time) string {
		if t == nil {
			return "?"
		}
		return t.UTC().Format(layout)
	}
	return f(start) + " to " + f(end)
}
