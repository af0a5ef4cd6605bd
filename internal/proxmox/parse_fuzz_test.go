package proxmox

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzUPIDParse(f *testing.F) {
	f.Add("UPID:pve:0001E240:0ABCDEF0:65A1B2C3:vzcreate:100:root@pam!ctl:")
	f.Add("UPID:node-1:00000001:123456789:65A1B2C3:aptupdate::root@pam:")
	f.Add("UPID:node1:0031B740:0645340C:23E5BA99:vzstart:101:root")
	f.Add("UPID:pve:1:2:3:vzstart:101:root@pam:")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := UPID(s).Parse()
		if err != nil {
			return
		}
		if !strings.HasPrefix(s, "UPID:"+p.Node+":") || !strings.HasSuffix(s, ":"+p.ID+":"+p.User+":") {
			t.Fatalf("%q parsed as %+v", s, p)
		}
		for _, field := range []string{p.Node, p.Type, p.User} {
			if field == "" || strings.ContainsAny(field, ": \t\n/") {
				t.Fatalf("%q parsed as %+v", s, p)
			}
		}
	})
}

// FuzzParseNetConfig checks that what ParseNetConfig accepts it also reads back from its own
// String form, unchanged.
func FuzzParseNetConfig(f *testing.F) {
	f.Add("name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=BC:24:11:00:00:01,ip=10.0.0.5/24,type=veth,tag=20,mtu=1400,queues=2")
	f.Add("name=eth0,bridge=vmbr0,ip=dhcp,ip6=auto,link_down=1,rate=12.5")
	f.Add("bridge=vmbr0")
	f.Add("name=a=b, x = y ,mtu=-1")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNetConfig(s)
		if err != nil {
			return
		}
		if n.Name == "" {
			t.Fatalf("%q parsed without a name", s)
		}
		formatted := n.String()
		again, err := ParseNetConfig(formatted)
		if err != nil {
			t.Fatalf("%q formatted as %q, which does not parse: %v", s, formatted, err)
		}
		if again.String() != formatted {
			t.Fatalf("%q formatted as %q, read back as %q", s, formatted, again.String())
		}
	})
}

func FuzzParseFeatures(f *testing.F) {
	f.Add("fuse=1,keyctl=1,nesting=1,mount=nfs;cifs")
	f.Add("force_rw_sys=1,mknod=0")
	f.Add("mount=x; ;")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		feat, err := ParseFeatures(s)
		if err != nil {
			return
		}
		formatted := feat.String()
		again, err := ParseFeatures(formatted)
		if err != nil {
			t.Fatalf("%q formatted as %q, which does not parse: %v", s, formatted, err)
		}
		if again.String() != formatted {
			t.Fatalf("%q formatted as %q, read back as %q", s, formatted, again.String())
		}
	})
}

func FuzzParseRootFS(f *testing.F) {
	f.Add("local-lvm:vm-100-disk-0,size=8G")
	f.Add("local:100/vm-100-disk-0.raw,size=512M,acl=1")
	f.Add("size=1.5T")
	f.Add("x,size=NaN")
	f.Add("x,size=1e3G")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRootFS(s)
		if err != nil || r.Size == "" {
			return
		}
		// A size is digits with an optional fraction and unit, as pve-common's parse_size reads it.
		num := strings.TrimRight(strings.TrimSpace(r.Size), "KMGTkmgt")
		whole, frac, _ := strings.Cut(num, ".")
		if whole == "" || strings.Trim(whole+frac, "0123456789") != "" || strings.Count(num, ".") > 1 {
			t.Fatalf("size %q accepted as %d bytes", r.Size, r.SizeBytes)
		}
	})
}

func FuzzParseInterfaces(f *testing.F) {
	f.Add(`[{"name":"lo","hwaddr":"00:00:00:00:00:00","inet":"127.0.0.1/8","inet6":"::1/128"},{"name":"eth0","hwaddr":"bc:24:11:00:00:01","inet":"169.254.0.10/16"}]`)
	f.Add(`[{"name":"eth0","hardware-address":"bc:24:11:00:00:01","ip-addresses":[{"ip-address":"10.0.0.5","ip-address-type":"inet","prefix":24},{"ip-address":"fe80::1%eth0","ip-address-type":"inet6","prefix":"64"}]}]`)
	f.Add(`[{"name":"eth0","ip-addresses":[{"ip-address":"10.0.0.5","prefix":99}]}]`)
	f.Add(`[{"name":"eth0","inet":"10.0.0.5, 10.0.0.6/24"}]`)
	f.Fuzz(func(t *testing.T, doc string) {
		var raw []rawInterface
		if json.Unmarshal([]byte(doc), &raw) != nil {
			return
		}
		ifaces, err := parseInterfaces(raw)
		if err != nil {
			return
		}
		for _, i := range ifaces {
			for _, p := range i.Addresses {
				if !p.IsValid() || p.Addr().Zone() != "" {
					t.Fatalf("interface %s: address %v", i.Name, p)
				}
			}
		}
		if a, ok := FirstIPv4(ifaces); ok && (!a.Is4() || a.IsLoopback()) {
			t.Fatalf("first IPv4 %v", a)
		}
	})
}

func FuzzParseContainerConfig(f *testing.F) {
	f.Add(`{"hostname":"web","cores":2,"memory":"512","swap":512,"rootfs":"local-lvm:vm-100-disk-0,size=8G","net0":"name=eth0,bridge=vmbr0,ip=dhcp","features":"nesting=1","tags":"lxctm;web","unprivileged":1,"onboot":true,"lxc":[["lxc.apparmor.profile","unconfined"]],"digest":"abc"}`)
	f.Add(`{"net7":"bridge=x","cores":"two"}`)
	f.Add(`{"rootfs":null,"features":"","nameserver":"1.1.1.1 9.9.9.9"}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var raw map[string]json.RawMessage
		if json.Unmarshal([]byte(doc), &raw) != nil {
			return
		}
		cfg, err := parseContainerConfig(raw)
		if err != nil {
			return
		}
		for idx, n := range cfg.Nets {
			if idx < 0 || n.Name == "" {
				t.Fatalf("net%d: %+v", idx, n)
			}
		}
	})
}
