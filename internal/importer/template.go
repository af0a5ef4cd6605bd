package importer

import (
	"net/netip"
	"path"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// Names in a template directory.
const (
	templateConf = "template.conf"
	configEnv    = "config.env"
	filesConf    = "files.conf"
	scriptsConf  = "scripts.conf"
	scriptsDir   = "scripts"
	filesDir     = "files"
	packagesStem = "packages"
)

// templateKeys are the keys of template.conf, in the order the documentation lists them.
var templateKeys = []string{
	"name", "description", "os_template", "tags",
	"cores", "memory", "swap", "disk", "storage",
	"unprivileged", "nesting", "keyctl", "fuse",
	"bridge", "ip", "gateway", "nameservers", "vlan",
	"package_buckets", "services",
}

// bucketRef is a package_buckets item, kept with its line to report a bucket that is not there.
type bucketRef struct {
	name string
	file string
	line int
}

// templateSource is one template being read, with what the checks across templates need.
type templateSource struct {
	dir        string // relative to the root
	nameLine   int    // line of the name key, 0 when the directory name is used
	template   lxcv1.LXCTemplate
	bucketRefs []bucketRef
}

func (s *templateSource) file(name string) string { return path.Join(s.dir, name) }

// loadTemplate reads one template directory.
func (im *importer) loadTemplate(dir string) *templateSource {
	src := &templateSource{dir: dir}
	src.template = lxcv1.LXCTemplate{
		TypeMeta:   metav1.TypeMeta{APIVersion: lxcv1.GroupVersion.String(), Kind: "LXCTemplate"},
		ObjectMeta: metav1.ObjectMeta{Name: path.Base(dir), Namespace: im.namespace},
	}
	entries, ok := im.readDir(dir)
	if !ok {
		return src
	}
	var (
		sawConf, haveConf              bool
		haveScripts, haveFiles         bool
		packageFiles                   []string
		scriptsConfFile, filesConfFile bool
	)
	for _, e := range entries {
		name := e.Name()
		rel := src.file(name)
		switch {
		case name == templateConf:
			sawConf, haveConf = true, im.isRegular(rel, e)
		case name == configEnv:
			if im.isRegular(rel, e) {
				im.loadConfigEnv(src, rel)
			}
		case name == scriptsConf:
			scriptsConfFile = im.isRegular(rel, e)
		case name == filesConf:
			filesConfFile = im.isRegular(rel, e)
		case name == scriptsDir:
			haveScripts = im.isDir(rel, e)
		case name == filesDir:
			haveFiles = im.isDir(rel, e)
		case strings.HasPrefix(name, packagesStem+"."):
			if im.isRegular(rel, e) {
				packageFiles = append(packageFiles, name)
			}
		case isReadme(name):
		default:
			im.problem(rel, 0, "unexpected %s in a template directory, which holds %s, %s, %s, %s, %s.<manager>, %s/ and %s/",
				kindOf(e), templateConf, configEnv, scriptsConf, filesConf, packagesStem, scriptsDir, filesDir)
		}
	}
	switch {
	case haveConf:
		im.loadTemplateConf(src)
	case !sawConf:
		im.problem(src.file(templateConf), 0, "missing: every template directory needs one")
	}
	im.loadPackages(src, packageFiles)
	im.loadScripts(src, haveScripts, scriptsConfFile)
	im.loadFiles(src, haveFiles, filesConfFile)
	return src
}

// loadTemplateConf reads template.conf into the template's spec.
func (im *importer) loadTemplateConf(src *templateSource) {
	file := src.file(templateConf)
	data, ok := im.readFile(file, 1<<20)
	if !ok {
		return
	}
	r := im.reporter(file)
	spec := &src.template.Spec
	seen := map[string]int{}
	var (
		osTemplateSeen      bool
		ipLine, gatewayLine int
		prefix              netip.Prefix
		gateway             netip.Addr
		ipStatic, gatewayOK bool
	)
	assignments, clean := parseAssignments(r, data)
	for _, a := range assignments {
		if first, dup := seen[a.Key]; dup {
			r.add(a.Line, "%s is already set on line %d", a.Key, first)
			continue
		}
		seen[a.Key] = a.Line
		v := a.Value
		if a.Key == "os_template" {
			osTemplateSeen = true
		}
		if v == "" && a.Key != "os_template" {
			continue // an empty value is the same as leaving the key out
		}
		switch a.Key {
		case "name":
			src.template.Name = v
			src.nameLine = a.Line
			if err := validateObjectName(v); err != nil {
				r.add(a.Line, "name: %v", err)
			}
		case "description":
			spec.Description = v
			if runes(v) > maxDescription {
				r.add(a.Line, "description is longer than %d characters", maxDescription)
			}
		case "os_template":
			spec.OSTemplate = v
			if v == "" {
				r.add(a.Line, "os_template is empty; it is required")
			} else if err := validateOSTemplate(v); err != nil {
				r.add(a.Line, "os_template: %v", err)
			}
		case "tags":
			im.parseTags(r, a, spec)
		case "cores":
			spec.Resources.Cores = intValue(r, a, coresRange)
		case "memory":
			spec.Resources.MemoryMiB = intValue(r, a, memoryRange)
		case "swap":
			spec.Resources.SwapMiB = intValue(r, a, swapRange)
		case "disk":
			spec.Resources.DiskGiB = intValue(r, a, diskRange)
		case "storage":
			spec.Storage = v
			if err := validateIdentifier("storage", v, maxStorage); err != nil {
				r.add(a.Line, "%v", err)
			}
		case "unprivileged":
			if b, ok := boolValue(r, a); ok {
				spec.Features.Unprivileged = ptr.To(b)
			}
		case "nesting":
			spec.Features.Nesting, _ = boolValue(r, a)
		case "keyctl":
			spec.Features.Keyctl, _ = boolValue(r, a)
		case "fuse":
			spec.Features.Fuse, _ = boolValue(r, a)
		case "bridge":
			spec.Network.Bridge = v
			if err := validateIdentifier("bridge", v, maxBridge); err != nil {
				r.add(a.Line, "%v", err)
			}
		case "ip":
			spec.Network.IPv4 = v
			ipLine = a.Line
			p, err := validateIPv4(v)
			if err != nil {
				r.add(a.Line, "ip: %v", err)
			} else if v != "dhcp" {
				prefix, ipStatic = p, true
			}
		case "gateway":
			spec.Network.Gateway = v
			gatewayLine = a.Line
			g, err := validateGateway(v)
			if err != nil {
				r.add(a.Line, "gateway: %v", err)
			} else {
				gateway, gatewayOK = g, true
			}
		case "nameservers":
			spec.Network.Nameservers = splitList(v)
			if n := len(spec.Network.Nameservers); n > maxNameservers {
				r.add(a.Line, "nameservers: %d given, at most %d allowed", n, maxNameservers)
			}
			for _, ns := range spec.Network.Nameservers {
				if err := validateNameserver(ns); err != nil {
					r.add(a.Line, "nameservers: %v", err)
				}
			}
		case "vlan":
			spec.Network.VLANTag = intValue(r, a, vlanRange)
		case "package_buckets":
			im.parseBucketRefs(r, a, src)
		case "services":
			parseServices(r, a, spec)
		default:
			r.add(a.Line, "unknown key %q (known keys: %s)", a.Key, strings.Join(templateKeys, ", "))
		}
	}
	if !osTemplateSeen && clean {
		r.add(0, "os_template is missing; it is required")
	}
	// A gateway needs a static address to lie in: with DHCP the server supplies the route.
	if gatewayLine > 0 {
		switch {
		case spec.Network.IPv4 == "" || spec.Network.IPv4 == "dhcp":
			r.add(gatewayLine, "gateway is only allowed with a static ip (ip is %s)", orDefault(spec.Network.IPv4, "dhcp by default"))
		case ipStatic && gatewayOK && !prefix.Contains(gateway):
			r.add(gatewayLine, "gateway %s does not lie inside the ip network %s (line %d)", gateway, prefix.Masked(), ipLine)
		}
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// intValue parses a numeric key. A number outside its range is kept, so that the manifest shows
// what was given, and reported.
func intValue(r reporter, a assignment, rng int32Range) *int32 {
	v, ok, err := parseInt32(a.Value, rng)
	if err != nil {
		r.add(a.Line, "%s: %v", a.Key, err)
	}
	if !ok {
		return nil
	}
	return ptr.To(v)
}

func boolValue(r reporter, a assignment) (bool, bool) {
	b, err := parseBool(a.Value)
	if err != nil {
		r.add(a.Line, "%s: %v", a.Key, err)
		return false, false
	}
	return b, true
}

func (im *importer) parseTags(r reporter, a assignment, spec *lxcv1.LXCTemplateSpec) {
	tags := splitList(a.Value)
	if len(tags) > maxTags {
		r.add(a.Line, "tags: %d given, at most %d allowed", len(tags), maxTags)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if err := validateTag(t); err != nil {
			r.add(a.Line, "tags: %v", err)
		}
		if seen[t] {
			r.add(a.Line, "tags: %q is given twice", t)
		}
		seen[t] = true
		spec.Tags = append(spec.Tags, lxcv1.Tag(t))
	}
}

func (im *importer) parseBucketRefs(r reporter, a assignment, src *templateSource) {
	names := splitList(a.Value)
	if len(names) > maxBucketRefs {
		r.add(a.Line, "package_buckets: %d given, at most %d allowed", len(names), maxBucketRefs)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if err := validateObjectRef("package bucket", n); err != nil {
			r.add(a.Line, "package_buckets: %v", err)
		} else {
			src.bucketRefs = append(src.bucketRefs, bucketRef{name: n, file: r.file, line: a.Line})
		}
		if seen[n] {
			r.add(a.Line, "package_buckets: %q is given twice", n)
		}
		seen[n] = true
		src.template.Spec.PackageBucketRefs = append(src.template.Spec.PackageBucketRefs, lxcv1.LocalObjectReference{Name: n})
	}
}

// parseServices reads NAME:PORT[/tcp|/udp] items.
func parseServices(r reporter, a assignment, spec *lxcv1.LXCTemplateSpec) {
	items := splitList(a.Value)
	if len(items) > maxServices {
		r.add(a.Line, "services: %d given, at most %d allowed", len(items), maxServices)
	}
	seen := map[string]bool{}
	for _, item := range items {
		name, rest, ok := strings.Cut(item, ":")
		if !ok {
			r.add(a.Line, "services: %q is not NAME:PORT or NAME:PORT/PROTOCOL, such as web:8080/tcp", item)
			continue
		}
		name = strings.TrimSpace(name)
		portText, proto, hasProto := strings.Cut(strings.TrimSpace(rest), "/")
		svc := lxcv1.ServicePromise{Name: name}
		if err := validateDNSishName("service name", name, maxServiceName); err != nil {
			r.add(a.Line, "services: %v", err)
		}
		if seen[name] {
			r.add(a.Line, "services: %q is given twice", name)
		}
		seen[name] = true
		port, valid, err := parseInt32(portText, portRange)
		if err != nil {
			r.add(a.Line, "services: %s: port %v", name, err)
		}
		if !valid {
			continue
		}
		svc.Port = port
		if hasProto {
			switch strings.ToLower(proto) {
			case "tcp":
				svc.Protocol = lxcv1.ProtocolTCP
			case "udp":
				svc.Protocol = lxcv1.ProtocolUDP
			default:
				r.add(a.Line, "services: %s: protocol %q is not tcp or udp", name, proto)
				continue
			}
		}
		spec.Services = append(spec.Services, svc)
	}
}

// loadConfigEnv reads config.env into spec.config.env, in file order.
func (im *importer) loadConfigEnv(src *templateSource, file string) {
	data, ok := im.readFile(file, 16<<20)
	if !ok {
		return
	}
	r := im.reporter(file)
	seen := map[string]int{}
	vars, _ := parseAssignments(r, data)
	if len(vars) > maxEnv {
		r.add(0, "%d variables, at most %d allowed", len(vars), maxEnv)
	}
	for _, a := range vars {
		if first, dup := seen[a.Key]; dup {
			r.add(a.Line, "%s is already set on line %d", a.Key, first)
		} else {
			seen[a.Key] = a.Line
		}
		if err := validateEnvName(a.Key); err != nil {
			r.add(a.Line, "%v", err)
		}
		if runes(a.Value) > maxEnvValue {
			r.add(a.Line, "%s: value is longer than %d characters", a.Key, maxEnvValue)
		}
		src.template.Spec.Config.Env = append(src.template.Spec.Config.Env, lxcv1.EnvVar{Name: a.Key, Value: a.Value})
	}
}

// loadPackages reads packages.<manager> files into inline package lists, ordered by manager.
func (im *importer) loadPackages(src *templateSource, files []string) {
	sort.Strings(files)
	for _, name := range files {
		file := src.file(name)
		ext := strings.TrimPrefix(name, packagesStem+".")
		m, ok := packageManager(ext)
		if !ok {
			im.problem(file, 0, "%q is not a package manager (apt, apk, dnf, pip, npm)", ext)
			continue
		}
		names, _ := im.loadPackageList(file, m, maxInlinePackages, false)
		if len(names) > 0 {
			src.template.Spec.Packages = append(src.template.Spec.Packages, lxcv1.PackageList{Manager: m, Names: names})
		}
	}
}

// checkSize reports a template too large for the API server to store.
func (im *importer) checkSize(src *templateSource, size int) {
	if size > maxObjectBytes {
		im.problem(src.file(templateConf), 0, "the template is %d bytes, more than the %d an object may hold; keep large files in ConfigMaps (configmap= in %s)",
			size, maxObjectBytes, filesConf)
	}
}

func isReadme(name string) bool {
	stem, _, _ := strings.Cut(name, ".")
	return stem == "README"
}
