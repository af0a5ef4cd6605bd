package outcome

import (
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
)

// maxEventNote is the longest note the events API accepts.
const maxEventNote = 1024

// EventNote shortens a message to fit an Event, keeping its start, which names what happened.
func EventNote(msg string) string {
	if len(msg) <= maxEventNote {
		return msg
	}
	cut := maxEventNote - len("…")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

// EventRepeatWindow is how long an Event identical to one already emitted for the same object
// is held back: a failure retried on the back-off schedule says so once, not on every attempt
// (the condition carries the attempt count).
const EventRepeatWindow = 10 * time.Minute

// eventRecorder shortens every note to what the events API accepts, so that no Event is lost
// for being too long, and drops repeats of an Event within EventRepeatWindow.
type eventRecorder struct {
	events.EventRecorder

	mu   sync.Mutex
	seen map[eventKey]time.Time
}

type eventKey struct {
	uid                       types.UID
	eventtype, reason, action string
	note                      string
}

// WithShortNotes wraps r once in a recorder that fits notes to the events API and holds back
// repeats.
func WithShortNotes(r events.EventRecorder) events.EventRecorder {
	if _, ok := r.(*eventRecorder); ok || r == nil {
		return r
	}
	return &eventRecorder{EventRecorder: r, seen: map[eventKey]time.Time{}}
}

func (e *eventRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	text := EventNote(fmt.Sprintf(note, args...))
	if m, ok := regarding.(metav1.Object); ok && e.repeated(eventKey{m.GetUID(), eventtype, reason, action, text}, time.Now()) {
		return
	}
	e.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", text)
}

// repeated records k and reports whether it was seen within the window.
func (e *eventRecorder) repeated(k eventKey, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if last, ok := e.seen[k]; ok && now.Sub(last) < EventRepeatWindow {
		return true
	}
	if len(e.seen) >= 4096 {
		for key, t := range e.seen {
			if now.Sub(t) >= EventRepeatWindow {
				delete(e.seen, key)
			}
		}
	}
	e.seen[k] = now
	return false
}
