package chaos

import (
	"strings"
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// OwnerScan counts, over the Proxmox containers of a fleet's clusters, the owner markers of the
// fleet's LXCContainers into its Result's Orphans, Duplicates and Missing. Markers are told apart
// by lxcv1.OwnerMarkerPrefix and compared with the markers the scenario expects whole, so a
// change of the marker's format makes the scan fail rather than find nothing.
type OwnerScan struct {
	r      *Result
	t      testing.TB
	owners map[string]string // marker → LXCContainer
	found  map[string]int
}

// ScanOwners starts a scan. owners maps the marker each LXCContainer of the fleet must be found
// by, as the controller writes it, to the LXCContainer's name.
func (r *Result) ScanOwners(t testing.TB, owners map[string]string) *OwnerScan {
	return &OwnerScan{r: r, t: t, owners: owners, found: map[string]int{}}
}

// Container reads the description of one Proxmox container; where names it for the log ("CT
// 100 on pve1"). A marker of no LXCContainer of the fleet is an orphan, and so is a container
// without any marker: the fleet's clusters are its own.
func (s *OwnerScan) Container(where, description string) {
	s.t.Helper()
	marked := false
	for _, line := range strings.Split(description, "\n") {
		if !strings.HasPrefix(line, lxcv1.OwnerMarkerPrefix) {
			continue
		}
		marked = true
		if _, ok := s.owners[line]; ok {
			s.found[line]++
			continue
		}
		s.r.Orphans++
		s.t.Logf("orphan: %s carries %q", where, line)
	}
	if !marked {
		s.r.Orphans++
		s.t.Logf("orphan: %s carries no owner marker: %q", where, description)
	}
}

// Done counts the LXCContainers whose marker more than one Proxmox container carries, and those
// whose marker none carries.
func (s *OwnerScan) Done() {
	s.t.Helper()
	for marker, name := range s.owners {
		switch n := s.found[marker]; {
		case n > 1:
			s.r.Duplicates++
			s.t.Logf("duplicate: %d Proxmox containers carry the marker of %s: %q", n, name, marker)
		case n == 0:
			s.r.Missing++
			s.t.Logf("missing: no Proxmox container carries the marker of %s: %q", name, marker)
		}
	}
}
