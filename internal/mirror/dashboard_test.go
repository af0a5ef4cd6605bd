package mirror

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// checkDashboard runs the dashboard pages' queries and checks what they show of fixture f.
func checkDashboard(t *testing.T, pool *pgxpool.Pool, f *fixture) {
	t.Helper()
	ctx := context.Background()
	tplName := f.ns + "/web"

	rows := queryRows(t, pool, queryTemplateList, "debian")
	var list []string
	for _, r := range rows {
		if r[1] == tplName {
			list = append(list, strings.Join(r[1:], " | "))
		}
	}
	want := []string{tplName + " | Debian 12 web server | web;debian | local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst | * | 2 | 2 | 6 | 1"}
	if len(list) != 1 || !matchStar(list[0], want[0]) {
		t.Errorf("template list %q, want %q", list, want)
	}
	if got := queryRows(t, pool, queryTemplateList, "deb"); containsName(got, tplName) {
		t.Error("the tag filter matched part of a tag")
	}

	var id string
	if err := pool.QueryRow(ctx, `SELECT "id" FROM "Template" WHERE "name" = $1`, tplName).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id != string(f.template.UID) {
		t.Errorf("template id %s, want the uid %s", id, f.template.UID)
	}
	check := func(what string, got [][]string, want [][]string) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", what, got, want)
		}
	}
	check("template detail", queryRows(t, pool, queryTemplate, id), [][]string{{id, tplName, "custom", "2", "1024", "256", "8",
		"local-lvm", "vmbr0", "true", "true", "false", "false", "web;debian"}})
	check("template scripts", queryRows(t, pool, queryTemplateScripts, id), [][]string{
		{"page", "0", "#!/bin/sh\necho page\n", "NULL", "true"},
		{"setup", "1", "# The content of this script is in ConfigMap " + f.ns + "/scripts, key setup.sh.\n" +
			"# The mirror does not copy ConfigMaps: kubectl get configmap -n " + f.ns + " scripts -o yaml\n",
			"ConfigMap scripts, key setup.sh", "true"}})
	check("template files", queryRows(t, pool, queryTemplateFiles, id), [][]string{
		{"token", "/etc/app/token", "replace", "The content of this file is in Secret " + f.ns + "/file-secret, key value. The mirror never copies a Secret.\n"},
		{"motd", "/etc/motd", "backup", "Managed by LXC Template Manager\n"}})
	// The template's packages are its buckets' and its own, as the dashboard's templates held them.
	check("template packages", queryRows(t, pool, queryTemplatePkgs, id), [][]string{
		{"@scope/tool", "npm", "1.2.3"}, {"busybox-extras", "custom", "NULL"}, {"curl", "apt", "7.88.1-10+deb12u8"},
		{"jq", "custom", "1.7.1-r0"}, {"nginx", "apt", "NULL"}, {"requests", "pip", "2.32.3"}})

	var buckets [][]string
	for _, r := range queryRows(t, pool, queryBuckets) {
		if strings.HasPrefix(r[0], f.ns+"/") {
			buckets = append(buckets, r)
		}
	}
	check("buckets", buckets, [][]string{
		{f.ns + "/alpine-tools", "busybox-extras", "custom", "NULL"},
		{f.ns + "/alpine-tools", "jq", "custom", "1.7.1-r0"},
		{f.ns + "/web-base", "curl", "apt", "7.88.1-10+deb12u8"},
		{f.ns + "/web-base", "nginx", "apt", "NULL"}})

	cid := string(f.container.UID)
	var containers [][]string
	for _, r := range queryRows(t, pool, queryContainerList) {
		if r[0] == cid {
			containers = append(containers, r)
		}
	}
	check("container list", containers, [][]string{{cid, "101", "ready", "pve1", tplName}})
	check("container detail", queryRows(t, pool, queryContainer, cid), [][]string{{"101", "ready", "", "pve1", "pve1", tplName}})
	// infrahaus main's reads: the signed-in user's nodes and its default, the container's hostname.
	check("nodes of the user", queryRows(t, pool, queryNodesForUser, "root@pam"), [][]string{{"pve1", "pve1", "8006", "true", "NULL"}})
	check("no nodes of another user", queryRows(t, pool, queryNodesForUser, "alice@pve"), nil)
	check("container detail (infrahaus)", queryRows(t, pool, queryContainerInfrahaus, cid), [][]string{{"101", "web-1", "ready", "pve1", tplName}})
	check("container services", queryRows(t, pool, queryContainerServices, cid), [][]string{
		{"nginx", "systemd", "80", "http://169.254.10.11:80", "running", "NULL"}})
	events := queryRows(t, pool, queryContainerEvents, cid)
	var types []string
	for _, e := range events {
		types = append(types, e[0]+": "+e[1])
		if !strings.Contains(e[2], `"container": "web-1"`) {
			t.Errorf("event metadata %s", e[2])
		}
	}
	check("container events", [][]string{types}, [][]string{{"created: Creating CT 101 on node pve1",
		"created: Creating CT 101 on node pve1", "error: Script page exited with 1"}})
}

// queryRows runs a query and renders every value as text (NULL as "NULL").
func queryRows(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) [][]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		r := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				r[i] = "NULL"
			} else {
				r[i] = toText(v)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func toText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

func containsName(rows [][]string, name string) bool {
	for _, r := range rows {
		if r[1] == name {
			return true
		}
	}
	return false
}

// matchStar compares got with want, where a * field in want matches anything.
func matchStar(got, want string) bool {
	g, w := strings.Split(got, " | "), strings.Split(want, " | ")
	if len(g) != len(w) {
		return false
	}
	for i := range w {
		if w[i] != "*" && w[i] != g[i] {
			return false
		}
	}
	return true
}
