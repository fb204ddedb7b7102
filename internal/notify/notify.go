// Package notify delivers an update run's transitions to the webhooks its
// strategy names: a JSON event per transition, signed with an HMAC when the
// webhook has a secret, retried with backoff, and never in the run's way
// (a full queue drops events, and says so in the log).
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Event is what a webhook receives.
type Event struct {
	// Type is the transition, as the run's Kubernetes Events name it
	// (StageCompleted, RunFailed, GatePending, ...).
	Type      string    `json:"type"`
	UpdateRun string    `json:"updateRun"`
	Kind      string    `json:"kind"`
	Path      string    `json:"path"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to"`
	Message   string    `json:"message,omitempty"`
	Time      time.Time `json:"time"`
}

// Target is one webhook and what it asked for.
type Target struct {
	URL string
	// Events it wants; empty means all.
	Events []string
	// Secret signs the body; nil sends it unsigned.
	Secret []byte
}

// Wants reports whether t asked for events of this type.
func (t Target) Wants(eventType string) bool {
	return len(t.Events) == 0 || slices.Contains(t.Events, eventType)
}

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body
// under the webhook's secret.
const SignatureHeader = "X-Flotilla-Signature-256"

// Sign is the SignatureHeader value of body under secret.
func Sign(body, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is body's under secret, for receivers.
func Verify(body, secret []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(body, secret)), []byte(signature))
}

// Backoff is the wait before each retry of a delivery.
var Backoff = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

const (
	// queueSize bounds the deliveries waiting; past it events are dropped.
	queueSize = 1000
	// attemptTimeout bounds one POST.
	attemptTimeout = 10 * time.Second
)

type delivery struct {
	target Target
	event  Event
	id     string
}

// Notifier sends events from one goroutine per delivery in flight, at most
// Workers at a time. Its zero value is not usable: use New.
type Notifier struct {
	client  *http.Client
	log     logr.Logger
	backoff []time.Duration
	queue   chan delivery
	once    sync.Once
	workers int
}

// New is a notifier that logs to log.
func New(log logr.Logger) *Notifier {
	return &Notifier{
		client:  &http.Client{Timeout: attemptTimeout},
		log:     log,
		backoff: Backoff,
		queue:   make(chan delivery, queueSize),
		workers: 4,
	}
}

// Send queues event for each target that wants it, and returns at once.
func (n *Notifier) Send(ctx context.Context, targets []Target, event Event) {
	n.once.Do(func() {
		for range n.workers {
			go n.work(context.WithoutCancel(ctx))
		}
	})
	for _, t := range targets {
		if !t.Wants(event.Type) {
			continue
		}
		select {
		case n.queue <- delivery{target: t, event: event, id: newDeliveryID()}:
		default:
			n.log.Info("notification queue full: event dropped", "url", t.URL, "event", event.Type, "updateRun", event.UpdateRun)
		}
	}
}

func (n *Notifier) work(ctx context.Context) {
	for d := range n.queue {
		n.deliver(ctx, d)
	}
}

// deliver POSTs one event until the webhook takes it (2xx) or the retries
// are used up.
func (n *Notifier) deliver(ctx context.Context, d delivery) {
	body, err := json.Marshal(d.event)
	if err != nil {
		n.log.Error(err, "encoding a notification")
		return
	}
	for attempt := 0; ; attempt++ {
		err := n.post(ctx, d, body)
		if err == nil {
			return
		}
		if attempt >= len(n.backoff) {
			n.log.Error(err, "notification not delivered; giving up", "url", d.target.URL, "event", d.event.Type, "updateRun", d.event.UpdateRun, "attempts", attempt+1)
			return
		}
		n.log.Info("notification not delivered; retrying", "url", d.target.URL, "event", d.event.Type, "error", err.Error(), "in", n.backoff[attempt])
		time.Sleep(n.backoff[attempt])
	}
}

func (n *Notifier) post(ctx context.Context, d delivery, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.target.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "flotilla-hub")
	req.Header.Set("X-Flotilla-Event", d.event.Type)
	req.Header.Set("X-Flotilla-Delivery", d.id)
	if d.target.Secret != nil {
		req.Header.Set(SignatureHeader, Sign(body, d.target.Secret))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}

// newDeliveryID names one delivery, the same across its retries, so a
// receiver can drop duplicates.
func newDeliveryID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}
