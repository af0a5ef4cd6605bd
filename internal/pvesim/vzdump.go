package pvesim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

var vzdumpSchema = schema.Lookup("POST", "/nodes/{node}/vzdump")

// backupJob is one vzdump call as the worker sees it (pve-manager PVE/VZDump.pm new).
type backupJob struct {
	node     string
	vmids    []int
	skipped  []int // guests on other nodes
	cmdline  string
	storage  string
	mode     string
	compress string
	notes    string
	protect  bool
	remove   bool
	keep     map[string]int
	stopwait int // minutes
	ionice   string
	bwlimit  string
	exclude  []string
}

// vzdump is POST /nodes/{node}/vzdump (pve-manager PVE/API2/VZDump.pm): the checks made before
// the worker forks, then a vzdump task for the guests on this node. Guests named that live on
// other nodes are left to those nodes; when none is on this one, PVE answers "OK" without a
// task.
func (s *Server) vzdump(r *request) (any, error) {
	node := r.params["node"]
	if !s.hasNode(node) {
		return nil, errNoNode(node)
	}
	if r.bool("stdout") {
		return nil, paramErrorf("stdout", "option is only allowed on the command line interface.")
	}
	for _, k := range []string{"tmpdir", "dumpdir", "script", "job-id"} {
		switch {
		case r.has(k) && !r.isRoot():
			return nil, paramErrorf(k, "Only root may set this option.")
		case r.has(k) && k != "job-id":
			return nil, pveError("pvesim writes backups to storages only, not with '%s'", k)
		}
	}
	if err := checkVzdumpParams(r); err != nil {
		return nil, err
	}
	job, err := s.newBackupJob(r)
	if err != nil {
		return nil, err
	}
	if r.bool("stop") {
		s.stopBackups(node)
	}
	if len(job.vmids) == 0 && !r.bool("all") {
		return "OK", nil
	}
	id := ""
	if len(job.vmids) == 1 {
		id = strconv.Itoa(job.vmids[0])
	}
	s.log.Info("Starting backup job", "node", node, "vmids", job.vmids, "storage", job.storage, "user", r.user)
	return s.tasks.start(node, "vzdump", id, r.user, func(ctx context.Context, t *task) error {
		if err := t.fault(); err != nil {
			return err
		}
		return s.runBackupJob(ctx, t, job)
	}), nil
}

// checkVzdumpParams is verify_vzdump_parameters with check_missing.
func checkVzdumpParams(r *request) error {
	for _, k := range []string{"all", "exclude", "pool"} {
		if r.has("vmid") && r.has(k) && (k != "all" || r.bool("all")) {
			return paramErrorf(k, "option conflicts with option 'vmid'")
		}
	}
	if tmpl := r.params["notes-template"]; tmpl != "" {
		if err := verifyNotesTemplate(tmpl); err != nil {
			return paramErrorf("notes-template", "%v", err)
		}
	}
	all := r.bool("all") || (r.has("exclude") && !r.has("pool"))
	if !all && !r.bool("stop") && !r.has("pool") && !r.has("vmid") {
		return paramErrorf("vmid", "property is missing")
	}
	return nil
}

// newBackupJob settles the guests (get_included_guests), the defaults of vzdump.conf's schema
// and the command line the task logs.
func (s *Server) newBackupJob(r *request) (*backupJob, error) {
	node := r.params["node"]
	job := &backupJob{
		node: node, storage: "local", mode: "snapshot", compress: "0", notes: r.params["notes-template"],
		protect: r.bool("protected"), remove: r.params["remove"] != "0", stopwait: 10, ionice: "7",
		bwlimit: r.params["bwlimit"], cmdline: vzdumpCommandLine(r.params),
	}
	for k, dst := range map[string]*string{"storage": &job.storage, "mode": &job.mode, "compress": &job.compress, "ionice": &job.ionice} {
		if v := r.params[k]; v != "" {
			*dst = v
		}
	}
	if v, err := strconv.Atoi(r.params["stopwait"]); err == nil {
		job.stopwait = v
	}
	if r.params["stdexcludes"] != "0" {
		job.exclude = []string{"/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid"}
	}
	for _, p := range strings.Split(r.params["exclude-path"], "\x00") {
		if p != "" {
			job.exclude = append(job.exclude, p)
		}
	}
	var err error
	if job.keep, err = retention(r.params["prune-backups"]); err != nil {
		return nil, paramErrorf("prune-backups", "%v", err)
	}
	if keepsAll(job.keep) {
		job.remove = false // vzdump avoids any removal with keep-all
	}
	var ids []int
	switch {
	case r.has("vmid"):
		for _, v := range schema.SplitList(r.params["vmid"]) {
			id, _ := strconv.Atoi(v)
			ids = append(ids, id)
		}
	case r.has("pool"):
		// pvesim has no pools, so a pool has no guests.
	default:
		excluded := map[string]bool{}
		for _, v := range schema.SplitList(r.params["exclude"]) {
			excluded[v] = true
		}
		s.mu.Lock()
		for id := range s.containers {
			if !excluded[strconv.Itoa(id)] {
				ids = append(ids, id)
			}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	for _, id := range ids {
		// A VMID nobody has stays with this node and fails visibly in the task.
		if ct, ok := s.containers[id]; ok && ct.Node != node {
			job.skipped = append(job.skipped, id)
			continue
		}
		job.vmids = append(job.vmids, id)
	}
	s.mu.Unlock()
	slices.Sort(job.vmids)
	job.vmids = slices.Compact(job.vmids)
	slices.Sort(job.skipped)
	return job, nil
}

// vzdumpCommandLine is pve-guest-common's command_line: vzdump, the guests, then every other
// option as --key value (sorted here; PVE follows Perl's hash order).
func vzdumpCommandLine(params map[string]string) string {
	cmd := "vzdump"
	if v := params["vmid"]; v != "" {
		cmd += " " + strings.Join(schema.SplitList(v), " ")
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		switch k {
		case "vmid", "stdout", "job-id":
			continue
		}
		if v := params[k]; v != "" {
			cmd += " --" + k + " " + shellQuote(v)
		}
	}
	return cmd
}

var shellSafeRE = regexp.MustCompile(`^[\w!%+,\-./:=@^]+$`)

// shellQuote is PVE::Tools::shellquote.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if shellSafeRE.MatchString(s) {
		return s
	}
	q := "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	q = strings.TrimPrefix(q, "''")
	return strings.TrimSuffix(q, "''")
}

// stopBackups is stop_running_backups: the running backup job of the node is interrupted.
func (s *Server) stopBackups(node string) {
	for _, rec := range s.tasks.list(func(r *taskRecord) bool {
		return r.Node == node && r.Type == "vzdump" && r.Status == "running"
	}) {
		s.tasks.stop(rec.UPID)
	}
}

// runBackupJob is the vzdump worker: new's storage checks, then exec_backup over the guests.
func (s *Server) runBackupJob(ctx context.Context, t *task, job *backupJob) error {
	st, ok := findStorage(job.storage)
	if !ok {
		return fmt.Errorf("could not activate storage '%s': storage '%s' does not exist\n"+
			"could not get storage information for '%s': storage '%s' does not exist", job.storage, job.storage, job.storage, job.storage)
	}
	if !st.has("backup") {
		return fmt.Errorf("could not get storage information for '%s': can't use storage '%s' for backups - wrong content type", st.name, st.name)
	}
	if err := os.MkdirAll(s.backupDir(job.node, st.name), 0o755); err != nil {
		return err
	}
	t.logf("INFO: starting new backup job: %s", job.cmdline)
	if len(job.skipped) > 0 {
		var ids []string
		for _, id := range job.skipped {
			ids = append(ids, strconv.Itoa(id))
		}
		t.logf("INFO: skip external VMs: %s", strings.Join(ids, ", "))
	}
	failed := 0
	for _, vmid := range job.vmids {
		if err := s.backupGuest(ctx, t, job, vmid); err != nil {
			if errors.Is(err, errInterrupted) || ctx.Err() != nil {
				t.logf("ERROR: Backup job failed - interrupted by signal")
				return errors.New("interrupted by signal")
			}
			failed++
		}
	}
	if failed > 0 {
		t.logf("INFO: Backup job finished with errors")
		return errors.New("job errors")
	}
	t.logf("INFO: Backup job finished successfully")
	return nil
}

var (
	notesEscapeRE = regexp.MustCompile(`\\(.)`)
	notesVarRE    = regexp.MustCompile(`\{\{([^\s{}]+)\}\}`)
)

// verifyNotesTemplate is vzdump's verify_notes_template.
func verifyNotesTemplate(tmpl string) error {
	if strings.Contains(tmpl, "\n") {
		return errors.New("contains a line feed")
	}
	var problems []string
	for _, m := range notesEscapeRE.FindAllStringSubmatchIndex(tmpl, -1) {
		if c := tmpl[m[2]:m[3]]; c != "n" && c != `\` {
			problems = append(problems, fmt.Sprintf(`escape sequence '\%s' at char %d`, c, m[0]))
		}
	}
	for _, m := range notesVarRE.FindAllStringSubmatchIndex(tmpl, -1) {
		switch v := tmpl[m[2]:m[3]]; v {
		case "cluster", "guestname", "node", "vmid":
		default:
			problems = append(problems, fmt.Sprintf("variable '%s' at char %d", v, m[1]-len(v)))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("found unknown: %s", strings.Join(problems, ", "))
	}
	return nil
}

// notesFor is vzdump's generate_notes: escapes first, then the variables.
func notesFor(tmpl string, vars map[string]string) string {
	out := notesEscapeRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		if m == `\n` {
			return "\n"
		}
		return m[1:]
	})
	return notesVarRE.ReplaceAllStringFunc(out, func(m string) string {
		if v, ok := vars[m[2:len(m)-2]]; ok {
			return v
		}
		return m
	})
}

// clusterName is the cluster's name for notes, "standalone node" without a cluster.
func (s *Server) clusterName() string {
	if len(s.nodes) > 1 {
		return "pvesim"
	}
	return "standalone node"
}
