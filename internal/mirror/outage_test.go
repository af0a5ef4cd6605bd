package mirror

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

func TestOutageOfThirtySecondsIsRepaired(t *testing.T) {
	controlPlane(t)
	ctx := context.Background()
	pg := startOwnPostgres(t)
	pool, err := pgxpool.New(ctx, pg.dsn("postgres"))
	must(t, err)
	defer pool.Close()
	ns := newNamespace(t)
	f := createFixture(t, ns)
	r := startMirror(t, mgrCache, Options{DSN: pg.dsn("postgres"), MinBackoff: 250 * time.Millisecond,
		MaxBackoff: 2 * time.Second, ResyncInterval: time.Hour})
	testkit.Eventually(t, 20*time.Second, func() error { return rowCount(ctx, pool, "containers", ns, 1) })
	pool.Close()

	pg.stop(t)
	outage := time.Now()
	// Created, changed and deleted while the database is away.
	late := &lxcv1.PackageBucket{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "late"},
		Spec: lxcv1.PackageBucketSpec{Manager: lxcv1.PackageManagerPip, Packages: []lxcv1.PackageName{"flask"}}}
	must(t, k8s.Create(ctx, late))
	must(t, k8s.Delete(ctx, f.apkBucket))
	setContainerStatus(t, f.container, func(st *lxcv1.LXCContainerStatus) {
		st.Phase = "Failed"
		st.Services = append(st.Services, lxcv1.DiscoveredService{Name: "app", Port: 3000, Protocol: lxcv1.ProtocolTCP, Process: "node"})
		apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: lxcv1.StalledCondition,
			Status: metav1.ConditionTrue, Reason: lxcv1.ScriptFailedReason, Message: "page failed"})
	})
	second := f.template.DeepCopy()
	second.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "web-2"}
	must(t, k8s.Create(ctx, second))
	must(t, k8s.Create(ctx, containerEvent(f.container, "web-1.stalled", "Warning", lxcv1.ScriptFailedReason, outcome.ActionStall, "page failed")))
	tpl := &lxcv1.LXCTemplate{}
	must(t, k8s.Get(ctx, keyOf(f.template), tpl))
	tpl.Spec.Description = "changed during the outage"
	must(t, k8s.Update(ctx, tpl))

	// Provisioning goes on: the bucket controller makes the new bucket Ready meanwhile.
	testkit.Eventually(t, 20*time.Second, func() error {
		b := &lxcv1.PackageBucket{}
		if err := k8s.Get(ctx, keyOf(late), b); err != nil {
			return err
		}
		if !apimeta.IsStatusConditionTrue(b.Status.Conditions, lxcv1.ReadyCondition) {
			return fmt.Errorf("bucket late not reconciled")
		}
		return nil
	})
	time.Sleep(time.Until(outage.Add(30 * time.Second)))
	select {
	case err := <-r.done:
		t.Fatalf("the mirror ended during the outage: %v", err)
	default:
	}
	if n := len(r.logs.matching("cannot write to its database")); n == 0 {
		t.Error("the outage was not logged")
	}
	pg.start(t)

	pool, err = pgxpool.New(ctx, pg.dsn("postgres"))
	must(t, err)
	defer pool.Close()
	testkit.Eventually(t, 30*time.Second, func() error { return compareWithCluster(ctx, pool, ns) })

	// The resync after reconnecting already brings the rows in step; the changes queued during
	// the outage are written a flush delay later, and only they show the lag.
	h := histogramOf(t, r.metrics.Lag)
	testkit.Eventually(t, 30*time.Second, func() error {
		h = histogramOf(t, r.metrics.Lag)
		var upTo10 uint64
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == 10 {
				upTo10 = b.GetCumulativeCount()
			}
		}
		if h.GetSampleCount() == upTo10 {
			return fmt.Errorf("no lag above 10s recorded after a 30s outage: %d samples, all ≤ 10s", h.GetSampleCount())
		}
		return nil
	})
	t.Logf("lag: %d samples, sum %.1fs; write errors logged: %d", h.GetSampleCount(), h.GetSampleSum(),
		len(r.logs.matching("cannot write to its database")))
}

// compareWithCluster checks that every row of namespace ns matches the objects in the cluster:
// the same objects at the same resourceVersion, the same services, every Event present.
func compareWithCluster(ctx context.Context, pool *pgxpool.Pool, ns string) error {
	var problems []string
	compare := func(table string, list client.ObjectList) {
		if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
			problems = append(problems, err.Error())
			return
		}
		var want []string
		items, _ := apimeta.ExtractList(list)
		for _, o := range items {
			m := o.(client.Object)
			want = append(want, fmt.Sprintf("%s %s %s", m.GetName(), m.GetUID(), m.GetResourceVersion()))
		}
		got, err := stringsOf(ctx, pool, "SELECT name || ' ' || uid || ' ' || resource_version FROM "+table+" WHERE namespace = $1", ns)
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		sort.Strings(want)
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			problems = append(problems, fmt.Sprintf("%s: rows %q, cluster %q", table, got, want))
		}
	}
	compare("package_buckets", &lxcv1.PackageBucketList{})
	compare("templates", &lxcv1.LXCTemplateList{})
	compare("containers", &lxcv1.LXCContainerList{})

	var containers lxcv1.LXCContainerList
	var events eventsv1.EventList
	if err := k8s.List(ctx, &containers, client.InNamespace(ns)); err != nil {
		return err
	}
	if err := k8s.List(ctx, &events, client.InNamespace(ns)); err != nil {
		return err
	}
	var wantSvc []string
	for _, c := range containers.Items {
		for _, s := range c.Status.Services {
			wantSvc = append(wantSvc, fmt.Sprintf("%s %s %d/%s %s", c.Name, s.Name, s.Port, s.Protocol, c.ResourceVersion))
		}
	}
	gotSvc, err := stringsOf(ctx, pool, `SELECT container_name || ' ' || name || ' ' || port || '/' || protocol || ' ' || resource_version
FROM container_services WHERE namespace = $1`, ns)
	if err != nil {
		return err
	}
	sort.Strings(wantSvc)
	sort.Strings(gotSvc)
	if !reflect.DeepEqual(gotSvc, wantSvc) {
		problems = append(problems, fmt.Sprintf("container_services: rows %q, cluster %q", gotSvc, wantSvc))
	}
	gotEv, err := stringsOf(ctx, pool, `SELECT uid || ' ' || series_count FROM container_events WHERE namespace = $1`, ns)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, e := range gotEv {
		have[e] = true
	}
	for i := range events.Items {
		e := &events.Items[i]
		if isContainerEvent(e) && !have[fmt.Sprintf("%s %d", e.UID, seriesCount(e))] {
			problems = append(problems, "container_events misses "+e.Name)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

func stringsOf(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) ([]string, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func TestWrongDSNIsLoggedPerBackoffStep(t *testing.T) {
	controlPlane(t)
	for _, tc := range []struct{ name, dsn, says string }{
		{"unreachable", "host=127.0.0.1 port=1 user=mirror password=hunter2 dbname=mirror connect_timeout=2", "connecting"},
		{"malformed", "postgres://mirror:hunter2@127.0.0.1:notaport/mirror", "reading LXCTM_MIRROR_DSN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startMirror(t, mgrCache, Options{DSN: tc.dsn, MinBackoff: 200 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
			time.Sleep(2 * time.Second)
			select {
			case err := <-r.done:
				t.Fatalf("the mirror ended: %v", err)
			default:
			}
			lines := r.logs.matching("cannot write to its database")
			if len(lines) < 2 {
				t.Fatalf("%d error lines in 2s with back-off 200ms..400ms; logs:\n%s", len(lines), r.logs.all())
			}
			// One line per attempt, each naming the wait before the next.
			if !strings.Contains(lines[0], `"retryIn"="200ms"`) || !strings.Contains(lines[1], `"retryIn"="400ms"`) {
				t.Errorf("back-off steps not in the log:\n%s\n%s", lines[0], lines[1])
			}
			if errs := gaugeValue(t, r.metrics.WriteErrors); int(errs) < len(lines) || int(errs) > len(lines)+1 {
				t.Errorf("%v write errors counted for %d lines", errs, len(lines))
			}
			for _, l := range lines {
				if !strings.Contains(l, tc.says) || !strings.Contains(l, "retryIn") {
					t.Errorf("unclear error line: %s", l)
				}
			}
			if strings.Contains(r.logs.all(), "hunter2") {
				t.Errorf("the DSN's password is in the logs:\n%s", r.logs.all())
			}
		})
	}
}
