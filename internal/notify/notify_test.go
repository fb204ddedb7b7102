package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// receiver is a webhook that fails its first failures requests.
type receiver struct {
	mu       sync.Mutex
	failures int
	got      []Event
	sigs     []string
	ids      []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, req.Header.Get("X-Flotilla-Delivery"))
	if r.failures > 0 {
		r.failures--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !Verify(body, []byte("s3cret"), req.Header.Get(SignatureHeader)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.got = append(r.got, e)
	r.sigs = append(r.sigs, req.Header.Get(SignatureHeader))
}

func (r *receiver) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventsAreSignedRetriedAndFiltered(t *testing.T) {
	rcv := &receiver{failures: 2}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := New(logr.Discard())
	n.backoff = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	target := Target{URL: srv.URL, Events: []string{"StageCompleted", "RunFailed"}, Secret: []byte("s3cret")}
	n.Send(t.Context(), []Target{target}, Event{Type: "MemberRunning", UpdateRun: "r"})
	n.Send(t.Context(), []Target{target}, Event{Type: "StageCompleted", UpdateRun: "r", Kind: "Stage", Path: "canary", To: "Completed"})
	waitFor(t, "the event after two failures", func() bool { return len(rcv.events()) == 1 })
	got := rcv.events()[0]
	if got.Type != "StageCompleted" || got.Path != "canary" {
		t.Errorf("received %+v", got)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.ids) != 3 || rcv.ids[0] != rcv.ids[2] {
		t.Errorf("deliveries %v: want three tries of one delivery id", rcv.ids)
	}
}

func TestAWebhookThatNeverAnswersDoesNotHoldTheSender(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	n := New(logr.Discard())
	start := time.Now()
	for range queueSize + 10 {
		n.Send(t.Context(), []Target{{URL: srv.URL}}, Event{Type: "RunRunning"})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send took %s with a hanging webhook and a full queue", d)
	}
}

func TestSignAndVerify(t *testing.T) {
	sig := Sign([]byte(`{"type":"RunFailed"}`), []byte("k"))
	if !Verify([]byte(`{"type":"RunFailed"}`), []byte("k"), sig) || Verify([]byte(`{"type":"RunFailed "}`), []byte("k"), sig) || Verify([]byte(`{"type":"RunFailed"}`), []byte("other"), sig) {
		t.Fatal("signature does not bind the body and the key")
	}
	if want := "sha256="; sig[:len(want)] != want {
		t.Fatal(sig)
	}
}
