package backup

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestDueSlotRunsMissedSlotsOnce(t *testing.T) {
	sched, err := ParseSchedule("*/15 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	// Five hours of downtime: one slot is due, the newest.
	due, ok := dueSlot(sched, last, last.Add(5*time.Hour+7*time.Minute))
	if want := last.Add(5 * time.Hour); !ok || !due.Equal(want) {
		t.Errorf("due %v %v, want %v", due, ok, want)
	}
	if _, ok := dueSlot(sched, last, last.Add(14*time.Minute)); ok {
		t.Error("a slot is due before the next one came")
	}
}

func TestParseScheduleNamesTheInput(t *testing.T) {
	for _, good := range []string{"* * * * *", "0 3 * * 0", "@daily", "@every 90m"} {
		if _, err := ParseSchedule(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	_, err := ParseSchedule("every tuesday")
	if err == nil || !strings.Contains(err.Error(), `"every tuesday"`) {
		t.Errorf("a bad schedule gave %v", err)
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("web.", 60) + "x"
	if n := backupName(long, time.Date(2026, 12, 7, 5, 4, 0, 0, time.UTC)); len(n) > 253 || !strings.HasSuffix(n, "-20261207-0504") {
		t.Errorf("backup name %q", n)
	}
	snap := &lxcv1.LXCSnapshot{ObjectMeta: metav1.ObjectMeta{Name: long, UID: types.UID("0f4c6a52-1b2c-4d5e-8f90-123456789abc")}}
	n := snapshotName(snap)
	if len(n) > 40 || n[0] < 'a' || n[0] > 'z' || strings.ContainsAny(n, ".") || !strings.HasSuffix(n, "-0f4c6a52") {
		t.Errorf("snapshot name %q is no pve-configid of at most 40 characters", n)
	}
	if v := LabelValue(strings.Repeat("a", 62) + "-b"); len(v) > 63 || strings.HasSuffix(v, "-") {
		t.Errorf("label value %q", v)
	}
}

func TestBackupNotesAreOneLine(t *testing.T) {
	b := &lxcv1.LXCBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "nightly"},
		Spec: lxcv1.LXCBackupSpec{Notes: "before the upgrade\nC:\\path"}}
	got := backupNotes(b)
	want := `before the upgrade\nC:\\path\nLXCBackup apps/nightly of {{guestname}}`
	if got != want {
		t.Errorf("notes %q, want %q", got, want)
	}
}
