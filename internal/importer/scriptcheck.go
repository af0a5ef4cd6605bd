package importer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// What the script environment gives every script (internal/configmanager/script-env.sh): the
// contract the original's scripts were written against.
var (
	contractVars  = []string{"CONTAINER_USER", "CONTAINER_OS", "CONTAINER_OS_VERSION", "CONTAINER_IP", "_PKG_MGR", "CONFIG_MANAGER_FIRST_RUN"}
	contractFuncs = []string{
		"log_info", "log_warn", "log_error", "run_as_user", "generate_password", "save_credential",
		"is_installed", "ensure_installed", "wait_for_apt_lock",
	}
	// shellVars are set by bash, the login environment or the run itself.
	shellVars = []string{
		"HOME", "PATH", "USER", "LOGNAME", "PWD", "OLDPWD", "SHELL", "TERM", "LANG", "LANGUAGE",
		"LC_ALL", "HOSTNAME", "HOSTTYPE", "OSTYPE", "MACHTYPE", "UID", "EUID", "PPID", "RANDOM",
		"SECONDS", "LINENO", "IFS", "OPTARG", "OPTIND", "TMPDIR", "BASH", "BASHPID", "BASH_ENV",
		"BASH_SOURCE", "BASH_VERSION", "BASH_REMATCH", "BASH_LINENO", "FUNCNAME", "PIPESTATUS",
		"SUDO_USER", "DEBIAN_FRONTEND", "EDITOR", "XDG_RUNTIME_DIR", "REPLY",
	}
	// upstreamFuncs are functions of the original's engine the script environment leaves out:
	// they served the engine itself (its detection steps and first-run marker).
	upstreamFuncs = []string{
		"detect_container_os", "detect_container_user", "detect_package_manager", "detect_first_run",
		"mark_first_run_complete", "export_script_env", "_apt_update_once", "_log",
	}
	// snakeCommands are ordinary commands whose names look like functions.
	snakeCommands = []string{"lsb_release"}
)

var (
	// A use of $NAME or ${NAME…}; a default (${NAME:-x}, ${NAME-x}, ${NAME:=x}) or
	// ${NAME:+x} makes an unset variable harmless.
	varUseRE = regexp.MustCompile(`\$\{?(_?[A-Z][A-Z0-9_]*)(\}|:?[-=+?]|)`)
	// An assignment, export, local, declare or readonly of NAME, a read into it or a for loop.
	varSetRE = regexp.MustCompile(`(?:^|[\s;&|(])(?:(?:export|local|declare|typeset|readonly)(?:\s+-\w+)*\s+)?(_?[A-Z][A-Z0-9_]*)(?:\[[^]]*\])?\+?=` +
		`|\bread\b(?:\s+-\w+(?:\s+\S+)?)*((?:\s+_?[A-Z][A-Z0-9_]*)+)` +
		`|\bfor\s+(_?[A-Z][A-Z0-9_]*)\s+in\b` +
		`|\b(?:export|local|declare|readonly)(?:\s+-\w+)*\s+(_?[A-Z][A-Z0-9_]*)\s*$`)
	funcDefRE  = regexp.MustCompile(`(?m)^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*\(\)`)
	funcDefRE2 = regexp.MustCompile(`(?m)^\s*function\s+([A-Za-z_][A-Za-z0-9_]*)\b`)
	// A snake_case word where a command starts: the line's start or after ; & | ( ! && || then do.
	// The character after the name tells a call from an assignment (name=…).
	callRE = regexp.MustCompile(`(?:^|[;&|(!]|\bthen\b|\bdo\b|\belse\b|\$\()\s*(_?[a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?:[^=+\[\w]|$)`)
	// A here-document: its body is data, expanded only when the word is unquoted.
	heredocRE = regexp.MustCompile(`(?:^|[^<])<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)(['"]?)`)
	// Fetches from the network.
	egressREs = []struct {
		re   *regexp.Regexp
		what string
	}{
		{regexp.MustCompile(`\bcurl\b`), "curl"},
		{regexp.MustCompile(`\bwget\b`), "wget"},
		{regexp.MustCompile(`\bgit\s+clone\b`), "git clone"},
		{regexp.MustCompile(`\b(?:add-apt-repository|apt-add-repository)\b`), "apt-add-repository"},
		{regexp.MustCompile(`\b(?:pip3?|pipx|npm|pnpm|yarn)\s+(?:install|add|i)\b.*(?:https?://|git\+)`), "an install from a URL"},
	}
	keyRE = regexp.MustCompile(`\bkeyctl\b`)
)

// defaultScriptTimeout is what an imported script may take. The original set no limit; the
// API asks for one, so it is long and written into the manifest where it shows.
const defaultScriptTimeout = 6 * 60 * 60

// checkScript reports, as warnings, what in a script will not work in the controller's
// containers the way it did in the original's: it reads lines, not bash, so it is a best
// effort that errs on the side of saying something.
func checkScript(content string, w reporter) {
	lines := strings.Split(content, "\n")
	if first := strings.TrimSpace(lines[0]); !isBashShebang(first) {
		how := "without a #! line it runs with /bin/sh"
		if strings.HasPrefix(first, "#!") {
			how = "it runs with " + strings.TrimSpace(strings.TrimPrefix(first, "#!"))
		}
		w.add(1, "%s, not bash: the original ran every script with bash, and the script environment (log_info, CONTAINER_USER, …) is only there for bash", how)
	}

	defined := map[string]bool{}
	for _, re := range []*regexp.Regexp{funcDefRE, funcDefRE2} {
		for _, m := range re.FindAllStringSubmatch(content, -1) {
			defined[m[1]] = true
		}
	}
	set := map[string]bool{}
	for _, l := range lines {
		for _, m := range varSetRE.FindAllStringSubmatch(code(l), -1) {
			for _, g := range m[1:] {
				for _, name := range strings.Fields(g) {
					set[name] = true
				}
			}
		}
	}

	reportedVar, reportedFunc := map[string]bool{}, map[string]bool{}
	heredocEnd, heredocExpands := "", false
	for i, l := range lines {
		n, c := i+1, code(l)
		if heredocEnd != "" {
			if strings.TrimSpace(l) == heredocEnd {
				heredocEnd = ""
				continue
			}
			if !heredocExpands {
				continue
			}
			c = strings.TrimSpace(l)
		} else if m := heredocRE.FindStringSubmatch(c); m != nil {
			heredocEnd, heredocExpands = m[2], m[1] == ""
		}
		if c == "" {
			continue
		}
		inHeredoc := heredocEnd != "" && !heredocRE.MatchString(c)
		if inHeredoc {
			// Data: only its expansions are the script's.
			checkVars(c, n, set, reportedVar, w)
			continue
		}
		for _, e := range egressREs {
			if e.re.MatchString(c) {
				w.add(n, "fetches from the network (%s): the container needs egress to the internet", e.what)
				break
			}
		}
		if keyRE.MatchString(c) {
			w.add(n, "uses keyctl: the template needs features.keyctl, which Proxmox sets only for root@pam, so the ProxmoxCluster needs root@pam password credentials")
		}
		checkVars(c, n, set, reportedVar, w)
		for _, m := range callRE.FindAllStringSubmatch(c, -1) {
			name := m[1]
			if defined[name] || reportedFunc[name] || slices.Contains(contractFuncs, name) || slices.Contains(snakeCommands, name) {
				continue
			}
			reportedFunc[name] = true
			if slices.Contains(upstreamFuncs, name) {
				w.add(n, "calls %s, a function of the original's engine that the script environment does not provide", name)
			} else {
				w.add(n, "calls %s, which the script does not define and the script environment does not provide", name)
			}
		}
	}
}

// checkVars reports the first use of each variable nobody provides.
func checkVars(c string, n int, set, reported map[string]bool, w reporter) {
	for _, m := range varUseRE.FindAllStringSubmatch(c, -1) {
		name, how := m[1], m[2]
		if how != "" && how != "}" || set[name] || reported[name] ||
			slices.Contains(contractVars, name) || slices.Contains(shellVars, name) {
			continue
		}
		reported[name] = true
		w.add(n, "uses $%s, which the script does not set and the script environment does not provide (%s)", name, strings.Join(contractVars, ", "))
	}
}

// code is a line without a leading comment; a comment after code stays (best effort).
func code(line string) string {
	t := strings.TrimSpace(line)
	if strings.HasPrefix(t, "#") {
		return ""
	}
	return t
}

func isBashShebang(line string) bool {
	f := strings.Fields(strings.TrimPrefix(line, "#!"))
	if !strings.HasPrefix(line, "#!") || len(f) == 0 {
		return false
	}
	prog := f[0]
	if strings.HasSuffix(prog, "/env") && len(f) > 1 {
		prog = f[1]
	}
	return prog == "bash" || strings.HasSuffix(prog, "/bash")
}

// featureWarning says what a feature needs on the cluster.
func featureWarning(feature string) string {
	return fmt.Sprintf("%s: Proxmox lets only root@pam set features.%s, so the ProxmoxCluster needs root@pam password credentials (username and password), not an API token; without them containers of this template stall with RootRequired",
		"TEMPLATE_"+strings.ToUpper(feature), feature)
}
