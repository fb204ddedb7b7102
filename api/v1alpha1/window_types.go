package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WeeklyWindow is a span of time that recurs every week: it opens at
// startTime on each of daysOfWeek and stays open durationMinutes, so a window
// may cross midnight (22:00 for 240 minutes ends at 02:00 the next day).
type WeeklyWindow struct {
	// DaysOfWeek the window opens on; empty means every day.
	// +kubebuilder:validation:MaxItems=7
	// +kubebuilder:validation:items:Enum=Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday
	// +optional
	DaysOfWeek []string `json:"daysOfWeek,omitempty"`
	// StartTime is when the window opens, HH:mm on a 24-hour clock.
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	// +optional
	StartTime string `json:"startTime,omitempty"`
	// DurationMinutes is how long the window stays open, at most a week.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10080
	// +optional
	DurationMinutes int32 `json:"durationMinutes,omitempty"`
	// UTCOffset of startTime, e.g. +01:00; empty means UTC. Offsets are fixed:
	// a window does not follow daylight saving time.
	// +kubebuilder:validation:Pattern=`^[+-]([01][0-9]|2[0-3]):[0-5][0-9]$`
	// +optional
	UTCOffset string `json:"utcOffset,omitempty"`
}

// MaintenanceWindow is a weekly window in which member upgrades may start.
// +kubebuilder:validation:XValidation:rule="has(self.startTime) && has(self.durationMinutes)",message="a maintenance window needs startTime and durationMinutes"
type MaintenanceWindow struct {
	// Name is shown in status messages.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Name         string `json:"name,omitempty"`
	WeeklyWindow `json:",inline"`
	// MemberSelector limits the window to the members whose labels match;
	// unset means every member.
	// +optional
	MemberSelector *metav1.LabelSelector `json:"memberSelector,omitempty"`
}

// FreezeWindow is a time in which no member upgrade may start: either weekly
// (startTime and durationMinutes) or once, from one moment until another.
// +kubebuilder:validation:XValidation:rule="has(self.startTime) == has(self.durationMinutes)",message="a weekly freeze window needs both startTime and durationMinutes"
// +kubebuilder:validation:XValidation:rule="has(self.from) == has(self.until)",message="a one-off freeze window needs both from and until"
// +kubebuilder:validation:XValidation:rule="has(self.startTime) != has(self.from)",message="a freeze window is either weekly (startTime, durationMinutes) or one-off (from, until)"
// +kubebuilder:validation:XValidation:rule="!has(self.from) || !has(self.until) || timestamp(self.until) > timestamp(self.from)",message="a freeze window must end (until) after it starts (from)"
// +kubebuilder:validation:XValidation:rule="has(self.startTime) || !has(self.daysOfWeek) && !has(self.utcOffset)",message="daysOfWeek and utcOffset only apply to a weekly freeze window"
type FreezeWindow struct {
	// Name is shown in status messages, e.g. black-friday.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Name         string `json:"name,omitempty"`
	WeeklyWindow `json:",inline"`
	// From is when a one-off freeze starts (RFC 3339).
	// +optional
	From *metav1.Time `json:"from,omitempty"`
	// Until is when a one-off freeze ends (RFC 3339).
	// +optional
	Until *metav1.Time `json:"until,omitempty"`
	// MemberSelector limits the freeze to the members whose labels match;
	// unset means every member.
	// +optional
	MemberSelector *metav1.LabelSelector `json:"memberSelector,omitempty"`
}
