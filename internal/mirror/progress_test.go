package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// pageSnapshot is what the dashboard's progress page shows of a container after a load: its
// route (apps/dashboard/src/app/api/containers/[id]/progress/route.ts) derives it from the
// container's lifecycle and its ContainerEvent rows, as written out here.
type pageSnapshot struct {
	step         string
	percent      int
	seenSteps    []string
	isComplete   bool
	isError      bool
	errorMessage string
}

func progressPage(t *testing.T, pool *pgxpool.Pool, containerID string) pageSnapshot {
	t.Helper()
	var lifecycle string
	if err := pool.QueryRow(context.Background(), `SELECT "lifecycle"::text FROM "Container" WHERE "id" = $1`, containerID).Scan(&lifecycle); err != nil {
		t.Fatal(err)
	}
	type meta struct {
		Step    string `json:"step"`
		Percent *int   `json:"percent"`
	}
	var snap pageSnapshot
	var lastStep *meta
	for _, row := range queryRows(t, pool, queryContainerEvents, containerID) {
		typ, message, metadata := row[0], row[1], row[2]
		var m meta
		if metadata != "NULL" {
			if err := json.Unmarshal([]byte(metadata), &m); err != nil {
				t.Fatalf("metadata %q is not JSON: %v", metadata, err)
			}
		}
		if typ == "error" {
			if !snap.isError {
				snap.errorMessage = message
			}
			snap.isError = true
			continue
		}
		if m.Step != "" {
			lastStep = &m
			if !slices.Contains(snap.seenSteps, m.Step) {
				snap.seenSteps = append(snap.seenSteps, m.Step)
			}
		}
	}
	// (The page collects seen steps from error rows too; ours carry none.)
	terminal := lifecycle == "ready" || lifecycle == "error"
	if lastStep != nil {
		snap.step = lastStep.Step
		if lastStep.Percent != nil {
			snap.percent = *lastStep.Percent
		}
	}
	if terminal && !snap.isError {
		snap.percent = 100
	}
	snap.isComplete = terminal && lifecycle == "ready"
	snap.isError = snap.isError || lifecycle == "error"
	return snap
}

// reconcileAs writes a container's status and its Ready Event the way the container
// controller ends a reconcile: outcome.Summarize, then outcome.Patcher.
func reconcileAs(t *testing.T, c *lxcv1.LXCContainer, phases func(*lxcv1.LXCContainer), recErr error) {
	t.Helper()
	ctx := context.Background()
	must(t, k8s.Get(ctx, keyOf(c), c))
	p := outcome.NewPatcher(c, k8s, recorder)
	phases(c)
	if _, err := outcome.Summarize(c, "CT 120 on pve1 at 169.254.10.20 with 1 services", recErr, time.Hour); err != nil && recErr == nil {
		t.Fatal(err)
	}
	must(t, p.Patch(ctx, c, recErr))
}

func markPhases(done []string, failed string, reason, msg string) func(*lxcv1.LXCContainer) {
	return func(c *lxcv1.LXCContainer) {
		for _, cond := range done {
			conditions.MarkTrue(c, cond, lxcv1.SucceededReason, "%s done", cond)
		}
		if failed != "" {
			conditions.MarkFalse(c, failed, reason, "%s", msg)
		}
	}
}

var allPhases = []string{lxcv1.ContainerCreatedCondition, lxcv1.ContainerStartedCondition,
	lxcv1.ConfigManagerDeployedCondition, lxcv1.ScriptsCompletedCondition, lxcv1.ServicesDiscoveredCondition}

// TestProgressPageTellsTheTruth drives two containers through the controller's own status and
// Event code and reads them as the dashboard's progress page does: one that met a transient
// failure while its guest booted and then became Ready, one whose script failed.
func TestProgressPageTellsTheTruth(t *testing.T) {
	controlPlane(t)
	ns := newNamespace(t)
	dsn, pool := newDatabase(t)
	startMirror(t, mgrCache, Options{DSN: dsn})
	ctx := context.Background()

	boots, breaks := newContainer(t, ns, "boots"), newContainer(t, ns, "breaks")
	// boots: created and started, then SSH is not up yet (retried with back-off), then Ready.
	reconcileAs(t, boots, markPhases(allPhases[:2], lxcv1.ConfigManagerDeployedCondition, lxcv1.SSHUnreachableReason, "no SSH on 169.254.10.20:22: connection refused"),
		outcome.Failed(lxcv1.SSHUnreachableReason, errors.New("no SSH on 169.254.10.20:22: connection refused")))
	reconcileAs(t, boots, markPhases(allPhases, "", "", ""), nil)
	// breaks: its second script exits 1; the controller stalls it.
	failure := "script 20-app exited 1; last output:\nE: Unable to locate package nosuchpkg"
	reconcileAs(t, breaks, markPhases(allPhases[:3], lxcv1.ScriptsCompletedCondition, lxcv1.ScriptFailedReason, failure),
		outcome.Stall(lxcv1.ScriptFailedReason, "%s", failure))

	// Both Warning Events reach the mirror, as the history the page reads.
	testkit.Eventually(t, 10*time.Second, func() error {
		rows, err := pool.Query(ctx, `SELECT container_name || ' ' || type || ' ' || reason || ' ' || action FROM container_events
WHERE namespace = $1 AND type = 'Warning' ORDER BY container_name`, ns)
		if err != nil {
			return err // the mirror has not made its tables yet
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		want := []string{"boots Warning SSHUnreachable Retry", "breaks Warning ScriptFailed Stall"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("warning events %q, want %q", got, want)
		}
		var stale int
		must(t, pool.QueryRow(ctx, `SELECT count(*) FROM containers WHERE namespace = $1 AND NOT ready AND NOT stalled`, ns).Scan(&stale))
		if stale != 0 {
			return fmt.Errorf("%d container rows not yet current", stale)
		}
		return nil
	})

	t.Run("a transient warning is not an error", func(t *testing.T) {
		for _, r := range queryRows(t, pool, queryContainerEvents, string(boots.UID)) {
			if r[0] == "error" {
				t.Errorf("boots has an error event: %q", r)
			}
		}
		got := progressPage(t, pool, string(boots.UID))
		want := pageSnapshot{step: "finalizing", percent: 100, isComplete: true,
			seenSteps: []string{"creating", "starting", "deploying", "syncing", "finalizing"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("the progress page shows %+v, want %+v", got, want)
		}
	})

	t.Run("a failed script is the error, with its failure", func(t *testing.T) {
		got := progressPage(t, pool, string(breaks.UID))
		if !got.isError || got.isComplete || got.errorMessage != failure {
			t.Errorf("the progress page shows %+v, want the error %q", got, failure)
		}
		if got.step != "syncing" || fmt.Sprint(got.seenSteps) != "[creating starting deploying syncing]" {
			t.Errorf("the page's steps are %v, current %q; want the failed step syncing current", got.seenSteps, got.step)
		}
		errs := queryStrings(t, pool, `SELECT "message" FROM "ContainerEvent" WHERE "containerId" = $1 AND "type" = 'error'`, string(breaks.UID))
		if len(errs) != 1 || errs[0] != failure {
			t.Errorf("error events %q, want exactly the script failure", errs)
		}
	})

	t.Run("phases are steps in order, with rising percent", func(t *testing.T) {
		rows := queryStrings(t, pool, `SELECT "type"::text || ' ' || ("metadata"::jsonb ->> 'step') || ' ' || ("metadata"::jsonb ->> 'percent')
FROM "ContainerEvent" WHERE "containerId" = $1 AND "metadata"::jsonb ? 'condition' ORDER BY "createdAt", "metadata"::jsonb ->> 'percent'`, string(boots.UID))
		want := []string{"created creating 20", "started starting 35", "started deploying 60", "script_completed syncing 90", "service_ready finalizing 98"}
		if strings.Join(rows, ",") != strings.Join(want, ",") {
			t.Errorf("phase rows %q, want %q", rows, want)
		}
	})
}

func newContainer(t *testing.T, ns, name string) *lxcv1.LXCContainer {
	t.Helper()
	c := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: lxcv1.LXCContainerSpec{ClusterRef: lxcv1.ClusterReference{Name: "pve"},
			TemplateRef: lxcv1.LocalObjectReference{Name: "web"}}}
	must(t, k8s.Create(context.Background(), c))
	return c
}
