package rollout

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// at parses a UTC time like "2026-11-23 22:30" (2026-11-23 is a Monday).
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02 15:04 -07:00", s)
	if err != nil {
		v, err = time.Parse("2006-01-02 15:04", s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseClockAndOffset(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "00:00", want: 0},
		{in: "09:30", want: 9*time.Hour + 30*time.Minute},
		{in: "23:59", want: 23*time.Hour + 59*time.Minute},
		{in: "24:00", bad: true},
		{in: "9:30", bad: true},
		{in: "09:60", bad: true},
		{in: "0930", bad: true},
		{in: "", bad: true},
		{in: "-1:00", bad: true},
	} {
		got, err := parseClock(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("parseClock(%q) = %v, %v; want %v, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	for _, tc := range []struct {
		in     string
		offset int
		bad    bool
	}{
		{in: "", offset: 0},
		{in: "+00:00", offset: 0},
		{in: "+01:00", offset: 3600},
		{in: "-05:30", offset: -(5*3600 + 1800)},
		{in: "+14:00", offset: 14 * 3600},
		{in: "01:00", bad: true},
		{in: "+1:00", bad: true},
		{in: "UTC", bad: true},
	} {
		zone, err := parseUTCOffset(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("parseUTCOffset(%q) error %v, bad=%v", tc.in, err, tc.bad)
			continue
		}
		if tc.bad {
			continue
		}
		if _, off := time.Date(2026, 1, 1, 0, 0, 0, 0, zone).Zone(); off != tc.offset {
			t.Errorf("parseUTCOffset(%q) offset %d, want %d", tc.in, off, tc.offset)
		}
	}
}

func TestWeeklyWindowOpenAt(t *testing.T) {
	mustWeekly := func(days []string, start string, length time.Duration, offset string) weekly {
		w, err := parseWeekly(days, start, length, offset)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	nightly := mustWeekly(nil, "22:00", 4*time.Hour, "")
	mondayNight := mustWeekly([]string{"Monday"}, "22:00", 4*time.Hour, "")
	berlinMorning := mustWeekly([]string{"Tuesday"}, "09:00", time.Hour, "+01:00")
	newYorkLate := mustWeekly([]string{"Friday"}, "23:30", 90*time.Minute, "-05:00")
	weekend := mustWeekly([]string{"Saturday"}, "00:00", 48*time.Hour, "")
	allWeek := mustWeekly([]string{"Monday"}, "00:00", week, "")

	for _, tc := range []struct {
		name   string
		w      weekly
		at     string
		open   bool
		closes string
	}{
		{"before a nightly window", nightly, "2026-11-23 21:59", false, ""},
		{"at its opening", nightly, "2026-11-23 22:00", true, "2026-11-24 02:00"},
		{"after midnight, inside yesterday's window", nightly, "2026-11-24 01:59", true, "2026-11-24 02:00"},
		{"at its closing", nightly, "2026-11-24 02:00", false, ""},
		{"Monday's window crosses into Tuesday", mondayNight, "2026-11-24 01:00", true, "2026-11-24 02:00"},
		{"but Tuesday night is closed", mondayNight, "2026-11-24 23:00", false, ""},
		{"UTC+1 09:00 is 08:00 UTC", berlinMorning, "2026-11-24 08:00", true, "2026-11-24 09:00"},
		{"UTC+1 window, 07:59 UTC", berlinMorning, "2026-11-24 07:59", false, ""},
		{"UTC+1 window, 09:00 UTC is closed", berlinMorning, "2026-11-24 09:00", false, ""},
		{"UTC-5 Friday 23:30 is Saturday 04:30 UTC", newYorkLate, "2026-11-28 04:30", true, "2026-11-28 06:00"},
		{"UTC-5 window, Friday UTC evening is closed", newYorkLate, "2026-11-27 23:45", false, ""},
		{"a 48h weekend window, Sunday", weekend, "2026-11-29 12:00", true, "2026-11-30 00:00"},
		{"a 48h weekend window, Monday", weekend, "2026-11-30 00:00", false, ""},
		{"a week-long window is always open", allWeek, "2026-11-29 23:59", true, "2026-11-30 00:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open, closes := tc.w.openAt(at(t, tc.at))
			if open != tc.open {
				t.Fatalf("open = %v, want %v", open, tc.open)
			}
			if tc.open && !closes.Equal(at(t, tc.closes)) {
				t.Fatalf("closes %s, want %s", closes.UTC(), tc.closes)
			}
		})
	}
}

func TestNextScheduledStart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		schedule fleetv1.GateSchedule
		from     string
		want     string
	}{
		{"later today", fleetv1.GateSchedule{StartTime: "14:00"}, "2026-11-23 10:00", "2026-11-23 14:00"},
		{"exactly now counts", fleetv1.GateSchedule{StartTime: "10:00"}, "2026-11-23 10:00", "2026-11-23 10:00"},
		{"passed today, so tomorrow", fleetv1.GateSchedule{StartTime: "09:00"}, "2026-11-23 10:00", "2026-11-24 09:00"},
		{"next Tuesday", fleetv1.GateSchedule{DaysOfWeek: []string{"Tuesday"}, StartTime: "09:30"}, "2026-11-23 10:00", "2026-11-24 09:30"},
		{"a week later when this slot passed", fleetv1.GateSchedule{DaysOfWeek: []string{"Monday"}, StartTime: "09:30"}, "2026-11-23 10:00", "2026-11-30 09:30"},
		{"the first of several days", fleetv1.GateSchedule{DaysOfWeek: []string{"Friday", "Wednesday"}, StartTime: "06:00"}, "2026-11-23 10:00", "2026-11-25 06:00"},
		{"UTC offset +01:00", fleetv1.GateSchedule{StartTime: "09:30", UTCOffset: "+01:00"}, "2026-11-23 08:00", "2026-11-23 08:30"},
		{"UTC offset: local day differs from UTC day", fleetv1.GateSchedule{DaysOfWeek: []string{"Tuesday"}, StartTime: "01:00", UTCOffset: "+05:00"}, "2026-11-23 10:00", "2026-11-23 20:00"},
		{"negative offset, next local Monday", fleetv1.GateSchedule{DaysOfWeek: []string{"Monday"}, StartTime: "22:00", UTCOffset: "-08:00"}, "2026-11-24 05:00", "2026-11-24 06:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NextScheduledStart(tc.schedule, at(t, tc.from))
			if err != nil {
				t.Fatal(err)
			}
			if want := at(t, tc.want); !got.Equal(want) {
				t.Fatalf("got %s, want %s", got.UTC(), want)
			}
		})
	}
	if _, err := NextScheduledStart(fleetv1.GateSchedule{StartTime: "25:00"}, t0); err == nil {
		t.Fatal("a bad start time was accepted")
	}
	if _, err := NextScheduledStart(fleetv1.GateSchedule{StartTime: "10:00", DaysOfWeek: []string{"Funday"}}, t0); err == nil {
		t.Fatal("a bad day was accepted")
	}
}

func TestMemberAvailability(t *testing.T) {
	mt := func(s string) *metav1.Time { v := metav1.NewTime(at(t, s)); return &v }
	eu := Member{Name: "eu-1", Labels: map[string]string{"region": "eu"}}
	us := Member{Name: "us-1", Labels: map[string]string{"region": "us"}}
	euOnly := &metav1.LabelSelector{MatchLabels: map[string]string{"region": "eu"}}
	nightlyEU := fleetv1.MaintenanceWindow{Name: "eu-nights", WeeklyWindow: fleetv1.WeeklyWindow{StartTime: "22:00", DurationMinutes: 240}, MemberSelector: euOnly}
	blackFriday := fleetv1.FreezeWindow{Name: "black-friday", From: mt("2026-11-27 00:00"), Until: mt("2026-12-01 00:00")}
	cyberMonday := fleetv1.FreezeWindow{Name: "cyber-monday", From: mt("2026-11-30 12:00"), Until: mt("2026-12-02 00:00")}
	fridays := fleetv1.FreezeWindow{Name: "fridays", WeeklyWindow: fleetv1.WeeklyWindow{DaysOfWeek: []string{"Friday"}, StartTime: "00:00", DurationMinutes: 1440}}

	for _, tc := range []struct {
		name   string
		spec   fleetv1.UpdateStrategySpec
		member Member
		at     string
		open   bool
		until  string
		reason string
	}{
		{"no windows: always open", fleetv1.UpdateStrategySpec{}, eu, "2026-11-23 12:00", true, "", ""},
		{"maintenance window closed", fleetv1.UpdateStrategySpec{MaintenanceWindows: []fleetv1.MaintenanceWindow{nightlyEU}}, eu, "2026-11-23 12:00", false, "2026-11-23 22:00", "outside its maintenance windows"},
		{"maintenance window open", fleetv1.UpdateStrategySpec{MaintenanceWindows: []fleetv1.MaintenanceWindow{nightlyEU}}, eu, "2026-11-24 01:00", true, "", ""},
		{"a window for other members does not apply", fleetv1.UpdateStrategySpec{MaintenanceWindows: []fleetv1.MaintenanceWindow{nightlyEU}}, us, "2026-11-23 12:00", true, "", ""},
		{"one-off freeze", fleetv1.UpdateStrategySpec{FreezeWindows: []fleetv1.FreezeWindow{blackFriday}}, us, "2026-11-28 12:00", false, "2026-12-01 00:00", "inside freeze window black-friday"},
		{"overlapping freezes chain", fleetv1.UpdateStrategySpec{FreezeWindows: []fleetv1.FreezeWindow{blackFriday, cyberMonday}}, us, "2026-11-28 12:00", false, "2026-12-02 00:00", "black-friday"},
		{"freeze ended", fleetv1.UpdateStrategySpec{FreezeWindows: []fleetv1.FreezeWindow{blackFriday}}, us, "2026-12-01 00:00", true, "", ""},
		{"freeze wins over an open maintenance window", fleetv1.UpdateStrategySpec{MaintenanceWindows: []fleetv1.MaintenanceWindow{nightlyEU}, FreezeWindows: []fleetv1.FreezeWindow{blackFriday}}, eu, "2026-11-27 23:00", false, "2026-12-01 00:00", "freeze"},
		{"weekly freeze", fleetv1.UpdateStrategySpec{FreezeWindows: []fleetv1.FreezeWindow{fridays}}, eu, "2026-11-27 08:00", false, "2026-11-28 00:00", "inside freeze window fridays"},
		{"weekly freeze, other day", fleetv1.UpdateStrategySpec{FreezeWindows: []fleetv1.FreezeWindow{fridays}}, eu, "2026-11-26 08:00", true, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			av, err := MemberAvailability(tc.spec, tc.member, at(t, tc.at))
			if err != nil {
				t.Fatal(err)
			}
			if av.Open != tc.open {
				t.Fatalf("open = %v, want %v (%s)", av.Open, tc.open, av.Reason)
			}
			if tc.open {
				return
			}
			if !av.Until.Equal(at(t, tc.until)) {
				t.Errorf("until %s, want %s", av.Until.UTC(), tc.until)
			}
			if !strings.Contains(av.Reason, tc.reason) || !strings.Contains(av.Reason, formatTime(av.Until)) {
				t.Errorf("reason %q, want it to mention %q and until when", av.Reason, tc.reason)
			}
		})
	}
}

func TestFreezeThatNeverEndsIsBounded(t *testing.T) {
	spec := fleetv1.UpdateStrategySpec{FreezeWindows: []fleetv1.FreezeWindow{{WeeklyWindow: fleetv1.WeeklyWindow{StartTime: "00:00", DurationMinutes: 1440}}}}
	av, err := MemberAvailability(spec, Member{Name: "m"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if av.Open || !av.Until.After(t0) {
		t.Fatalf("got %+v, want closed until some later time", av)
	}
	if !strings.Contains(av.Reason, "freeze window 1") {
		t.Fatalf("reason %q, want it to name the unnamed window by position", av.Reason)
	}
}
