//go:build ignore

// extract cuts the parts of the official Proxmox VE API schema that pvesim serves out of
// apidata.json (pve-docs api-viewer, PVE 9.1.3) into pve-api.json, dropping descriptions.
//
//	go run extract.go -in /work/shared/pve-api/apidata.json -out pve-api.json
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
)

var paths = []string{
	"/access/ticket",
	"/version",
	"/cluster/status",
	"/cluster/nextid",
	"/cluster/resources",
	"/cluster/tasks",
	"/cluster/ha/resources",
	"/cluster/ha/resources/{sid}",
	"/cluster/ha/resources/{sid}/migrate",
	"/cluster/ha/resources/{sid}/relocate",
	"/cluster/ha/rules",
	"/cluster/ha/rules/{rule}",
	"/cluster/ha/status/current",
	"/pools",
	"/pools/{poolid}",
	"/nodes",
	"/nodes/{node}/status",
	"/nodes/{node}/network",
	"/nodes/{node}/network/{iface}",
	"/nodes/{node}/aplinfo",
	"/nodes/{node}/lxc",
	"/nodes/{node}/lxc/{vmid}",
	"/nodes/{node}/lxc/{vmid}/config",
	"/nodes/{node}/lxc/{vmid}/pending",
	"/nodes/{node}/lxc/{vmid}/status/current",
	"/nodes/{node}/lxc/{vmid}/status/start",
	"/nodes/{node}/lxc/{vmid}/status/stop",
	"/nodes/{node}/lxc/{vmid}/status/shutdown",
	"/nodes/{node}/lxc/{vmid}/status/reboot",
	"/nodes/{node}/lxc/{vmid}/status/suspend",
	"/nodes/{node}/lxc/{vmid}/status/resume",
	"/nodes/{node}/lxc/{vmid}/interfaces",
	"/nodes/{node}/lxc/{vmid}/resize",
	"/nodes/{node}/lxc/{vmid}/clone",
	"/nodes/{node}/lxc/{vmid}/template",
	"/nodes/{node}/lxc/{vmid}/migrate",
	"/nodes/{node}/lxc/{vmid}/snapshot",
	"/nodes/{node}/lxc/{vmid}/snapshot/{snapname}",
	"/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config",
	"/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback",
	"/nodes/{node}/lxc/{vmid}/feature",
	"/nodes/{node}/lxc/{vmid}/firewall/options",
	"/nodes/{node}/lxc/{vmid}/firewall/rules",
	"/nodes/{node}/lxc/{vmid}/firewall/rules/{pos}",
	"/nodes/{node}/vzdump",
	"/nodes/{node}/tasks",
	"/nodes/{node}/tasks/{upid}",
	"/nodes/{node}/tasks/{upid}/status",
	"/nodes/{node}/tasks/{upid}/log",
	"/nodes/{node}/storage",
	"/nodes/{node}/storage/{storage}/status",
	"/nodes/{node}/storage/{storage}/content",
	"/nodes/{node}/storage/{storage}/content/{volume}",
	"/nodes/{node}/storage/{storage}/download-url",
	"/nodes/{node}/storage/{storage}/oci-registry-pull",
}

type node struct {
	Path     string                     `json:"path"`
	Info     map[string]json.RawMessage `json:"info"`
	Children []node                     `json:"children"`
}

func main() {
	in := flag.String("in", "../../../../shared/pve-api/apidata.json", "apidata.json")
	out := flag.String("out", "pve-api.json", "output file")
	flag.Parse()

	raw, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var tree []node
	if err := json.Unmarshal(raw, &tree); err != nil {
		log.Fatal(err)
	}
	found := map[string]map[string]any{}
	var walk func(n node)
	walk = func(n node) {
		for _, p := range paths {
			if p == n.Path {
				methods := map[string]any{}
				for m, info := range n.Info {
					var v map[string]any
					if err := json.Unmarshal(info, &v); err != nil {
						log.Fatal(err)
					}
					methods[m] = strip(map[string]any{
						"parameters": v["parameters"],
						"returns":    v["returns"],
					})
				}
				found[p] = methods
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, n := range tree {
		walk(n)
	}
	for _, p := range paths {
		if found[p] == nil {
			log.Fatalf("path %s not in schema", p)
		}
	}
	data, err := json.MarshalIndent(found, "", " ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}

// strip removes prose that validation does not need.
func strip(v any) any {
	switch t := v.(type) {
	case map[string]any:
		// A property may itself be called "description"; only prose strings go.
		for _, k := range []string{"description", "verbose_description", "format_description", "typetext", "renderer"} {
			if _, ok := t[k].(string); ok {
				delete(t, k)
			}
		}
		delete(t, "links")
		for k, c := range t {
			t[k] = strip(c)
		}
	case []any:
		for i, c := range t {
			t[i] = strip(c)
		}
	}
	return v
}
