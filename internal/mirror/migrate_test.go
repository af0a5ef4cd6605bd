package mirror

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
)

func TestMigrateTwoReplicasAtOnce(t *testing.T) {
	_, pool := newDatabase(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([][]int64, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	all := append(append([]int64{}, results[0]...), results[1]...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	want := embeddedVersions(t)
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("migrations applied %v, want %v once between the two", all, want)
	}
	var applied int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM mirror_schema_version WHERE version_id > 0").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(want) {
		t.Fatalf("version table records %d migrations, want %d", applied, len(want))
	}
	again, err := Migrate(ctx, pool)
	if err != nil || len(again) != 0 {
		t.Fatalf("second start applied %v, %v; want nothing", again, err)
	}
}

// embeddedVersions are the versions of the migrations in the binary, in order.
func embeddedVersions(t *testing.T) []int64 {
	t.Helper()
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, n := range names {
		var v int64
		if _, err := fmt.Sscanf(path.Base(n), "%05d_", &v); err != nil {
			t.Fatalf("migration %s: %v", n, err)
		}
		out = append(out, v)
	}
	return out
}

// The dashboard's schema as each generation's Prisma migrations leave it: table → column → type.
// pve-home-lab at 2a88d2a (apps/dashboard/prisma/migrations: initial_schema, thin_container)
// and infrahaus main (those two, then add_hostname_fallback and infra_refactor, which add
// Container.hostname and ProxmoxNode.sshPassword, isDefault and userId, and drop
// Container.rootPassword; no migration drops ContainerService, so its table stays).
var (
	pveHomeLabColumns = map[string]map[string]string{
		"ProxmoxNode": {"id": "text", "name": "text", "host": "text", "port": "integer", "tokenId": "text",
			"tokenSecret": "text", "fingerprint": "text", "createdAt": "timestamp(3) without time zone",
			"updatedAt": "timestamp(3) without time zone"},
		"Template": {"id": "text", "name": "text", "description": "text", "source": `"TemplateSource"`,
			"path": "text", "osTemplate": "text", "cores": "integer", "memory": "integer", "swap": "integer",
			"diskSize": "integer", "storage": "text", "bridge": "text", "unprivileged": "boolean",
			"nesting": "boolean", "keyctl": "boolean", "fuse": "boolean", "tags": "text",
			"createdAt": "timestamp(3) without time zone", "updatedAt": "timestamp(3) without time zone"},
		"PackageBucket": {"id": "text", "name": "text", "description": "text",
			"createdAt": "timestamp(3) without time zone"},
		"Package": {"id": "text", "name": "text", "manager": `"PackageManager"`, "version": "text",
			"bucketId": "text", "templateId": "text"},
		"TemplateScript": {"id": "text", "name": "text", "order": "integer", "content": "text",
			"description": "text", "enabled": "boolean", "templateId": "text"},
		"TemplateFile": {"id": "text", "name": "text", "targetPath": "text", "policy": `"FilePolicy"`,
			"content": "text", "templateId": "text"},
		"Container": {"id": "text", "vmid": "integer", "lifecycle": `"ContainerLifecycle"`,
			"rootPassword": "text", "createdAt": "timestamp(3) without time zone",
			"updatedAt": "timestamp(3) without time zone", "nodeId": "text", "templateId": "text"},
		"ContainerService": {"id": "text", "name": "text", "type": `"ServiceType"`, "port": "integer",
			"webUrl": "text", "status": `"ServiceStatus"`, "credentials": "text", "containerId": "text"},
		"ContainerEvent": {"id": "text", "type": `"EventType"`, "message": "text", "metadata": "text",
			"createdAt": "timestamp(3) without time zone", "containerId": "text"},
	}
	infrahausColumns = withColumns(pveHomeLabColumns, map[string]map[string]string{
		"ProxmoxNode": {"sshPassword": "text", "isDefault": "boolean", "userId": "text"},
		"Container":   {"hostname": "text", "rootPassword": ""},
	})
)

// withColumns is base with the changes of a later generation; an empty type drops a column.
func withColumns(base, changes map[string]map[string]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for table, cols := range base {
		out[table] = map[string]string{}
		for c, typ := range cols {
			out[table][c] = typ
		}
		for c, typ := range changes[table] {
			if typ == "" {
				delete(out[table], c)
			} else {
				out[table][c] = typ
			}
		}
	}
	return out
}

var dashboardEnums = map[string]string{
	"PackageManager":     "apt,npm,pip,custom",
	"TemplateSource":     "filesystem,custom",
	"FilePolicy":         "replace,default,backup",
	"ContainerLifecycle": "creating,ready,error",
	"ServiceType":        "systemd,docker,process",
	"ServiceStatus":      "installing,running,stopped,error",
	"EventType":          "created,started,stopped,error,service_ready,script_completed",
}

// TestDashboardSchemaNamesAndTypes checks the views against each generation's schema: every
// column that generation's dashboard reads is there with its type. A column only the other
// generation has may be there too: Prisma names the columns it reads.
func TestDashboardSchemaNamesAndTypes(t *testing.T) {
	_, pool := newDatabase(t)
	ctx := context.Background()
	if _, err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	views := map[string]map[string]string{}
	for table := range pveHomeLabColumns {
		rows, err := pool.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relname = $1 AND c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped`, table)
		if err != nil {
			t.Fatal(err)
		}
		views[table] = map[string]string{}
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			views[table][name] = typ
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for gen, schema := range map[string]map[string]map[string]string{"pve-home-lab 2a88d2a": pveHomeLabColumns, "infrahaus main": infrahausColumns} {
		t.Run(gen, func(t *testing.T) {
			for table, want := range schema {
				for col, typ := range want {
					if got := views[table][col]; got != typ {
						t.Errorf("%s.%s is %q, want %q", table, col, got, typ)
					}
				}
			}
		})
	}
	for table, got := range views {
		for col := range got {
			if pveHomeLabColumns[table][col] == "" && infrahausColumns[table][col] == "" {
				t.Errorf("%s.%s is in neither generation's schema", table, col)
			}
		}
	}
	for enum, want := range dashboardEnums {
		var labels []string
		if err := pool.QueryRow(ctx, `SELECT array_agg(enumlabel ORDER BY enumsortorder) FROM pg_enum
WHERE enumtypid = $1::regtype`, `"`+enum+`"`).Scan(&labels); err != nil {
			t.Fatalf("enum %s: %v", enum, err)
		}
		if got := strings.Join(labels, ","); got != want {
			t.Errorf("enum %s is %s, want %s", enum, got, want)
		}
	}
}
