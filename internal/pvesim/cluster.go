package pvesim

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Version is the Proxmox VE release the simulator answers as.
const (
	pveRelease = "9.1"
	pveVersion = "9.1.3"
	pveRepoID  = "5a0d9d6ee4b42a6d"
	kernel     = "6.14.11-4-pve"
)

var startTime = time.Now()

func uptime() int64 { return int64(time.Since(startTime).Seconds()) + 86400 }

const (
	nodeMemory = 64 << 30
	nodeDisk   = 512 << 30
)

func (s *Server) version(*request) (any, error) {
	return map[string]any{"release": pveRelease, "version": pveVersion, "repoid": pveRepoID, "console": "xtermjs"}, nil
}

func (s *Server) nodeEntry(node string) map[string]any {
	return map[string]any{
		"node": node, "status": "online", "type": "node", "id": "node/" + node, "level": "",
		"cpu": 0.0125, "maxcpu": nodeCPUs, "mem": nodeMemory / 8, "maxmem": nodeMemory,
		"disk": nodeDisk / 16, "maxdisk": nodeDisk, "uptime": uptime(),
		"ssl_fingerprint": s.fingerprint(),
	}
}

func (s *Server) listNodes(*request) (any, error) {
	out := make([]map[string]any, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, s.nodeEntry(n))
	}
	return out, nil
}

func (s *Server) nodeStatus(r *request) (any, error) {
	if !s.hasNode(r.params["node"]) {
		return nil, errNoNode(r.params["node"])
	}
	mem := map[string]any{"total": nodeMemory, "used": nodeMemory / 8, "free": nodeMemory - nodeMemory/8, "available": nodeMemory - nodeMemory/8}
	return map[string]any{
		"cpu":     0.0125,
		"wait":    0.0004,
		"idle":    0,
		"uptime":  uptime(),
		"loadavg": []string{"0.21", "0.18", "0.12"},
		"memory":  mem,
		"swap":    map[string]any{"total": 8 << 30, "used": 0, "free": 8 << 30},
		"rootfs":  map[string]any{"total": nodeDisk, "used": nodeDisk / 16, "free": nodeDisk - nodeDisk/16, "avail": nodeDisk - nodeDisk/16},
		"ksm":     map[string]any{"shared": 0},
		"cpuinfo": map[string]any{
			"model": "pvesim virtual CPU", "cpus": nodeCPUs, "cores": nodeCPUs, "sockets": 1,
			"mhz": "2400.000", "hvm": "1", "user_hz": 100, "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr",
		},
		"kversion":       "Linux " + kernel + " #1 SMP PREEMPT_DYNAMIC PMX " + kernel,
		"pveversion":     "pve-manager/" + pveVersion + "/" + pveRepoID,
		"current-kernel": map[string]any{"sysname": "Linux", "release": kernel, "machine": "x86_64", "version": "#1 SMP PREEMPT_DYNAMIC PMX " + kernel},
		"boot-info":      map[string]any{"mode": "efi", "secureboot": 0},
	}, nil
}

func (s *Server) clusterStatus(*request) (any, error) {
	var out []map[string]any
	if len(s.nodes) > 1 {
		out = append(out, map[string]any{"type": "cluster", "id": "cluster", "name": "pvesim", "version": len(s.nodes), "quorate": 1, "nodes": len(s.nodes)})
	}
	for i, n := range s.nodes {
		local := 0
		if i == 0 {
			local = 1
		}
		out = append(out, map[string]any{
			"type": "node", "id": "node/" + n, "name": n, "ip": "127.0.0.1", "level": "",
			"local": local, "nodeid": i + 1, "online": 1,
		})
	}
	return out, nil
}

// vmidRange is the datacenter's default next-id range.
const (
	vmidLower = 100
	vmidUpper = 1000000
)

func (s *Server) nextID(r *request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := r.params["vmid"]; ok {
		id, _ := strconv.Atoi(v)
		if _, used := s.containers[id]; used {
			return nil, paramErrorf("vmid", "VM %d already exists", id)
		}
		return strconv.Itoa(id), nil
	}
	for id := vmidLower; id < vmidUpper; id++ {
		if _, used := s.containers[id]; !used {
			return strconv.Itoa(id), nil
		}
	}
	return nil, pveError("unable to get any free VMID in range [%d, %d]", vmidLower, vmidUpper)
}

// snapshotContainers copies all containers under the lock, sorted by vmid.
func (s *Server) snapshotContainers(keep func(*container) bool) []*container {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*container
	for _, id := range slices.Sorted(maps.Keys(s.containers)) {
		ct := s.containers[id]
		if keep == nil || keep(ct) {
			out = append(out, ct.clone())
		}
	}
	return out
}

func (s *Server) listContainers(r *request) (any, error) {
	node := r.params["node"]
	if !s.hasNode(node) {
		return nil, errNoNode(node)
	}
	out := []map[string]any{}
	for _, ct := range s.snapshotContainers(func(c *container) bool { return c.Node == node }) {
		out = append(out, s.vmStatus(ct, s.running(r.Context(), ct.VMID), false))
	}
	return out, nil
}

func (s *Server) clusterResources(r *request) (any, error) {
	typ := r.params["type"]
	out := []map[string]any{}
	if typ == "" || typ == "vm" {
		for _, ct := range s.snapshotContainers(nil) {
			out = append(out, s.resourceEntry(r.Context(), ct))
		}
	}
	if typ == "" || typ == "node" {
		for _, n := range s.nodes {
			e := s.nodeEntry(n)
			delete(e, "ssl_fingerprint")
			e["cgroup-mode"] = 2
			if st := s.nodeHAState(n); st != "" {
				e["hastate"] = st
			}
			out = append(out, e)
		}
	}
	if typ == "" || typ == "storage" {
		for _, n := range s.nodes {
			for _, st := range storages {
				out = append(out, map[string]any{
					"id": fmt.Sprintf("storage/%s/%s", n, st.name), "type": "storage", "node": n,
					"storage": st.name, "status": "available", "content": st.content, "plugintype": st.plugin,
					"shared": 0, "disk": st.used, "maxdisk": st.total,
				})
			}
		}
	}
	if typ == "" || typ == "sdn" {
		for _, n := range s.nodes {
			out = append(out, map[string]any{"id": "sdn/" + n + "/localnetwork", "type": "sdn", "sdn": "localnetwork", "node": n, "status": "ok"})
		}
	}
	return out, nil
}

func (s *Server) resourceEntry(ctx context.Context, ct *container) map[string]any {
	st := s.vmStatus(ct, s.running(ctx, ct.VMID), false)
	e := map[string]any{
		"id": fmt.Sprintf("lxc/%d", ct.VMID), "type": "lxc", "vmid": ct.VMID, "node": ct.Node,
		"template": 0, "maxcpu": st["cpus"],
	}
	for _, k := range []string{"name", "status", "cpu", "maxmem", "mem", "maxdisk", "disk", "uptime", "netin", "netout", "diskread", "diskwrite", "tags", "lock"} {
		if v, ok := st[k]; ok {
			e[k] = v
		}
	}
	if ct.Conf["template"] == "1" {
		e["template"] = 1
	}
	s.mu.Lock()
	if p := s.poolOfLocked(ct.VMID); p != "" {
		e["pool"] = p
	}
	if h := s.ha["ct:"+strconv.Itoa(ct.VMID)]; h.managed() {
		// The service state of the HA manager status (pve-manager API2/Cluster.pm resources).
		e["hastate"] = h.Service
	}
	s.mu.Unlock()
	return e
}
