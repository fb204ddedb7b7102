// Package upgrade upgrades member clusters through upgrade providers: it
// reads a member's versions from its API, starts an upgrade idempotently and
// reports its progress. Providers are registered by type (Providers) at the
// composition root; this package brings Exec (an operator's command per
// member) and CommandProvider, on which command-driven providers such as
// local fleets' Local provider are built.
package upgrade
