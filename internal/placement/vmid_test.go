package placement

import (
	"context"
	"sync"
	"testing"

	"templatemanager.dev/lxc-template-manager/internal/proxmox"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestVMIDAllocatorHandsOutEachVMIDOnce: workers allocating at once, none holding a lock
// across Proxmox requests, never get the same VMID.
func TestVMIDAllocatorHandsOutEachVMIDOnce(t *testing.T) {
	sim := pvesimtest.Start(t)
	px, err := proxmox.New(proxmox.Settings{
		Endpoint: sim.URL,
		Auth:     proxmox.Auth{TokenID: sim.TokenID, TokenSecret: sim.Secret},
		TLS:      proxmox.TLSSettings{CAPEM: sim.CAPEM},
	})
	if err != nil {
		t.Fatal(err)
	}
	var a VMIDs
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				id, err := a.Allocate(context.Background(), "pve", px)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("VMID %d handed out twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Errorf("%d VMIDs handed out, want 40", len(seen))
	}
}
