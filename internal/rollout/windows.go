package rollout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

const week = 7 * 24 * time.Hour

var weekdays = map[string]time.Weekday{
	"Sunday": time.Sunday, "Monday": time.Monday, "Tuesday": time.Tuesday, "Wednesday": time.Wednesday,
	"Thursday": time.Thursday, "Friday": time.Friday, "Saturday": time.Saturday,
}

// weekly is a parsed weekly recurrence: it opens at start (after local
// midnight) on each allowed day and stays open for length.
type weekly struct {
	days   [7]bool
	start  time.Duration
	length time.Duration
	zone   *time.Location
}

// parseClock reads HH:mm as a duration after midnight.
func parseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	hours, err1 := strconv.Atoi(h)
	minutes, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || hours > 23 || minutes > 59 || hours < 0 || minutes < 0 {
		return 0, fmt.Errorf("time %q is not HH:mm", s)
	}
	return time.Duration(hours)*time.Hour + time.Duration(minutes)*time.Minute, nil
}

// parseUTCOffset reads +HH:mm or -HH:mm (empty means UTC) as a fixed zone:
// windows do not follow daylight saving time.
func parseUTCOffset(s string) (*time.Location, error) {
	if s == "" {
		return time.UTC, nil
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') {
		return nil, fmt.Errorf("UTC offset %q is not +HH:mm or -HH:mm", s)
	}
	d, err := parseClock(s[1:])
	if err != nil {
		return nil, fmt.Errorf("UTC offset %q is not +HH:mm or -HH:mm", s)
	}
	seconds := int(d.Seconds())
	if s[0] == '-' {
		seconds = -seconds
	}
	return time.FixedZone("UTC"+s, seconds), nil
}

func parseDays(names []string) ([7]bool, error) {
	var days [7]bool
	if len(names) == 0 {
		return [7]bool{true, true, true, true, true, true, true}, nil
	}
	for _, n := range names {
		d, ok := weekdays[n]
		if !ok {
			return days, fmt.Errorf("%q is not a day of the week (Monday ... Sunday)", n)
		}
		days[d] = true
	}
	return days, nil
}

func parseWeekly(days []string, startTime string, length time.Duration, utcOffset string) (weekly, error) {
	var w weekly
	var err error
	if w.days, err = parseDays(days); err != nil {
		return w, err
	}
	if w.start, err = parseClock(startTime); err != nil {
		return w, err
	}
	if w.zone, err = parseUTCOffset(utcOffset); err != nil {
		return w, err
	}
	if length < 0 || length > week {
		return w, fmt.Errorf("duration %s is not between 0 and a week", length)
	}
	w.length = length
	return w, nil
}

// midnight is the start of t's day in zone.
func midnight(t time.Time, zone *time.Location) time.Time {
	local := t.In(zone)
	return time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, zone)
}

// openAt reports whether t is inside an occurrence of the window, and when
// the latest occurrence containing t closes. Occurrences that opened up to a
// week ago may still be open, which covers windows crossing midnight.
func (w weekly) openAt(t time.Time) (bool, time.Time) {
	day := midnight(t, w.zone)
	open, closes := false, time.Time{}
	for back := 0; back <= 7; back++ {
		d := day.AddDate(0, 0, -back)
		if !w.days[d.Weekday()] {
			continue
		}
		start := d.Add(w.start)
		end := start.Add(w.length)
		if !t.Before(start) && t.Before(end) {
			open = true
			if end.After(closes) {
				closes = end
			}
		}
	}
	return open, closes
}

// nextStart is the first occurrence start at or after t.
func (w weekly) nextStart(t time.Time) time.Time {
	day := midnight(t, w.zone)
	for fwd := 0; fwd <= 8; fwd++ {
		d := day.AddDate(0, 0, fwd)
		if !w.days[d.Weekday()] {
			continue
		}
		if start := d.Add(w.start); !start.Before(t) {
			return start
		}
	}
	return time.Time{} // unreachable: some day of any 8 days is allowed
}

// NextScheduledStart is when a ScheduledStart gate reached at from opens:
// the first slot at or after from on one of the schedule's days, at its
// start time in its UTC offset.
func NextScheduledStart(s fleetv1.GateSchedule, from time.Time) (time.Time, error) {
	w, err := parseWeekly(s.DaysOfWeek, s.StartTime, 0, s.UTCOffset)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule: %w", err)
	}
	return w.nextStart(from), nil
}

// Availability says whether a member's upgrade may start at a moment.
type Availability struct {
	Open bool
	// Until is, when closed, the earliest time it may open (zero: unknown).
	Until time.Time
	// Reason says, when closed, why and until when.
	Reason string
}

// memberWindows is a strategy's maintenance and freeze windows, parsed once.
type memberWindows struct {
	maintenance []window
	freezes     []window
}

type window struct {
	name     string
	selector labels.Selector // nil: every member
	weekly   *weekly
	// from and until bound a one-off freeze.
	from, until time.Time
}

func (w *window) appliesTo(memberLabels map[string]string) bool {
	return w.selector == nil || w.selector.Matches(labels.Set(memberLabels))
}

func (w *window) contains(t time.Time) (bool, time.Time) {
	if w.weekly != nil {
		return w.weekly.openAt(t)
	}
	return !t.Before(w.from) && t.Before(w.until), w.until
}

func (w *window) label(kind string, index int) string {
	if w.name != "" {
		return kind + " " + w.name
	}
	return fmt.Sprintf("%s %d", kind, index+1)
}

func compileWindows(spec fleetv1.UpdateStrategySpec) (memberWindows, error) {
	var ws memberWindows
	for i, mw := range spec.MaintenanceWindows {
		w, err := parseWeekly(mw.DaysOfWeek, mw.StartTime, time.Duration(mw.DurationMinutes)*time.Minute, mw.UTCOffset)
		if err != nil {
			return ws, fmt.Errorf("maintenanceWindows[%d]: %w", i, err)
		}
		if mw.DurationMinutes <= 0 {
			return ws, fmt.Errorf("maintenanceWindows[%d]: durationMinutes must be at least 1", i)
		}
		sel, err := optionalSelector(mw.MemberSelector)
		if err != nil {
			return ws, fmt.Errorf("maintenanceWindows[%d]: memberSelector: %w", i, err)
		}
		ws.maintenance = append(ws.maintenance, window{name: mw.Name, selector: sel, weekly: &w})
	}
	for i, fw := range spec.FreezeWindows {
		sel, err := optionalSelector(fw.MemberSelector)
		if err != nil {
			return ws, fmt.Errorf("freezeWindows[%d]: memberSelector: %w", i, err)
		}
		f := window{name: fw.Name, selector: sel}
		switch {
		case fw.StartTime != "" && fw.From == nil && fw.Until == nil:
			w, err := parseWeekly(fw.DaysOfWeek, fw.StartTime, time.Duration(fw.DurationMinutes)*time.Minute, fw.UTCOffset)
			if err != nil {
				return ws, fmt.Errorf("freezeWindows[%d]: %w", i, err)
			}
			if fw.DurationMinutes <= 0 {
				return ws, fmt.Errorf("freezeWindows[%d]: durationMinutes must be at least 1", i)
			}
			f.weekly = &w
		case fw.StartTime == "" && fw.From != nil && fw.Until != nil:
			if !fw.Until.After(fw.From.Time) {
				return ws, fmt.Errorf("freezeWindows[%d]: until must be after from", i)
			}
			f.from, f.until = fw.From.Time, fw.Until.Time
		default:
			return ws, fmt.Errorf("freezeWindows[%d]: set either startTime and durationMinutes, or from and until", i)
		}
		ws.freezes = append(ws.freezes, f)
	}
	return ws, nil
}

func optionalSelector(ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil {
		return nil, nil
	}
	return metav1.LabelSelectorAsSelector(ls)
}

// availability applies the windows to one member at t. A freeze wins over a
// maintenance window; a member no maintenance window applies to is open
// whenever it is not frozen. Only the start of an upgrade is gated: one that
// started in a window may run past its end.
func (ws *memberWindows) availability(memberLabels map[string]string, t time.Time) Availability {
	if until, name, frozen := ws.frozenUntil(memberLabels, t); frozen {
		return Availability{Until: until, Reason: fmt.Sprintf("inside %s until %s", name, formatTime(until))}
	}
	var next time.Time
	applicable := false
	for i := range ws.maintenance {
		w := &ws.maintenance[i]
		if !w.appliesTo(memberLabels) {
			continue
		}
		applicable = true
		if open, _ := w.contains(t); open {
			return Availability{Open: true}
		}
		if s := w.weekly.nextStart(t); next.IsZero() || s.Before(next) {
			next = s
		}
	}
	if !applicable {
		return Availability{Open: true}
	}
	return Availability{Until: next, Reason: "outside its maintenance windows until " + formatTime(next)}
}

// frozenUntil reports whether a freeze covers t, and when the freeze ends,
// following freezes that overlap or touch one another.
func (ws *memberWindows) frozenUntil(memberLabels map[string]string, t time.Time) (time.Time, string, bool) {
	until, name := t, ""
	// Bounded: a freeze that never ends (e.g. every day, all day) reports
	// the end of the chain as far as it was followed.
	for hops := 0; hops < 64; hops++ {
		extended := false
		for i := range ws.freezes {
			f := &ws.freezes[i]
			if !f.appliesTo(memberLabels) {
				continue
			}
			if in, end := f.contains(until); in && end.After(until) {
				if name == "" {
					name = f.label("freeze window", i)
				}
				until, extended = end, true
			}
		}
		if !extended {
			break
		}
	}
	return until, name, name != ""
}

// MemberAvailability says whether the strategy's maintenance and freeze
// windows let the member's upgrade start at t.
func MemberAvailability(spec fleetv1.UpdateStrategySpec, m Member, t time.Time) (Availability, error) {
	ws, err := compileWindows(spec)
	if err != nil {
		return Availability{}, err
	}
	return ws.availability(m.Labels, t), nil
}

func (ws *memberWindows) empty() bool {
	return len(ws.maintenance) == 0 && len(ws.freezes) == 0
}

// formatTime renders a time for messages, in UTC, to the minute.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 MST")
}
