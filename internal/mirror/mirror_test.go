package mirror

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

func TestMirrorFollowsCluster(t *testing.T) {
	controlPlane(t)
	ctx := context.Background()
	dsn, pool := newDatabase(t)
	ns := newNamespace(t)
	f := createFixture(t, ns)
	ev := containerEvent(f.container, "web-1.created", "Normal", lxcv1.CreatingReason, "Create", "Creating CT 101 on node pve1")
	must(t, k8s.Create(ctx, ev))

	r := startMirror(t, mgrCache, Options{DSN: dsn})

	// The resync at start brings everything in.
	testkit.Eventually(t, 20*time.Second, func() error {
		return rowCount(ctx, pool, "containers", ns, 1)
	})
	testkit.Eventually(t, 5*time.Second, func() error { return rowCount(ctx, pool, "container_events", ns, 1) })

	t.Run("templates", func(t *testing.T) {
		var (
			uid, osTemplate, storage, bridge string
			rv, gen                          int64
			tags, refs                       []string
			cores, mem, swap, disk           int32
			unpriv, nesting                  bool
			scripts, files                   int32
			spec                             map[string]any
		)
		must(t, pool.QueryRow(ctx, `SELECT uid, resource_version, generation, tags, os_template, cores, memory_mib, swap_mib, disk_gib,
  storage, bridge, unprivileged, nesting, package_bucket_refs, script_count, file_count, spec
  FROM templates WHERE namespace = $1 AND name = 'web'`, ns).Scan(&uid, &rv, &gen, &tags, &osTemplate, &cores, &mem, &swap, &disk,
			&storage, &bridge, &unpriv, &nesting, &refs, &scripts, &files, &spec))
		tpl := &lxcv1.LXCTemplate{}
		must(t, k8s.Get(ctx, keyOf(f.template), tpl))
		if uid != string(tpl.UID) || rv == 0 || gen != tpl.Generation {
			t.Errorf("identity %s rv=%d gen=%d, want %s gen=%d", uid, rv, gen, tpl.UID, tpl.Generation)
		}
		if !reflect.DeepEqual(tags, []string{"web", "debian"}) || osTemplate != tpl.Spec.OSTemplate || cores != 2 ||
			mem != 1024 || swap != 256 || disk != 8 || storage != "local-lvm" || bridge != "vmbr0" || !unpriv || !nesting ||
			!reflect.DeepEqual(refs, []string{"web-base", "alpine-tools"}) || scripts != 2 || files != 2 {
			t.Errorf("typed columns: tags=%v os=%s cores=%d mem=%d swap=%d disk=%d storage=%s bridge=%s unpriv=%v nesting=%v refs=%v scripts=%d files=%d",
				tags, osTemplate, cores, mem, swap, disk, storage, bridge, unpriv, nesting, refs, scripts, files)
		}
		if spec["osTemplate"] != tpl.Spec.OSTemplate {
			t.Errorf("spec JSONB %v", spec)
		}
	})

	t.Run("package_buckets", func(t *testing.T) {
		var manager string
		var count, usedBy int32
		var ready bool
		testkit.Eventually(t, 10*time.Second, func() error {
			if err := pool.QueryRow(ctx, `SELECT package_manager, package_count, ready, used_by FROM package_buckets WHERE namespace = $1 AND name = 'web-base'`, ns).
				Scan(&manager, &count, &ready, &usedBy); err != nil {
				return err
			}
			// The bucket controller's status reaches the row too.
			if !ready {
				return fmt.Errorf("bucket row not ready yet")
			}
			return nil
		})
		if manager != "apt" || count != 2 {
			t.Errorf("bucket row manager=%s count=%d", manager, count)
		}
	})

	t.Run("containers and services", func(t *testing.T) {
		var (
			template, cluster, node, ip, phase, power string
			vmid                                      int32
			ready                                     bool
			services                                  int32
			labels                                    []string
		)
		must(t, pool.QueryRow(ctx, `SELECT template, cluster, node, vmid, ip, phase, ready, power_state, service_count, tags
  FROM containers WHERE namespace = $1 AND name = 'web-1'`, ns).Scan(&template, &cluster, &node, &vmid, &ip, &phase, &ready, &power, &services, &labels))
		if template != "web" || cluster != "pve" || node != "pve1" || vmid != 101 || ip != "169.254.10.11" ||
			phase != "Ready" || !ready || power != "Running" || services != 2 || !reflect.DeepEqual(labels, []string{"team=web"}) {
			t.Errorf("container row: %s %s %s %d %s %s %v %s %d %v", template, cluster, node, vmid, ip, phase, ready, power, services, labels)
		}
		got := queryStrings(t, pool, `SELECT namespace || '/' || container_name || ' ' || name || ' ' || port || '/' || protocol || ' ' || unit || ' ' || url
  FROM container_services WHERE namespace = $1 ORDER BY name`, ns)
		want := []string{ns + "/web-1 nginx 80/TCP nginx.service http://169.254.10.11:80", ns + "/web-1 ssh 22/TCP ssh.service "}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("services %q, want %q", got, want)
		}
	})

	t.Run("a status change reaches its row within 2s", func(t *testing.T) {
		setContainerStatus(t, f.container, func(st *lxcv1.LXCContainerStatus) {
			st.IPAddress = "169.254.10.12"
			st.Services = st.Services[:1]
		})
		changed := time.Now()
		testkit.Eventually(t, 2*time.Second, func() error {
			var ip string
			var n int
			if err := pool.QueryRow(ctx, `SELECT ip, (SELECT count(*) FROM container_services s WHERE s.namespace = c.namespace AND s.container_name = c.name)
  FROM containers c WHERE namespace = $1 AND name = 'web-1'`, ns).Scan(&ip, &n); err != nil {
				return err
			}
			if ip != "169.254.10.12" || n != 1 {
				return fmt.Errorf("row has ip %s and %d services", ip, n)
			}
			return nil
		})
		t.Logf("status change in the row after %s", time.Since(changed).Round(time.Millisecond))
	})

	t.Run("an older state never overwrites a newer row", func(t *testing.T) {
		stale := &lxcv1.LXCContainer{}
		must(t, k8s.Get(ctx, keyOf(f.container), stale))
		var rv int64
		must(t, pool.QueryRow(ctx, `SELECT resource_version FROM containers WHERE namespace = $1 AND name = 'web-1'`, ns).Scan(&rv))
		stale.ResourceVersion = fmt.Sprint(rv - 1)
		stale.Status.IPAddress = "169.254.99.99"
		stale.Status.Services = nil
		b := &pgx.Batch{}
		queueObject(b, stale, time.Now())
		must(t, inTx(ctx, pool, b))
		var ip string
		var n int
		must(t, pool.QueryRow(ctx, `SELECT ip, (SELECT count(*) FROM container_services WHERE namespace = $1 AND container_name = 'web-1')
  FROM containers WHERE namespace = $1 AND name = 'web-1'`, ns).Scan(&ip, &n))
		if ip != "169.254.10.12" || n != 1 {
			t.Errorf("an older state was written: ip %s, %d services", ip, n)
		}
	})

	t.Run("events are kept once per occurrence, also after they expire", func(t *testing.T) {
		must(t, k8s.Get(ctx, keyOf(ev), ev))
		ev.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Now())}
		must(t, k8s.Update(ctx, ev))
		warn := containerEvent(f.container, "web-1.failed", "Warning", lxcv1.ScriptFailedReason, outcome.ActionStall, "Script page exited with 1")
		must(t, k8s.Create(ctx, warn))
		testkit.Eventually(t, 5*time.Second, func() error { return rowCount(ctx, pool, "container_events", ns, 3) })
		// The API server expiring the Event (its TTL) deletes it; the history stays.
		must(t, k8s.Delete(ctx, ev))
		must(t, k8s.Delete(ctx, warn))
		time.Sleep(500 * time.Millisecond)
		got := queryStrings(t, pool, `SELECT reason || ' ' || series_count || ' ' || type || ' ' || container_name || ' ' || (container_uid = $2)::text
  FROM container_events WHERE namespace = $1 ORDER BY event_time, series_count`, ns, string(f.container.UID))
		want := []string{"Creating 1 Normal web-1 true", "Creating 2 Normal web-1 true", "ScriptFailed 1 Warning web-1 true"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("events %q, want %q", got, want)
		}
	})

	t.Run("dashboard pages", func(t *testing.T) {
		checkDashboard(t, pool, f)
	})

	t.Run("the dashboard's views refuse writes, for every role", func(t *testing.T) {
		checkViewsRefuseWrites(t, pool)
	})

	t.Run("no Secret value in any row", func(t *testing.T) {
		dump := dumpDatabase(t, pool)
		for _, s := range f.secrets {
			if strings.Contains(dump, s) {
				t.Errorf("the database holds the Secret value %q", s)
			}
		}
		if !strings.Contains(dump, "Managed by LXC Template Manager") {
			t.Error("the dump misses the inline file content; is it a dump at all?")
		}
	})

	t.Run("deleted objects' rows go, their events stay", func(t *testing.T) {
		must(t, k8s.Delete(ctx, f.container))
		must(t, k8s.Delete(ctx, f.apkBucket))
		testkit.Eventually(t, 5*time.Second, func() error {
			if err := rowCount(ctx, pool, "containers", ns, 0); err != nil {
				return err
			}
			if err := rowCount(ctx, pool, "container_services", ns, 0); err != nil {
				return err
			}
			return rowCount(ctx, pool, "package_buckets", ns, 1)
		})
		must(t, rowCount(ctx, pool, "container_events", ns, 3))
	})

	t.Run("metrics", func(t *testing.T) {
		h := histogramOf(t, r.metrics.Lag)
		if h.GetSampleCount() == 0 {
			t.Error("no lag observed")
		}
		if v := gaugeValue(t, r.metrics.LastResync); v < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("last resync %v", v)
		}
		if v := gaugeValue(t, r.metrics.Connected); v != 1 {
			t.Errorf("connected %v", v)
		}
		testkit.Eventually(t, 10*time.Second, func() error {
			if v := gaugeValue(t, r.metrics.QueueDepth); v != 0 {
				return fmt.Errorf("queue depth %v", v)
			}
			return nil
		})
		testkit.Eventually(t, 2*rowCountInterval, func() error {
			if v := gaugeValue(t, r.metrics.Rows.WithLabelValues("container_events")); v < 3 {
				return fmt.Errorf("rows of container_events %v", v)
			}
			return nil
		})
	})
}

func TestResyncRemovesRowsOfVanishedObjects(t *testing.T) {
	controlPlane(t)
	ctx := context.Background()
	dsn, pool := newDatabase(t)
	ns := newNamespace(t)
	f := createFixture(t, ns)
	if _, err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// A row of an object deleted while the mirror was away.
	ghost := f.template.DeepCopy()
	ghost.Name, ghost.UID, ghost.ResourceVersion = "ghost", "00000000-0000-0000-0000-000000000001", "1"
	b := &pgx.Batch{}
	queueObject(b, ghost, time.Now())
	must(t, inTx(ctx, pool, b))
	must(t, rowCount(ctx, pool, "templates", ns, 1))

	// Events past the retention go; younger ones stay, also when Kubernetes no longer has them.
	eb := &pgx.Batch{}
	for name, age := range map[string]time.Duration{"old": 2 * time.Hour, "young": 10 * time.Minute} {
		e := containerEvent(f.container, "web-1."+name, "Normal", lxcv1.StartingReason, "Start", name)
		e.UID = types.UID("event-" + name + "-" + ns)
		e.EventTime = metav1.NewMicroTime(time.Now().Add(-age))
		eb.Queue(insertEvent, eventRow(e, time.Now())...)
	}
	must(t, inTx(ctx, pool, eb))

	startMirror(t, mgrCache, Options{DSN: dsn, ResyncInterval: time.Second, EventRetention: time.Hour})
	testkit.Eventually(t, 20*time.Second, func() error {
		got := queryStrings(t, pool, `SELECT name FROM templates WHERE namespace = $1`, ns)
		if !reflect.DeepEqual(got, []string{"web"}) {
			return fmt.Errorf("templates %v", got)
		}
		if got := queryStrings(t, pool, `SELECT note FROM container_events WHERE namespace = $1`, ns); !reflect.DeepEqual(got, []string{"young"}) {
			return fmt.Errorf("events kept %v, want only the young one", got)
		}
		return nil
	})
	// The periodic resync repairs rows changed behind the mirror's back.
	_, err := pool.Exec(ctx, `DELETE FROM containers WHERE namespace = $1`, ns)
	must(t, err)
	queueObject(b, ghost, time.Now())
	must(t, inTx(ctx, pool, b))
	testkit.Eventually(t, 10*time.Second, func() error {
		if err := rowCount(ctx, pool, "containers", ns, 1); err != nil {
			return err
		}
		return rowCount(ctx, pool, "templates", ns, 1)
	})
}

func rowCount(ctx context.Context, pool *pgxpool.Pool, table, ns string, want int) error {
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE namespace = $1", ns).Scan(&n); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%s has %d rows in %s, want %d", table, n, ns, want)
	}
	return nil
}

func queryStrings(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dumpDatabase renders every row of every table and view of the public schema as text.
func dumpDatabase(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	rels := queryStrings(t, pool, `SELECT quote_ident(relname) FROM pg_class
WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v')`)
	var sb strings.Builder
	for _, rel := range rels {
		for _, line := range queryStrings(t, pool, "SELECT x::text FROM "+rel+" x") {
			sb.WriteString(rel + " " + line + "\n")
		}
	}
	return sb.String()
}
