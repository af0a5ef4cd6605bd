package mirror

import (
	"sync"
	"time"
)

// kind is a kind of object the mirror keeps one row of.
type kind int

const (
	kindBucket kind = iota
	kindTemplate
	kindContainer
)

// objectKey names an object whose row is due: the writer reads its current state from the cache.
type objectKey struct {
	kind      kind
	namespace string
	name      string
}

// pendingEvent is an Event occurrence not yet written. Events are kept as seen, not read back
// from the cache, because the cache holds only an Event's newest occurrence.
type pendingEvent struct {
	row  row
	seen time.Time
}

// maxPendingEvents bounds the memory held for Events during a long outage; the resync after it
// reads the ones the API server still has.
const maxPendingEvents = 100000

// queue holds what changed since the last write. Changes to one object coalesce, keeping the
// time of the first, so the lag covers the whole wait. Adding never blocks.
type queue struct {
	mu      sync.Mutex
	objects map[objectKey]time.Time
	events  map[eventKey]pendingEvent
	ready   chan struct{}
	depth   func(float64)
}

func newQueue(depth func(float64)) *queue {
	return &queue{
		objects: map[objectKey]time.Time{},
		events:  map[eventKey]pendingEvent{},
		ready:   make(chan struct{}, 1),
		depth:   depth,
	}
}

func (q *queue) addObject(k objectKey, seen time.Time) {
	q.mu.Lock()
	if t, ok := q.objects[k]; !ok || seen.Before(t) {
		q.objects[k] = seen
	}
	q.changed()
	q.mu.Unlock()
}

func (q *queue) addEvent(k eventKey, e pendingEvent) {
	q.mu.Lock()
	if _, ok := q.events[k]; !ok && len(q.events) < maxPendingEvents {
		q.events[k] = e
	}
	q.changed()
	q.mu.Unlock()
}

// changed reports the depth and wakes the writer; q.mu is held.
func (q *queue) changed() {
	q.depth(float64(len(q.objects) + len(q.events)))
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take removes up to n objects and n events.
func (q *queue) take(n int) (map[objectKey]time.Time, map[eventKey]pendingEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	objs := make(map[objectKey]time.Time, min(n, len(q.objects)))
	for k, t := range q.objects {
		if len(objs) == n {
			break
		}
		objs[k] = t
		delete(q.objects, k)
	}
	evs := make(map[eventKey]pendingEvent, min(n, len(q.events)))
	for k, e := range q.events {
		if len(evs) == n {
			break
		}
		evs[k] = e
		delete(q.events, k)
	}
	q.depth(float64(len(q.objects) + len(q.events)))
	return objs, evs
}

// putBack returns what a failed write took, keeping the earlier time of a change seen since.
func (q *queue) putBack(objs map[objectKey]time.Time, evs map[eventKey]pendingEvent) {
	for k, t := range objs {
		q.addObject(k, t)
	}
	for k, e := range evs {
		q.addEvent(k, e)
	}
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.objects) + len(q.events)
}
