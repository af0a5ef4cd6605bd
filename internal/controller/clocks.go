package controller

import (
	"hash/fnv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// discoveryClock remembers when each container was last discovered, so a Ready container is
// looked at over SSH once per resync, not at every reconcile.
type discoveryClock struct {
	mu   sync.Mutex
	seen map[types.UID]discoveryMark
}

type discoveryMark struct {
	key string
	at  time.Time
}

func (c *discoveryClock) fresh(uid types.UID, key string, maxAge time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.seen[uid]
	return ok && m.key == key && time.Since(m.at) < maxAge
}

func (c *discoveryClock) mark(uid types.UID, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[types.UID]discoveryMark{}
	}
	c.seen[uid] = discoveryMark{key: key, at: time.Now()}
}

// age is how long ago uid was marked; zero when it never was.
func (c *discoveryClock) age(uid types.UID) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.seen[uid]; ok {
		return time.Since(m.at)
	}
	return 0
}

// key is what uid was last marked with; empty when it never was.
func (c *discoveryClock) key(uid types.UID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[uid].key
}

func (c *discoveryClock) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, uid)
}

// spreadFullChecks starts each container's full-check clock at a point of the period given by
// its UID, so that after a restart the manager's full checks are spread over the period
// instead of all falling due at once.
func (c *discoveryClock) spread(uid types.UID, period time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[uid]; ok {
		return
	}
	if c.seen == nil {
		c.seen = map[types.UID]discoveryMark{}
	}
	h := fnv.New64a()
	h.Write([]byte(uid))
	c.seen[uid] = discoveryMark{at: time.Now().Add(-time.Duration(h.Sum64() % uint64(period)))}
}

// uidSet is a set of containers, safe for concurrent use.
type uidSet struct {
	mu  sync.Mutex
	set map[types.UID]struct{}
}

func (u *uidSet) add(uid types.UID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.set == nil {
		u.set = map[types.UID]struct{}{}
	}
	u.set[uid] = struct{}{}
}

func (u *uidSet) has(uid types.UID) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.set[uid]
	return ok
}

func (u *uidSet) remove(uid types.UID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.set, uid)
}
