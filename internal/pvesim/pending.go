package pvesim

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// Pending changes, as pve-container's update_pct_config writes them (LXC/Config.pm): every
// change goes to the [pve:pending] section first. A stopped container takes all of it at once
// (vmconfig_apply_pending); a running one takes the "fastplug" options and what can be
// hot-plugged (vmconfig_hotplug_pending), and the rest waits for the next start.

// fastplugOptions apply to a running container at once, as $LXC_FASTPLUG_OPTIONS says. The
// guest itself sees hostname only at its next start, when the pre-start hook writes it.
var fastplugOptions = map[string]bool{
	"description": true, "onboot": true, "startup": true, "protection": true,
	"hostname": true, "hookscript": true, "cores": true, "tags": true, "lock": true,
}

// pendingDeleteKey holds the comma-separated options to delete at the next apply.
const pendingDeleteKey = "delete"

func pendingDeletes(pending map[string]string) []string {
	return schema.SplitList(pending[pendingDeleteKey])
}

func setPendingDeletes(pending map[string]string, opts []string) {
	if len(opts) == 0 {
		delete(pending, pendingDeleteKey)
		return
	}
	pending[pendingDeleteKey] = strings.Join(opts, ",")
}

func removePendingDelete(pending map[string]string, opt string) {
	setPendingDeletes(pending, slices.DeleteFunc(pendingDeletes(pending), func(o string) bool { return o == opt }))
}

func addPendingDelete(pending map[string]string, opt string) {
	ds := pendingDeletes(pending)
	if !slices.Contains(ds, opt) {
		ds = append(ds, opt)
	}
	setPendingDeletes(pending, ds)
}

// cleanupPending drops pending values equal to the current ones and deletes of unset options,
// as AbstractConfig's cleanup_pending does.
func cleanupPending(conf, pending map[string]string) {
	for k, v := range pending {
		if k != pendingDeleteKey {
			if cur, ok := conf[k]; ok && cur == v {
				delete(pending, k)
			}
		}
	}
	setPendingDeletes(pending, slices.DeleteFunc(pendingDeletes(pending), func(o string) bool {
		_, set := conf[o]
		return !set
	}))
}

// hotplugPending moves what a running container can take now from pending into conf:
// fastplug options, cgroup limits, network interfaces and new mount points. It returns the
// options it applied.
func hotplugPending(conf, pending map[string]string) []string {
	var applied []string
	for _, opt := range slices.Sorted(maps.Keys(pending)) {
		if opt != pendingDeleteKey && fastplugOptions[opt] {
			conf[opt] = pending[opt]
			delete(pending, opt)
			applied = append(applied, opt)
		}
	}
	for _, opt := range pendingDeletes(pending) {
		switch {
		case fastplugOptions[opt], opt == "swap", opt == "cpulimit", opt == "cpuunits", indexed(opt, "net"):
			delete(conf, opt)
			removePendingDelete(pending, opt)
			applied = append(applied, opt)
		}
	}
	for _, opt := range slices.Sorted(maps.Keys(pending)) {
		if opt == pendingDeleteKey {
			continue
		}
		_, exists := conf[opt]
		switch {
		case opt == "cpulimit", opt == "cpuunits", opt == "memory", opt == "swap", indexed(opt, "net"),
			indexed(opt, "mp") && !exists: // never hot-plugged over an existing mount point
		default:
			continue
		}
		conf[opt] = pending[opt]
		delete(pending, opt)
		applied = append(applied, opt)
	}
	return applied
}

// applyPending moves every pending change into conf, as a stopped container or the start of
// one does. A deleted volume mount point stays as an unused volume, its data kept.
func applyPending(conf, pending map[string]string) {
	for _, opt := range pendingDeletes(pending) {
		if indexed(opt, "mp") {
			if mp, err := schema.ParsePropertyString(createSchema.Property("mp0").FormatProps, conf[opt]); err == nil && mountType(mp["volume"]) == "volume" {
				conf[nextUnusedKey(conf)] = mp["volume"]
			}
		}
		delete(conf, opt)
	}
	delete(pending, pendingDeleteKey)
	cleanupPending(conf, pending)
	for k, v := range pending {
		conf[k] = v
		delete(pending, k)
	}
}

func nextUnusedKey(conf map[string]string) string {
	for i := 0; ; i++ {
		if _, ok := conf[fmt.Sprintf("unused%d", i)]; !ok {
			return fmt.Sprintf("unused%d", i)
		}
	}
}

// withPending is the config GET /config shows by default: the pending values over the
// current ones, pending deletes left out.
func withPending(conf, pending map[string]string) map[string]string {
	out := maps.Clone(conf)
	for k, v := range pending {
		if k != pendingDeleteKey {
			out[k] = v
		}
	}
	for _, opt := range pendingDeletes(pending) {
		delete(out, opt)
	}
	return out
}

// pendingList is GET …/pending: every option with its current value, its pending value and
// whether it is to be deleted (config_with_pending_array in GuestHelpers.pm).
func (s *Server) pendingList(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conf := maps.Clone(ct.Conf)
	conf["digest"] = ct.digest()
	deletes := pendingDeletes(ct.Pending)
	var out []map[string]any
	for _, k := range slices.Sorted(maps.Keys(conf)) {
		item := map[string]any{"key": k, "value": conf[k]}
		if v, ok := ct.Pending[k]; ok {
			item["pending"] = v
		}
		if slices.Contains(deletes, k) {
			item["delete"] = 1
		}
		out = append(out, item)
	}
	for _, k := range slices.Sorted(maps.Keys(ct.Pending)) {
		if _, ok := conf[k]; !ok && k != pendingDeleteKey {
			out = append(out, map[string]any{"key": k, "pending": ct.Pending[k]})
		}
	}
	for _, k := range deletes {
		if _, ok := conf[k]; !ok {
			out = append(out, map[string]any{"key": k, "delete": 1})
		}
	}
	return out, nil
}
