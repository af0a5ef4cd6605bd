package controller

import (
	"context"
	"sync"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// GuestCache holds each cluster's guest list from one bulk /cluster/resources read, so that
// checking a fleet of Ready containers for drift costs one request per cluster per MaxAge, not
// one per container.
type GuestCache struct {
	// MaxAge is how old a list may be before it is read again.
	MaxAge time.Duration

	mu       sync.Mutex
	clusters map[string]*guestList
}

type guestList struct {
	mu     sync.Mutex
	readAt time.Time
	byVMID map[int]proxmox.Guest
}

// Lookup returns the guest with vmid from the cluster's list, reading the list when it is older
// than MaxAge. Concurrent lookups share one read.
func (c *GuestCache) Lookup(ctx context.Context, cluster string, px proxmox.Client, vmid int) (proxmox.Guest, bool, error) {
	c.mu.Lock()
	if c.clusters == nil {
		c.clusters = map[string]*guestList{}
	}
	l := c.clusters[cluster]
	if l == nil {
		l = &guestList{}
		c.clusters[cluster] = l
	}
	c.mu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.readAt) > c.MaxAge || l.byVMID == nil {
		guests, err := px.Guests(ctx)
		if err != nil {
			return proxmox.Guest{}, false, err
		}
		l.byVMID = make(map[int]proxmox.Guest, len(guests))
		for _, g := range guests {
			if g.IsContainer() {
				l.byVMID[g.VMID] = g
			}
		}
		l.readAt = time.Now()
	}
	g, ok := l.byVMID[vmid]
	return g, ok, nil
}

// Forget drops a cluster's list, e.g. after the controller changed a container's power state.
func (c *GuestCache) Forget(cluster string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.clusters, cluster)
}
