package desired

import (
	"strconv"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/proxmox"
)

// mergeHA is the HA resource the spec asks for: the container's own, else the template's; nil
// when neither sets one. A template's started or stopped follows the container's powerState,
// so that HA never fights it (the container's own setting is held to agree at admission).
func mergeHA(t, c *lxcv1.HA, power lxcv1.PowerState) *lxcv1.HA {
	if c != nil {
		return c
	}
	if t == nil {
		return nil
	}
	h := t.DeepCopy()
	if h.State == "" {
		h.State = lxcv1.HAStarted
	}
	if h.State != lxcv1.HAIgnored {
		h.State = lxcv1.HAStarted
		if power == lxcv1.PowerStateStopped {
			h.State = lxcv1.HAStopped
		}
	}
	return h
}

// mergePool is the pool the spec asks for: the container's own, else the template's.
func mergePool(t, c lxcv1.PoolID) string {
	if c != "" {
		return string(c)
	}
	return string(t)
}

// HAResource is the container's HA resource as the spec asks for it; ok is false when the spec
// asks for none.
func (d *Container) HAResource() (h proxmox.HAResource, ok bool) {
	if d.HA == nil {
		return h, false
	}
	h.State = string(d.HA.State)
	if h.State == "" {
		h.State = string(lxcv1.HAStarted)
	}
	if d.HA.State == lxcv1.HAIgnored {
		return h, true
	}
	if d.HA.MaxRestart != nil {
		n := int(*d.HA.MaxRestart)
		h.MaxRestart = &n
	}
	if d.HA.MaxRelocate != nil {
		n := int(*d.HA.MaxRelocate)
		h.MaxRelocate = &n
	}
	return h, true
}

// HAStateText identifies the HA resource the spec asks for, for status.appliedHA; empty when
// it asks for none.
func (d *Container) HAStateText() string {
	h, ok := d.HAResource()
	if !ok {
		return ""
	}
	return h.State + limitText("restart", h.MaxRestart) + limitText("relocate", h.MaxRelocate)
}

func limitText(name string, n *int) string {
	if n == nil {
		return ""
	}
	return "," + name + "=" + strconv.Itoa(*n)
}
