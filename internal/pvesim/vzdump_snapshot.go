package pvesim

import (
	"maps"
	"time"
)

// In snapshot mode vzdump takes a snapshot named vzdump of the container and removes it when
// the backup is done (pve-container VZDump/LXC.pm snapshot and cleanup); while the backup runs
// it shows in the config like any other snapshot.

func (s *Server) hasVzdumpSnapshot(ct *container) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ct.snapshot("vzdump") != nil
}

func (s *Server) addVzdumpSnapshot(ct *container, running bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conf := maps.Clone(ct.Conf)
	delete(conf, "lock")
	delete(conf, "parent")
	ct.Snapshots = append(ct.Snapshots, &snapshot{Name: "vzdump", Description: "vzdump backup snapshot",
		SnapTime: time.Now().Unix(), Parent: ct.Conf["parent"], Conf: conf, Running: running})
	ct.Conf["parent"] = "vzdump"
	return s.store.saveContainer(ct)
}

func (s *Server) dropVzdumpSnapshot(ct *container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sn := ct.snapshot("vzdump"); sn != nil {
		ct.dropSnapshot(sn)
		if err := s.store.saveContainer(ct); err != nil {
			s.log.Warn("Remove vzdump snapshot", "vmid", ct.VMID, "error", err)
		}
	}
}
