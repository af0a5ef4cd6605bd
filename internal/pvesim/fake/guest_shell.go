package fake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/configmanager"
	"templatemanager.dev/lxc-template-manager/internal/discovery"
)

const configManagerUnit = configmanager.UnitName

// run interprets the command lines the controller sends. They are fixed text with validated
// names (see internal/ssh and internal/configmanager), so the guest recognises each by its
// form; anything else exits 127, so a new command shows up as a failing test, not as a
// silently wrong model.
func (g *Guest) run(line string) (stdout, stderr string, code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case strings.HasPrefix(line, "cat /sys/class/net/eth0/address"):
		// The identity probe: eth0's MAC.
		mac := g.mac
		if mac == "" {
			mac = "-"
		}
		return mac + "\n", "", 0
	case strings.HasPrefix(line, "command -v bash"):
		// The support probe: bash, and systemd as init.
		return "bash\nsystemd\n", "", 0
	case line == configmanager.ActivateCommand:
		return g.activateLocked()
	case line == configmanager.ResultCommand:
		u := g.units[configManagerUnit]
		if u == nil {
			return "0\nsuccess\n", "Failed to get unit file state for " + configManagerUnit + ": No such file or directory", 1
		}
		enabled := "disabled"
		if u.enabled {
			enabled = "enabled"
		}
		code := 0
		if !u.enabled {
			code = 1
		}
		// The stand-in runs config-sync at once, so no job of it is ever queued.
		return "0\n" + u.result + "\n" + enabled + "\n", "", code
	case line == configmanager.LogCommand:
		data, ok := g.readLocked(configmanager.StateDir + "/config-sync/last-run.log")
		if !ok {
			return "", "cat: " + configmanager.StateDir + "/config-sync/last-run.log: No such file or directory", 1
		}
		return string(data), "", 0
	case line == configmanager.MarkFirstRunCommand:
		g.mkdirAllLocked(configmanager.StateDir)
		if f, ok := g.files[configmanager.FirstRunMarker]; ok {
			f.modTime = time.Now()
		} else {
			g.files[configmanager.FirstRunMarker] = &gfile{mode: 0o644, modTime: time.Now()}
		}
		return "", "", 0
	case line == configmanager.SetRootPasswordCommand:
		return g.setRootPasswordLocked()
	case line == discovery.ReadCredentialsCommand:
		var b strings.Builder
		for _, dir := range []string{discovery.CredentialsDir, discovery.SavedCredentialsDir} {
			for _, name := range g.childrenLocked(dir) {
				if data, ok := g.readLocked(dir + "/" + name); ok && strings.HasSuffix(name, ".env") {
					b.WriteString("\x00" + name + "\x00" + string(data))
				}
			}
		}
		return b.String(), "", 0
	case line == discovery.CollectCommand:
		if _, ok := g.readLocked(discovery.CollectorPath); !ok {
			return "", "/bin/bash: " + discovery.CollectorPath + ": No such file or directory", 127
		}
		return g.discoveryLocked(), "", 0
	}
	words, err := shellWords(line)
	if err != nil || len(words) == 0 {
		return "", fmt.Sprintf("fake-guest: cannot parse %q", line), 2
	}
	switch words[0] {
	case "install":
		return g.installDirLocked(words[1:])
	case "chown":
		return g.chownLocked(words[1:])
	case "systemd-run":
		return g.systemdRunLocked(words[1:])
	case "systemctl":
		if len(words) == 5 && words[1] == "show" && words[2] == "--property=ActiveState" && words[3] == "--value" {
			if u := g.units[words[4]]; u != nil && u.active {
				return "active\n", "", 0
			}
			return "inactive\n", "", 0
		}
	}
	return "", "fake-guest: command not modelled: " + words[0], 127
}

// shellWords splits a command line of plain words and single-quoted strings.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted:
			if c == '\'' {
				quoted = false
			} else {
				cur.WriteByte(c)
			}
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.IndexByte("|&;<>()$`\"*?", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q", c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// installDirLocked is `install -d -m MODE -o USER -g GROUP DIR`.
func (g *Guest) installDirLocked(args []string) (string, string, int) {
	var mode fs.FileMode = 0o755
	uid, gid := 0, 0
	var dirs []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-d":
		case "-m", "-o", "-g":
			if i+1 >= len(args) {
				return "", "install: option requires an argument", 1
			}
			v := args[i+1]
			i++
			switch args[i-1] {
			case "-m":
				n, err := strconv.ParseUint(v, 8, 32)
				if err != nil {
					return "", "install: invalid mode " + v, 1
				}
				mode = unixMode(uint32(n))
			case "-o":
				var ok bool
				if uid, ok = lookupID(guestUsers, v); !ok {
					return "", "install: invalid user '" + v + "'", 1
				}
			case "-g":
				var ok bool
				if gid, ok = lookupID(guestGroups, v); !ok {
					return "", "install: invalid group '" + v + "'", 1
				}
			}
		default:
			dirs = append(dirs, args[i])
		}
	}
	for _, d := range dirs {
		if f, ok := g.files[d]; ok && !f.dir {
			return "", "install: cannot create directory '" + d + "': File exists", 1
		}
		g.mkdirAllLocked(d)
		f := g.files[d]
		f.mode, f.uid, f.gid = mode, uid, gid
	}
	return "", "", 0
}

// chownLocked is `chown -h -- OWNER PATH`.
func (g *Guest) chownLocked(args []string) (string, string, int) {
	var rest []string
	for _, a := range args {
		if a != "-h" && a != "--" {
			rest = append(rest, a)
		}
	}
	if len(rest) != 2 {
		return "", "chown: missing operand", 1
	}
	owner, target := rest[0], rest[1]
	u, gr, hasGroup := strings.Cut(owner, ":")
	uid, ok := lookupID(guestUsers, u)
	if !ok {
		return "", "chown: invalid user: '" + owner + "'", 1
	}
	gid := uid
	if hasGroup {
		if gid, ok = lookupID(guestGroups, gr); !ok {
			return "", "chown: invalid group: '" + owner + "'", 1
		}
	}
	f, exists := g.files[target]
	if !exists {
		return "", "chown: cannot access '" + target + "': No such file or directory", 1
	}
	f.uid, f.gid = uid, gid
	f.mode &^= fs.ModeSetuid | fs.ModeSetgid
	return "", "", 0
}

func lookupID(table map[string]int, name string) (int, bool) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, true
	}
	n, ok := table[name]
	return n, ok
}

// unixMode reads octal mode bits, special bits included, as Go's.
func unixMode(m uint32) fs.FileMode {
	out := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// activateLocked is daemon-reload, enable and restart of the config-manager unit.
func (g *Guest) activateLocked() (string, string, int) {
	if _, ok := g.readLocked(configmanager.UnitPath); !ok {
		return "", "Failed to enable unit: Unit file " + configManagerUnit + " does not exist.", 1
	}
	u := g.units[configManagerUnit]
	if u == nil {
		u = &unit{}
		g.units[configManagerUnit] = u
	}
	u.enabled = true
	stderr := "Created symlink /etc/systemd/system/multi-user.target.wants/" + configManagerUnit + " → " + configmanager.UnitPath + ".\n"
	// With --no-block systemctl returns once the job is queued: how config-sync ended shows in
	// the unit's Result.
	g.configSyncLocked()
	return "", stderr, 0
}

// systemdRunLocked starts a detached run: `systemd-run … --unit=lxctm-run-ID.service … /bin/sh DIR/run.sh`.
func (g *Guest) systemdRunLocked(args []string) (string, string, int) {
	unitName, wrapper := "", ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--unit="); ok {
			unitName = v
		}
		if strings.HasSuffix(a, "/run.sh") {
			wrapper = a
		}
	}
	id, ok := strings.CutSuffix(strings.TrimPrefix(unitName, runUnitPrefix), ".service")
	if unitName == "" || !ok || wrapper != path.Join(runsDir, id, "run.sh") {
		return "", "fake-guest: systemd-run of something other than a detached run", 127
	}
	if u := g.units[unitName]; u != nil && u.active {
		return "", "Failed to start transient service unit: Unit " + unitName + " was already loaded or has a fragment file.", 1
	}
	runSh, ok := g.readLocked(wrapper)
	if !ok {
		return "", "/bin/sh: 0: cannot open " + wrapper + ": No such file", 127
	}
	dir := path.Dir(wrapper)
	if _, done := g.readLocked(dir + "/exit-code"); done {
		// The wrapper leaves a finished run alone.
		return "", "", 0
	}
	script, _ := g.readLocked(dir + "/script")
	d, err := parseDirectives(script)
	if err != nil {
		d = directives{exits: []int{2}, prints: []string{"fake-guest: " + err.Error()}}
	}
	attempt := 1
	for _, r := range g.history {
		if r.ID == id {
			attempt++
		}
	}
	sleep := pick(d.sleeps, attempt, 0)
	exit := pick(d.exits, attempt, 0)
	timedOut := false
	if limit := wrapperTimeout(runSh); limit > 0 && sleep > limit {
		sleep, exit, timedOut = limit, 124, true
	}
	delete(g.files, dir+"/finished-at")
	// The wrapper's shell loads the environment and removes its file before the script runs.
	delete(g.files, dir+"/env")
	now := time.Now()
	g.writeLocked(dir+"/started-at", []byte(now.UTC().Format(time.RFC3339)+"\n"), 0o644)
	g.writeLocked(dir+"/output.log", nil, 0o644)
	g.history = append(g.history, RunRecord{ID: id, Attempt: attempt, Boot: g.boot, State: "running", Script: string(script), Start: now, Duration: sleep})
	rec := len(g.history) - 1
	u := g.units[unitName]
	if u == nil {
		u = &unit{}
		g.units[unitName] = u
	}
	u.active = true
	r := &guestRun{record: rec}
	g.runs[id] = r
	finish := func() { g.finishRun(id, r, d, exit, timedOut) }
	if sleep <= 0 {
		// Still asynchronous: systemd-run returns before the unit ends.
		sleep = time.Millisecond
	}
	r.timer = time.AfterFunc(sleep, finish)
	return "", "", 0
}

// wrapperTimeout reads the `timeout -k 30 N` the wrapper puts before the script.
func wrapperTimeout(runSh []byte) time.Duration {
	_, rest, ok := strings.Cut(string(runSh), "timeout -k 30 ")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(strings.Fields(rest)[0])
	if err != nil {
		return 0
	}
	return time.Duration(n) * time.Second
}

// finishRun records a run's end as the wrapper does and applies its effects on success.
func (g *Guest) finishRun(id string, r *guestRun, d directives, exit int, timedOut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.runs[id] != r {
		return // lost in a reboot
	}
	delete(g.runs, id)
	dir := path.Join(runsDir, id)
	out := strings.Join(d.prints, "\n")
	if out != "" {
		out += "\n"
	}
	if !timedOut && exit == 0 {
		for _, p := range d.needs {
			if _, ok := g.files[p]; !ok {
				exit = 1
				out += "fake-guest: " + p + " is missing\n"
			}
		}
	}
	if !timedOut && exit == 0 {
		for _, svc := range d.listens {
			g.addServiceLocked(svc)
		}
		for _, c := range d.credentials {
			file, kv, _ := strings.Cut(c, ":")
			p := configmanager.CredentialsDir + "/" + file
			old, _ := g.readLocked(p)
			g.writeLocked(p, append(append([]byte(nil), old...), kv+"\n"...), 0o600)
		}
	}
	g.writeLocked(dir+"/output.log", []byte(out), 0o644)
	g.writeLocked(dir+"/finished-at", []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
	g.writeLocked(dir+"/exit-code", []byte(strconv.Itoa(exit)+"\n"), 0o644)
	g.history[r.record].State, g.history[r.record].ExitCode = "finished", exit
	if u := g.units[runUnitPrefix+id+".service"]; u != nil {
		u.active = false
	}
}

func (g *Guest) addServiceLocked(svc service) {
	for _, s := range g.services {
		if s.proto == svc.proto && s.port == svc.port && s.addr == svc.addr {
			return
		}
	}
	svc.pid = g.nextPID
	g.nextPID++
	g.services = append(g.services, svc)
}

// discoveryLocked prints the document the collector script prints (see internal/discovery).
func (g *Guest) discoveryLocked() string {
	var b strings.Builder
	section := func(kind string, content, arg string) {
		if arg != "" {
			fmt.Fprintf(&b, "section %s 0 %d %s\n%s\n", kind, len(content), arg, content)
		} else {
			fmt.Fprintf(&b, "section %s 0 %d\n%s\n", kind, len(content), content)
		}
	}
	b.WriteString("lxctm-discovery 1\n")
	var ss strings.Builder
	fmt.Fprintf(&ss, "tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=%d,fd=3))\n", sshdPID)
	for _, s := range g.services {
		state, queue := "LISTEN", "511"
		if s.proto == "udp" {
			state, queue = "UNCONN", "0"
		}
		fmt.Fprintf(&ss, "%s %s 0 %s %s:%d 0.0.0.0:* users:((\"%s\",pid=%d,fd=6))\n", s.proto, state, queue, s.addr, s.port, s.process, s.pid)
	}
	section("ss", ss.String(), "")
	section("cgroup", "0::/system.slice/ssh.service\n", strconv.Itoa(sshdPID))
	for _, s := range g.services {
		section("cgroup", "0::/system.slice/"+s.process+".service\n", strconv.Itoa(s.pid))
	}
	var units strings.Builder
	units.WriteString("ssh.service loaded active running OpenBSD Secure Shell server\n")
	seen := map[string]bool{}
	for _, s := range g.services {
		if !seen[s.process] {
			seen[s.process] = true
			fmt.Fprintf(&units, "%s.service loaded active running %s\n", s.process, s.process)
		}
	}
	section("units", units.String(), "")
	for _, dir := range []string{discovery.CredentialsDir, discovery.SavedCredentialsDir} {
		names := []string{}
		for _, name := range g.childrenLocked(dir) {
			if strings.HasSuffix(name, ".env") {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			if data, ok := g.readLocked(dir + "/" + name); ok {
				section("credentials", string(data), name)
			}
		}
	}
	b.WriteString("end\n")
	return b.String()
}

// setRootPasswordLocked is chpasswd reading root's new password from the uploaded file, which
// is removed either way. The guest keeps only a hash of it.
func (g *Guest) setRootPasswordLocked() (string, string, int) {
	data, ok := g.readLocked(configmanager.RootPasswordFile)
	delete(g.files, configmanager.RootPasswordFile)
	if !ok {
		return "", "/bin/sh: 1: cannot open " + configmanager.RootPasswordFile + ": No such file", 2
	}
	user, password, found := strings.Cut(strings.TrimSuffix(string(data), "\n"), ":")
	if !found || user != "root" || password == "" || strings.ContainsAny(password, "\n") {
		return "", "chpasswd: line 1: missing new password", 1
	}
	sum := sha256.Sum256([]byte(password))
	g.rootPassword = hex.EncodeToString(sum[:])
	return "", "", 0
}
