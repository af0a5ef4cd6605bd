package proxmox

import (
	"errors"
	"fmt"
	"strings"
)

// createParams turns a CreateSpec into the parameters of POST /nodes/{node}/lxc.
func createParams(s CreateSpec) (map[string]any, error) {
	if s.VMID < 100 || s.VMID > 999999999 {
		return nil, fmt.Errorf("vmid %d out of range 100-999999999", s.VMID)
	}
	if s.OSTemplate == "" {
		return nil, errors.New("no os template")
	}
	p := map[string]any{"vmid": s.VMID, "ostemplate": s.OSTemplate, "unprivileged": 1}
	if s.Privileged {
		p["unprivileged"] = 0
	}
	setString := func(k, v string) {
		if v != "" {
			p[k] = v
		}
	}
	setString("hostname", s.Hostname)
	setString("description", s.Description)
	setString("searchdomain", s.SearchDomain)
	setString("pool", s.Pool)
	if len(s.Tags) > 0 {
		tags, err := FormatTags(s.Tags)
		if err != nil {
			return nil, err
		}
		p["tags"] = tags
	}
	if s.Cores > 0 {
		p["cores"] = s.Cores
	}
	if s.MemoryMiB > 0 {
		p["memory"] = s.MemoryMiB
	}
	if s.SwapMiB != nil {
		if *s.SwapMiB < 0 {
			return nil, fmt.Errorf("swap %d MiB is negative", *s.SwapMiB)
		}
		p["swap"] = *s.SwapMiB
	}
	switch {
	case s.RootFSGiB > 0 && s.Storage == "":
		return nil, errors.New("a root filesystem size needs a storage")
	case s.RootFSGiB > 0:
		p["rootfs"] = fmt.Sprintf("%s:%d", s.Storage, s.RootFSGiB)
	case s.Storage != "":
		p["storage"] = s.Storage
	}
	if f := s.Features.String(); f != "" {
		p["features"] = f
	}
	for k, v := range s.Passthrough {
		if !mpKey.MatchString(k) && !devKey.MatchString(k) {
			return nil, fmt.Errorf("%s is not a mount point or device option", k)
		}
		p[k] = v
	}
	for i, n := range s.Nets {
		if n.Name == "" {
			return nil, fmt.Errorf("net%d has no interface name", i)
		}
		p[fmt.Sprintf("net%d", i)] = n.String()
	}
	if len(s.Nameservers) > 0 {
		p["nameserver"] = strings.Join(s.Nameservers, " ")
	}
	if s.Password != "" {
		if len(s.Password) < 5 {
			return nil, errors.New("root password shorter than 5 characters")
		}
		p["password"] = s.Password
	}
	if len(s.SSHPublicKeys) > 0 {
		p["ssh-public-keys"] = strings.Join(s.SSHPublicKeys, "\n")
	}
	if s.OnBoot {
		p["onboot"] = 1
	}
	if s.Start {
		p["start"] = 1
	}
	return p, nil
}

// updateParams turns a ConfigUpdate into the parameters of PUT …/config.
func updateParams(u ConfigUpdate) (map[string]any, error) {
	p := map[string]any{}
	var del []string
	if u.Hostname != nil {
		p["hostname"] = *u.Hostname
	}
	if u.Description != nil {
		if *u.Description == "" {
			del = append(del, "description")
		} else {
			p["description"] = *u.Description
		}
	}
	if u.Tags != nil {
		if len(u.Tags) == 0 {
			del = append(del, "tags")
		} else {
			tags, err := FormatTags(u.Tags)
			if err != nil {
				return nil, err
			}
			p["tags"] = tags
		}
	}
	if u.Cores != nil {
		p["cores"] = *u.Cores
	}
	if u.MemoryMiB != nil {
		p["memory"] = *u.MemoryMiB
	}
	if u.SwapMiB != nil {
		p["swap"] = *u.SwapMiB
	}
	if u.Features != nil {
		if f := u.Features.String(); f != "" {
			p["features"] = f
		} else {
			del = append(del, "features")
		}
	}
	if u.OnBoot != nil {
		p["onboot"] = 0
		if *u.OnBoot {
			p["onboot"] = 1
		}
	}
	for i, n := range u.Nets {
		if n.Name == "" {
			return nil, fmt.Errorf("net%d has no interface name", i)
		}
		p[fmt.Sprintf("net%d", i)] = n.String()
	}
	if u.Nameservers != nil {
		if len(u.Nameservers) == 0 {
			del = append(del, "nameserver")
		} else {
			p["nameserver"] = strings.Join(u.Nameservers, " ")
		}
	}
	for k, v := range u.Set {
		p[k] = v
	}
	del = append(del, u.Delete...)
	for _, k := range del {
		if _, both := p[k]; both {
			return nil, fmt.Errorf("%s is both set and deleted", k)
		}
	}
	if len(del) > 0 {
		p["delete"] = strings.Join(del, ",")
	}
	if len(p) > 0 && u.Digest != "" {
		p["digest"] = u.Digest
	}
	return p, nil
}
