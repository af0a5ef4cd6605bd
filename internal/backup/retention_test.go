package backup

import (
	"slices"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestPrune(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 12, d, h, 0, 0, 0, time.UTC) }
	backups := []dated{
		{"a", day(1, 1)}, {"b", day(1, 13)}, {"c", day(2, 1)}, {"d", day(2, 13)},
		{"e", day(3, 1)}, {"f", day(3, 13)}, {"g", day(9, 1)}, {"h", day(9, 2)},
	}
	cases := []struct {
		name string
		keep *lxcv1.BackupRetention
		kept []string
	}{
		{"no rules keeps the last 7", nil, []string{"h", "g", "f", "e", "d", "c", "b"}},
		{"last 2", &lxcv1.BackupRetention{Last: ptr.To[int32](2)}, []string{"h", "g"}},
		// keep-last takes h; daily then keeps the newest of the two newest days not kept yet.
		{"last 1 and daily 2", &lxcv1.BackupRetention{Last: ptr.To[int32](1), Daily: ptr.To[int32](2)}, []string{"h", "f", "d"}},
		// Week 49 holds the 1st to the 6th, week 50 the 9th.
		{"weekly 2", &lxcv1.BackupRetention{Weekly: ptr.To[int32](2)}, []string{"h", "f"}},
		{"monthly 1", &lxcv1.BackupRetention{Monthly: ptr.To[int32](1)}, []string{"h"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kept, removed := prune(backups, c.keep)
			if !slices.Equal(kept, c.kept) {
				t.Errorf("kept %v, want %v", kept, c.kept)
			}
			if len(kept)+len(removed) != len(backups) {
				t.Errorf("kept %v and removed %v do not add up to %d", kept, removed, len(backups))
			}
		})
	}
}
