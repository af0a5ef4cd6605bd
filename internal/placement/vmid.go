package placement

import (
	"context"
	"fmt"
	"sync"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// VMIDs hands out VMIDs for new containers. Proxmox's nextid does not reserve, so the
// allocator remembers what it handed out until the create call took it, and concurrent workers
// never get the same VMID.
type VMIDs struct {
	mu      sync.Mutex
	pending map[string]map[int]time.Time
}

// vmidReservation is how long an allocated VMID stays reserved without a create call.
const vmidReservation = 5 * time.Minute

func (a *VMIDs) Allocate(ctx context.Context, cluster string, px proxmox.Client) (int, error) {
	// The lock guards the reservations only, never a request: workers of other clusters, and
	// of this one, allocate while one waits for Proxmox.
	id, err := px.NextVMID(ctx)
	if err != nil {
		return 0, err
	}
	for tries := 0; tries < 1000; tries++ {
		if a.reserve(cluster, id) {
			if tries == 0 {
				return id, nil
			}
			free, err := px.VMIDFree(ctx, id)
			if err != nil || free {
				if err != nil {
					a.Release(cluster, id)
				}
				return id, err
			}
			a.Release(cluster, id)
		}
		id++
	}
	return 0, fmt.Errorf("no free VMID found after %d", id)
}

// reserve takes id for cluster unless another worker holds it.
func (a *VMIDs) reserve(cluster string, id int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		a.pending = map[string]map[int]time.Time{}
	}
	reserved := a.pending[cluster]
	if reserved == nil {
		reserved = map[int]time.Time{}
		a.pending[cluster] = reserved
	}
	for rid, at := range reserved {
		if time.Since(at) > vmidReservation {
			delete(reserved, rid)
		}
	}
	if _, taken := reserved[id]; taken {
		return false
	}
	reserved[id] = time.Now()
	return true
}

func (a *VMIDs) Release(cluster string, id int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pending[cluster], id)
}
