// Package upgrade upgrades member clusters through upgrade providers: it
// reads a member's versions from its API, starts an upgrade idempotently and
// reports its progress. Providers: Exec (an operator's command per member)
// and Local (local fleets, through `flotilla local upgrade-member`).
package upgrade
