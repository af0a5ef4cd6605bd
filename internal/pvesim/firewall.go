package pvesim

import (
	"crypto/sha1"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// firewallConf stands for a container's /etc/pve/firewall/<vmid>.fw (pve-firewall's
// load_vmfw_conf/save_vmfw_conf): its options and its rules in order, each rule as a reload
// of the file gives it back. PVE keeps the file apart from the CT's config and serves it for
// any VMID; the simulator keeps it with the container, so it answers for existing containers
// only, and the file goes when the container is destroyed (remove_vmfw_conf) and is copied
// by a clone (clone_vmfw_conf).
//
// PVE checks VM.Audit (reads) and VM.Config.Network (writes) on /vms/{vmid}; every user the
// simulator knows holds both, and no root@pam-only rule applies (perms.go).
type firewallConf struct {
	Options map[string]string   `json:"options,omitempty"`
	Rules   []map[string]string `json:"rules,omitempty"`
}

func (f *firewallConf) clone() *firewallConf {
	if f == nil {
		return nil
	}
	c := &firewallConf{Options: maps.Clone(f.Options)}
	for _, r := range f.Rules {
		c.Rules = append(c.Rules, maps.Clone(r))
	}
	return c
}

// firewallOf returns the container's firewall file, an empty one when it has none; the
// caller holds s.mu.
func firewallOf(ct *container) *firewallConf {
	if ct.Firewall == nil {
		ct.Firewall = &firewallConf{}
	}
	if ct.Firewall.Options == nil {
		ct.Firewall.Options = map[string]string{}
	}
	return ct.Firewall
}

// sha1Lines is the digest of copy_opject_with_digest and copy_list_with_digest: "key:value\n"
// for each key in order, over every entry.
func sha1Lines(entries ...map[string]string) string {
	h := sha1.New()
	for _, e := range entries {
		for _, k := range slices.Sorted(maps.Keys(e)) {
			h.Write([]byte(k + ":" + e[k] + "\n"))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkDigest fails like PVE::Tools::assert_if_modified.
func checkDigest(have, want string) error {
	if want != "" && want != have {
		return pveError("detected modified configuration - file changed by other user? Try again.")
	}
	return nil
}

var fwOptionsSchema = schema.Lookup("PUT", "/nodes/{node}/lxc/{vmid}/firewall/options")

// fwOptionNames are the options of the set_options method (vm_option_properties).
func fwOptionNames() []string {
	var out []string
	for _, k := range []string{"enable", "dhcp", "ndp", "radv", "macfilter", "ipfilter", "policy_in", "policy_out", "log_level_in", "log_level_out"} {
		if fwOptionsSchema.Property(k) != nil {
			out = append(out, k)
		}
	}
	return out
}

// fwJSON types a firewall value as the API sends it: the file's 0/1 flags and integers as
// numbers.
func fwJSON(key, v string) any {
	switch key {
	case "enable", "dhcp", "ndp", "radv", "macfilter", "ipfilter", "ipversion", "pos":
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return v
}

func (s *Server) firewallOptions(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	opts := firewallOf(ct).Options
	out := map[string]any{"digest": sha1Lines(opts)}
	for k, v := range opts {
		out[k] = fwJSON(k, v)
	}
	return out, nil
}

// setFirewallOptions is set_options: the digest covers the options only; deleted options fall
// back to their defaults; enable is stored as 0 or 1.
func (s *Server) setFirewallOptions(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fw := firewallOf(ct)
	if err := checkDigest(sha1Lines(fw.Options), r.params["digest"]); err != nil {
		return nil, err
	}
	names := fwOptionNames()
	opts := maps.Clone(fw.Options)
	for _, k := range schema.SplitList(r.params["delete"]) {
		if !slices.Contains(names, k) {
			return nil, paramErrorf("delete", "no such option '%s'", k)
		}
		delete(opts, k)
	}
	for _, k := range names {
		if v, ok := r.params[k]; ok {
			opts[k] = v
		}
	}
	fw.Options = opts
	s.log.Info("Container firewall options updated", "vmid", ct.VMID, "user", r.user)
	return nil, s.store.saveContainer(ct)
}
