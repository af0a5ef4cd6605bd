package mirror

import (
	"context"
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
	if len(all) != 2 || all[0] != 1 || all[1] != 2 {
		t.Fatalf("migrations applied %v, want 1 and 2 once between the two", all)
	}
	var applied int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM mirror_schema_version WHERE version_id > 0").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 2 {
		t.Fatalf("version table records %d migrations, want 2", applied)
	}
	again, err := Migrate(ctx, pool)
	if err != nil || len(again) != 0 {
		t.Fatalf("second start applied %v, %v; want nothing", again, err)
	}
}

// dashboardColumns is the original dashboard's schema after its two Prisma migrations
// (kethalia/pve-home-lab apps/dashboard/prisma/migrations): table → column → type.
var dashboardColumns = map[string]map[string]string{
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

var dashboardEnums = map[string]string{
	"PackageManager":     "apt,npm,pip,custom",
	"TemplateSource":     "filesystem,custom",
	"FilePolicy":         "replace,default,backup",
	"ContainerLifecycle": "creating,ready,error",
	"ServiceType":        "systemd,docker,process",
	"ServiceStatus":      "installing,running,stopped,error",
	"EventType":          "created,started,stopped,error,service_ready,script_completed",
}

func TestDashboardSchemaNamesAndTypes(t *testing.T) {
	_, pool := newDatabase(t)
	ctx := context.Background()
	if _, err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for table, want := range dashboardColumns {
		rows, err := pool.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relname = $1 AND c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped`, table)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			got[name] = typ
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%s has columns %v, want %v", table, got, want)
		}
		for col, typ := range want {
			if got[col] != typ {
				t.Errorf("%s.%s is %q, want %q", table, col, got[col], typ)
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
