package mirror

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestOnlyTheLeaderWrites runs two managers with leader election, each with a mirror on the same
// database: only the leader connects and writes; after it stops, the other takes over.
func TestOnlyTheLeaderWrites(t *testing.T) {
	controlPlane(t)
	ctx := context.Background()
	dsn, pool := newDatabase(t)
	ns := newNamespace(t)
	createFixture(t, ns)

	stops := map[string]context.CancelFunc{}
	done := map[string]chan struct{}{}
	for _, id := range []string{"replica-a", "replica-b"} {
		mgr, err := newManager(true, id)
		must(t, err)
		m, err := New(mgr.GetCache(), Options{DSN: dsn + " application_name=" + id, MinBackoff: 100 * time.Millisecond})
		must(t, err)
		must(t, mgr.Add(m))
		mctx, cancel := context.WithCancel(ctx)
		stops[id], done[id] = cancel, make(chan struct{})
		go func() {
			defer close(done[id])
			if err := mgr.Start(mctx); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}()
		// The first replica takes the lease before the second starts.
		if id == "replica-a" {
			testkit.Eventually(t, 20*time.Second, func() error { return rowCount(ctx, pool, "containers", ns, 1) })
		}
	}
	t.Cleanup(func() {
		for id, stop := range stops {
			stop()
			<-done[id]
		}
	})

	writers := func() []string {
		return queryStrings(t, pool, `SELECT DISTINCT application_name FROM pg_stat_activity
WHERE datname = current_database() AND application_name LIKE 'replica-%' ORDER BY 1`)
	}
	// Give the follower time in which it would connect if it were going to.
	time.Sleep(2 * time.Second)
	if got := writers(); !reflect.DeepEqual(got, []string{"replica-a"}) {
		t.Fatalf("connected replicas %v, want only the leader replica-a", got)
	}

	stops["replica-a"]()
	<-done["replica-a"]
	late := &lxcv1.PackageBucket{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "after-failover"},
		Spec: lxcv1.PackageBucketSpec{Manager: lxcv1.PackageManagerApt, Packages: []lxcv1.PackageName{"jq"}}}
	must(t, k8s.Create(ctx, late))
	testkit.Eventually(t, 30*time.Second, func() error {
		if got := writers(); !reflect.DeepEqual(got, []string{"replica-b"}) {
			return fmt.Errorf("connected replicas %v, want replica-b", got)
		}
		return rowCount(ctx, pool, "package_buckets", ns, 3)
	})
	var versions []int64
	rows := queryStrings(t, pool, `SELECT version_id::text FROM mirror_schema_version WHERE version_id > 0 ORDER BY id`)
	for _, r := range rows {
		var v int64
		fmt.Sscan(r, &v)
		versions = append(versions, v)
	}
	if !reflect.DeepEqual(versions, embeddedVersions(t)) {
		t.Errorf("migrations recorded %v, want %v once each", versions, embeddedVersions(t))
	}
}
