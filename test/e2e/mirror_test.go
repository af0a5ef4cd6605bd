package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/mirror/pgtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// eventTTL is the API server's --event-ttl in the pipeline test: long enough for the pipeline's
// own checks of Events, short enough that its first Events expire before it ends.
const eventTTL = 75 * time.Second

// mirrorDB is the status mirror's database of an end-to-end test, on the machine's PostgreSQL.
type mirrorDB struct {
	dsn  string
	pool *pgxpool.Pool
}

func newMirrorDB(t testing.TB) *mirrorDB {
	t.Helper()
	db := &mirrorDB{dsn: pgtest.NewDatabase(t)}
	var err error
	db.pool, err = pgxpool.New(context.Background(), db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.pool.Close)
	return db
}

func (db *mirrorDB) strings(t testing.TB, sql string, args ...any) []string {
	t.Helper()
	rows, err := db.pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkMirrorOfPipeline checks, while web-1 is Ready and bad-1 has failed, that the mirror holds
// the pipeline's objects in all five tables, that the dashboard's queries show them, that the
// rows follow status changes within 2 s, and that no secret value is in the database.
func checkMirrorOfPipeline(t testing.TB, s *stack, db *mirrorDB, ns string, secrets map[string]string) {
	t.Helper()
	ctx := context.Background()
	web, bad := &lxcv1.LXCContainer{}, &lxcv1.LXCContainer{}
	for name, obj := range map[string]*lxcv1.LXCContainer{"web-1": web, "bad-1": bad} {
		if err := s.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
			t.Fatal(err)
		}
	}
	// The newest state of each container reaches its row within 2 s.
	testkit.Eventually(t, 2*time.Second, func() error {
		for _, c := range []*lxcv1.LXCContainer{web, bad} {
			var current bool
			if err := db.pool.QueryRow(ctx, `SELECT resource_version >= $3::bigint FROM containers WHERE namespace = $1 AND name = $2`,
				ns, c.Name, c.ResourceVersion).Scan(&current); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			if !current {
				return fmt.Errorf("%s: the row is older than resourceVersion %s", c.Name, c.ResourceVersion)
			}
		}
		return nil
	})

	expect := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", what, got, want)
		}
	}
	expect("templates", db.strings(t, `SELECT name || ' ' || os_template || ' ' || array_to_string(package_bucket_refs, ',') || ' ' || script_count || ' ' || file_count || ' ' || ready
FROM templates WHERE namespace = $1 ORDER BY name`, ns),
		"failing "+debianTemplate+" web 3 3 true", "web "+debianTemplate+" web 2 3 true")
	expect("package_buckets", db.strings(t, `SELECT name || ' ' || package_manager || ' ' || package_count || ' ' || used_by || ' ' || ready
FROM package_buckets WHERE namespace = $1`, ns), "web apt 2 2 true")
	expect("containers", db.strings(t, `SELECT name || ' ' || template || ' ' || cluster || ' ' || node || ' ' || vmid || ' ' || ip || ' ' || phase || ' ' || ready || ' ' || stalled
FROM containers WHERE namespace = $1 ORDER BY name`, ns),
		fmt.Sprintf("bad-1 failing pve %s %d %s Failed false true", bad.Status.Node, bad.Status.VMID, bad.Status.IPAddress),
		fmt.Sprintf("web-1 web pve %s %d %s Ready true false", web.Status.Node, web.Status.VMID, web.Status.IPAddress))
	var svcs []string
	for _, sv := range web.Status.Services {
		svcs = append(svcs, fmt.Sprintf("web-1 %s %d/%s %s", sv.Name, sv.Port, sv.Protocol, sv.URL))
	}
	expect("container_services", db.strings(t, `SELECT container_name || ' ' || name || ' ' || port || '/' || protocol || ' ' || url
FROM container_services WHERE namespace = $1 AND container_name = 'web-1' ORDER BY name, port, protocol`, ns), sorted(svcs)...)

	// Every Event about the pipeline's containers is in container_events.
	events := &eventsv1.EventList{}
	if err := s.k8s.List(ctx, events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		have := map[string]bool{}
		for _, r := range db.strings(t, `SELECT uid FROM container_events WHERE namespace = $1`, ns) {
			have[r] = true
		}
		for _, e := range events.Items {
			if e.Regarding.Kind == "LXCContainer" && !have[string(e.UID)] {
				return fmt.Errorf("container_events misses %s (%s %s)", e.Name, e.Reason, e.Regarding.Name)
			}
		}
		return nil
	})

	// The dashboard's pages, through its schema.
	tpl := ns + "/web"
	expect("dashboard template list", db.strings(t, `SELECT t."name" || ' ' || t."tags" || ' ' ||
  (SELECT count(*) FROM "TemplateScript" s WHERE s."templateId" = t."id") || ' ' ||
  (SELECT count(*) FROM "TemplateFile" f WHERE f."templateId" = t."id") || ' ' ||
  (SELECT count(*) FROM "Container" c WHERE c."templateId" = t."id")
FROM "Template" t WHERE t."name" LIKE $1 || '/%' ORDER BY t."name"`, ns), ns+"/failing web 3 3 1", tpl+" web 2 3 1")
	expect("dashboard template scripts", db.strings(t, `SELECT s."order" || ' ' || s."name" || ' ' || (s."content" <> '')::text
FROM "TemplateScript" s JOIN "Template" t ON t."id" = s."templateId" WHERE t."name" = $1 ORDER BY s."order"`, tpl),
		"0 page true", "1 credentials true")
	expect("dashboard template files", db.strings(t, `SELECT f."targetPath" || ' ' || f."policy"::text
FROM "TemplateFile" f JOIN "Template" t ON t."id" = f."templateId" WHERE t."name" = $1 ORDER BY f."targetPath"`, tpl),
		"/etc/apt/sources.list replace", "/etc/issue backup", "/etc/motd default")
	expect("dashboard bucket packages", db.strings(t, `SELECT b."name" || ' ' || p."name" || ' ' || p."manager"::text
FROM "PackageBucket" b JOIN "Package" p ON p."bucketId" = b."id" WHERE b."name" = $1 ORDER BY p."name"`, ns+"/web"),
		ns+"/web ca-certificates apt", ns+"/web hello-web apt")
	expect("dashboard container list", db.strings(t, `SELECT c."vmid" || ' ' || c."lifecycle"::text || ' ' || n."name" || ' ' || COALESCE(t."name", '-')
FROM "Container" c JOIN "ProxmoxNode" n ON n."id" = c."nodeId" LEFT JOIN "Template" t ON t."id" = c."templateId"
WHERE c."id" = ANY($1) ORDER BY c."vmid"`, []string{string(web.UID), string(bad.UID)}), sortedVMIDs(web, bad)...)
	expect("dashboard container services", db.strings(t, `SELECT s."name" || ' ' || s."type"::text || ' ' || s."port" || ' ' || s."status"::text
FROM "ContainerService" s WHERE s."containerId" = $1 AND s."port" = 8080`, string(web.UID)), "hello-web systemd 8080 running")
	// A template's packages include its bucket's, as the dashboard's template pages count them.
	pkgs := db.strings(t, `SELECT p."name" FROM "Package" p JOIN "Template" t ON t."id" = p."templateId" WHERE t."name" = $1 ORDER BY p."name"`, tpl)
	if !slices.Contains(pkgs, "ca-certificates") || !slices.Contains(pkgs, "hello-web") {
		t.Errorf("the dashboard shows template web's packages as %q, without its bucket's", pkgs)
	}
	// The progress page: web-1 (Ready, whatever it met while its guest booted) has no error and
	// its five steps; bad-1's error is its stall, carrying the script's failure.
	if got := db.strings(t, `SELECT e."type"::text || ' ' || e."message" FROM "ContainerEvent" e WHERE e."containerId" = $1 AND e."type" = 'error'`, string(web.UID)); len(got) != 0 {
		t.Errorf("the dashboard shows errors for the Ready web-1: %q", got)
	}
	expect("web-1's steps", db.strings(t, `SELECT ("metadata"::jsonb ->> 'step') || ' ' || ("metadata"::jsonb ->> 'percent')
FROM "ContainerEvent" WHERE "containerId" = $1 AND "metadata"::jsonb ? 'condition' ORDER BY "createdAt"`, string(web.UID)),
		"creating 20", "starting 35", "deploying 60", "syncing 90", "finalizing 98")
	badErrors := db.strings(t, `SELECT e."message" FROM "ContainerEvent" e WHERE e."containerId" = $1 AND e."type" = 'error' ORDER BY e."createdAt"`, string(bad.UID))
	if len(badErrors) == 0 || !strings.Contains(badErrors[0], "script boom") || !strings.Contains(badErrors[0], "exited 3") {
		t.Errorf("the dashboard shows bad-1's errors as %q, want the script's failure first", badErrors)
	}
	if got := db.strings(t, `SELECT reason || ' ' || action FROM container_events WHERE namespace = $1 AND container_name = $2 AND type = 'Warning' AND action <> 'Stall'`, ns, "bad-1"); len(got) > 0 {
		t.Logf("bad-1's warnings retried, not errors: %q", got)
	}

	// No secret value anywhere in the database.
	var dump strings.Builder
	for _, rel := range db.strings(t, `SELECT quote_ident(relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v')`) {
		for _, line := range db.strings(t, "SELECT x::text FROM "+rel+" x") {
			dump.WriteString(line + "\n")
		}
	}
	if !strings.Contains(dump.String(), "managed issue") {
		t.Error("the dump lacks the template's inline file; is it a dump?")
	}
	for what, value := range secrets {
		if strings.Contains(dump.String(), value) {
			t.Errorf("the %s is in the mirror's database", what)
		}
	}
}

// checkMirrorAfterDeletes checks that the deleted containers' rows are gone while their Events
// stay, also after the API server expired them.
func checkMirrorAfterDeletes(t testing.TB, s *stack, db *mirrorDB, ns string) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, 10*time.Second, func() error {
		n := db.strings(t, `SELECT (SELECT count(*) FROM containers WHERE namespace = $1)::text || ' ' ||
  (SELECT count(*) FROM container_services WHERE namespace = $1)::text`, ns)
		if n[0] != "0 0" {
			return fmt.Errorf("containers and services rows left: %s", n[0])
		}
		return nil
	})
	kept := db.strings(t, `SELECT uid FROM container_events WHERE namespace = $1 AND container_name = 'web-1'`, ns)
	if len(kept) == 0 {
		t.Fatal("no Events of web-1 in the mirror")
	}
	// Wait for the API server to expire web-1's first Events (--event-ttl), then look again.
	first := db.strings(t, `SELECT uid FROM container_events WHERE namespace = $1 AND container_name = 'web-1' ORDER BY event_time LIMIT 1`, ns)[0]
	testkit.Eventually(t, 2*eventTTL, func() error {
		events := &eventsv1.EventList{}
		if err := s.k8s.List(ctx, events, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if string(e.UID) == first {
				return fmt.Errorf("event %s not expired yet", e.Name)
			}
		}
		return nil
	})
	if got := db.strings(t, `SELECT uid FROM container_events WHERE uid = $1`, first); len(got) == 0 {
		t.Error("an Event the API server expired is gone from the mirror too")
	}
	if after := db.strings(t, `SELECT uid FROM container_events WHERE namespace = $1 AND container_name = 'web-1'`, ns); len(after) < len(kept) {
		t.Errorf("web-1's Events in the mirror went from %d to %d", len(kept), len(after))
	}
}

func sortedVMIDs(web, bad *lxcv1.LXCContainer) []string {
	rows := []struct {
		vmid int32
		s    string
	}{
		{web.Status.VMID, fmt.Sprintf("%d ready %s %s/web", web.Status.VMID, web.Status.Node, web.Namespace)},
		{bad.Status.VMID, fmt.Sprintf("%d error %s %s/failing", bad.Status.VMID, bad.Status.Node, bad.Namespace)},
	}
	if rows[1].vmid < rows[0].vmid {
		rows[0], rows[1] = rows[1], rows[0]
	}
	return []string{rows[0].s, rows[1].s}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
