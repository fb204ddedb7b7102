// Package rollout is Flotilla's staged-rollout engine: given a strategy,
// the members, the recorded status, fresh observations and the time, Step
// computes the next status and the actions to take. It does no I/O, starts
// no goroutines and never reads the clock, so it is deterministic: the
// controllers around it do the I/O, and tests drive it with a fake fleet.
//
// The vocabulary is generic (members are named units with labels and an
// update group) so that placement rollouts can use it as well as update runs.
//
// # Semantics
//
// Stages run in order. A stage starts when its before gates have passed; its
// groups then run in parallel, each upgrading one member at a time unless
// its maxConcurrency says more, and the stage's maxConcurrency caps the sum.
// When every group is done (members, after-group checks, after gates), the
// stage's checks run, then its after-stage wait and after gates run side by
// side; the next stage starts when both are over, in the same step.
//
// A member already at the target is Skipped. A member refused by version
// safety (MemberObservation.Blocked) fails. A member held by another run,
// outside its maintenance windows or inside a freeze is Pending, and its
// group moves on to other members, coming back to it when it may start.
//
// A failed member moves the run to Stopping (nothing new starts, upgrades in
// flight finish) and then to Failed, unless the failure budgets tolerate it:
// a group's maxAllowedFailures and its stage's apply where set, and when
// neither is set no failure is tolerated. A failing group or stage health
// check fails its group or stage, and so the run.
//
// Asking a run to stop moves it to Stopping, then Stopped. Starting a Stopped
// run, or a Failed one with a new start request, resumes it: Completed and
// Skipped members stay as they are, members whose upgrade failed are
// retried, and members whose checks failed have their checks run again. To
// accept a failure instead, skip the member first. A Completed run cannot be
// started again (CheckTransition).
//
// # Use from a controller
//
// A reconcile gathers observations, steps the engine, carries out the
// actions, writes the status back and steps again when the world changes or
// at [Result.NextStepAt]. Example (example_test.go) shows that loop, compiled
// and with its output checked by `go test`.
//
// Once the status says a member is Running the engine never asks for its
// upgrade again, so a crash between writing the status and starting the
// upgrade must not lose the start. Either start upgrades before writing the
// status (the provider's Start being idempotent, a crash replays the same
// start), or write first and have the observation of a Running member
// (re)start its upgrade idempotently, as the UpdateRun controller does.
package rollout
