package fake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/configmanager"
)

// configSyncLocked does what config-sync.sh does with the uploaded manifest and contents:
// each file by its policy, the log in last-run.log, the installed hashes; it sets the unit's
// result and reports whether the run succeeded. Owners are resolved against the guest's
// users (root, daemon, bin, sys, www-data, nobody): an unknown one fails the run, as on a
// real container.
func (g *Guest) configSyncLocked() bool {
	state := configmanager.StateDir + "/config-sync"
	installedPath := state + "/installed"
	var log []string
	failures, changes, files := 0, 0, 0
	problem := func(format string, args ...any) {
		log = append(log, "error: "+fmt.Sprintf(format, args...))
		failures++
	}
	previous := map[string]string{}
	if data, ok := g.readLocked(installedPath); ok {
		for _, line := range strings.Split(string(data), "\n") {
			if sum, p, ok := strings.Cut(line, "\t"); ok {
				previous[p] = sum
			}
		}
	}
	var installed []string
	record := func(p, sum string) {
		if sum == "" {
			sum = previous[p]
		}
		if sum != "" {
			installed = append(installed, sum+"\t"+p)
		}
	}
	manifest, ok := g.readLocked(configmanager.ManifestPath)
	if !ok {
		problem("manifest %s is missing", configmanager.ManifestPath)
	} else {
		log = append(log, "applying "+configmanager.ManifestPath)
		for n, line := range strings.Split(string(manifest), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			files++
			f := strings.SplitN(line, "\t", 5)
			if len(f) != 5 || len(f[1]) != 4 || len(f[3]) != 64 || !strings.HasPrefix(f[4], "/") {
				problem("manifest line %d is malformed", n+1)
				continue
			}
			policy, modeText, owner, sum, p := f[0], f[1], f[2], f[3], f[4]
			changed, sumOK, err := g.applyLocked(policy, modeText, owner, sum, p, previous[p], &log)
			switch {
			case err != nil:
				problem("%s: %v", p, err)
				record(p, "")
			case sumOK:
				record(p, sum)
			default:
				record(p, "")
			}
			if changed {
				changes++
			}
		}
	}
	g.writeLocked(installedPath, []byte(strings.Join(installed, "\n")+"\n"), 0o600)
	result := "success"
	if failures == 0 {
		log = append(log, fmt.Sprintf("done: %d files, %d changes", files, changes))
		g.writeLocked(state+"/result", []byte("ok\n"), 0o600)
	} else {
		log = append(log, fmt.Sprintf("failed: %d problems in %d files, %d changes", failures, files, changes))
		g.writeLocked(state+"/result", []byte("failed\n"), 0o600)
		result = "exit-code"
	}
	g.writeLocked(state+"/last-run.log", []byte(strings.Join(log, "\n")+"\n"), 0o600)
	u := g.units[configManagerUnit]
	if u == nil {
		u = &unit{}
		g.units[configManagerUnit] = u
	}
	u.result = result
	return failures == 0
}

// applyLocked installs one managed file. It reports whether it changed anything and whether
// the file now holds sum (so it is recorded as written by config-sync).
func (g *Guest) applyLocked(policy, modeText, owner, sum, p, previous string, log *[]string) (changed, holds bool, err error) {
	if cur, ok := g.files[p]; ok && cur.dir {
		return false, false, fmt.Errorf("is a directory")
	}
	if policy == "default" {
		if _, ok := g.files[p]; ok {
			*log = append(*log, p+": left as it is (policy default, the file exists)")
			return false, false, nil
		}
	}
	blob, ok := g.readLocked(configmanager.FilesDir + "/" + sum)
	if !ok || sha(blob) != sum {
		return false, false, fmt.Errorf("desired content %s is missing or damaged in %s", sum, configmanager.FilesDir)
	}
	user, group, _ := strings.Cut(owner, ":")
	uid, ok := lookupID(guestUsers, user)
	if !ok {
		return false, false, fmt.Errorf("owner %s: no user %s", owner, user)
	}
	gid, ok := lookupID(guestGroups, group)
	if !ok {
		return false, false, fmt.Errorf("owner %s: no group %s", owner, group)
	}
	n, _ := strconv.ParseUint(modeText, 8, 32)
	mode := unixMode(uint32(n))
	if cur, ok := g.files[p]; ok {
		current := sha(cur.data)
		if current == sum {
			if cur.uid != uid || cur.gid != gid || cur.mode != mode {
				cur.uid, cur.gid, cur.mode = uid, gid, mode
				*log = append(*log, fmt.Sprintf("%s: set owner %s and mode %s", p, owner, modeText))
				return true, true, nil
			}
			*log = append(*log, p+": up to date")
			return false, true, nil
		}
		if policy == "backup" && current != previous {
			bak := *cur
			g.files[p+".bak"] = &bak
			*log = append(*log, p+": kept the previous file as "+p+".bak")
		}
	}
	if _, ok := g.files[path.Dir(p)]; !ok {
		g.mkdirAllLocked(path.Dir(p))
		*log = append(*log, p+": created its directory")
	}
	g.files[p] = &gfile{data: blob, mode: mode, uid: uid, gid: gid, modTime: time.Now()}
	*log = append(*log, fmt.Sprintf("%s: installed (policy %s)", p, policy))
	return true, true, nil
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
