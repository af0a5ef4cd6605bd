package controller

// settingChanges gathers the fields one pass changed of the pool and HA resource, so that they
// are announced in one Event: the events API folds Events of the same reason and action into a
// series that keeps only the first note.
type settingChanges struct {
	outside, updated []string
}

// add records fields changed; outside says the spec did not change, so someone else did.
func (c *settingChanges) add(outside bool, fields ...string) {
	if outside {
		c.outside = append(c.outside, fields...)
	} else {
		c.updated = append(c.updated, fields...)
	}
}

// announceChanges announces the fields changed outside the controller as drift, and those the
// spec changed as a configuration change.
func (r *LXCContainerReconciler) announceChanges(s *containerScope, c *settingChanges) {
	vmid := s.obj.Status.VMID
	if len(c.outside) > 0 {
		r.Metrics.observeDrift(driftLabels(c.outside)...)
		r.announce(s.obj, changedOutside, vmid, fieldsNote(c.outside))
	}
	if len(c.updated) > 0 {
		r.announce(s.obj, configUpdated, fieldsNote(c.updated), vmid)
	}
}
