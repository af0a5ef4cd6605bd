package progressfeed

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// item is a message for one container.
type item struct {
	uid types.UID
	msg Message
}

// queue holds the messages not yet published, oldest first. It never blocks: at its limit, the
// oldest message goes, since the newest tell where a container is now.
type queue struct {
	mu      sync.Mutex
	items   []item
	limit   int
	dropped func()
	// ready has a value while items may be waiting.
	ready chan struct{}
}

func newQueue(limit int, dropped func()) *queue {
	return &queue{limit: limit, dropped: dropped, ready: make(chan struct{}, 1)}
}

func (q *queue) push(it item) {
	q.mu.Lock()
	if len(q.items) >= q.limit {
		q.items[0] = item{}
		q.items = q.items[1:]
		q.dropped()
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop takes the oldest message; ok is false when there is none.
func (q *queue) pop() (it item, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return item{}, false
	}
	it = q.items[0]
	q.items[0] = item{}
	q.items = q.items[1:]
	return it, true
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
