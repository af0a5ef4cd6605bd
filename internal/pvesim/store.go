package pvesim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// store keeps the simulator's state as one JSON file per container and per task, written
// atomically, so a restarted simulator serves what it served before.
type store struct {
	dir string
}

func openStore(dir string) (*store, error) {
	for _, sub := range []string{"containers", "tasks"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
	}
	return &store{dir: dir}, nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (st *store) containerFile(vmid int) string {
	return filepath.Join(st.dir, "containers", strconv.Itoa(vmid)+".json")
}

// saveContainer writes a container; the caller holds the server's lock.
func (st *store) saveContainer(ct *container) error {
	data, err := json.MarshalIndent(ct, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(st.containerFile(ct.VMID), data, 0o600); err != nil {
		return fmt.Errorf("save CT %d: %w", ct.VMID, err)
	}
	return nil
}

func (st *store) removeContainer(vmid int) error {
	err := os.Remove(st.containerFile(vmid))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (st *store) loadContainers() ([]*container, error) {
	entries, err := os.ReadDir(filepath.Join(st.dir, "containers"))
	if err != nil {
		return nil, err
	}
	var out []*container
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(st.dir, "containers", e.Name()))
		if err != nil {
			return nil, err
		}
		ct := &container{}
		if err := json.Unmarshal(data, ct); err != nil {
			return nil, fmt.Errorf("load %s: %w", e.Name(), err)
		}
		if ct.Conf == nil {
			ct.Conf = map[string]string{}
		}
		if ct.Leases == nil {
			ct.Leases = map[string]string{}
		}
		out = append(out, ct)
	}
	return out, nil
}

// taskFile names a task's file after its UPID with the characters file systems dislike replaced.
func (st *store) taskFile(upid string) string {
	r := strings.NewReplacer(":", "_", "/", "_", "!", "+", "@", "=")
	return filepath.Join(st.dir, "tasks", r.Replace(upid)+".json")
}

func (st *store) saveTask(t *taskRecord) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return writeFileAtomic(st.taskFile(t.UPID), data, 0o644)
}

func (st *store) removeTask(upid string) {
	_ = os.Remove(st.taskFile(upid))
}

func (st *store) loadTasks() ([]*taskRecord, error) {
	entries, err := os.ReadDir(filepath.Join(st.dir, "tasks"))
	if err != nil {
		return nil, err
	}
	var out []*taskRecord
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(st.dir, "tasks", e.Name()))
		if err != nil {
			return nil, err
		}
		t := &taskRecord{}
		if err := json.Unmarshal(data, t); err != nil {
			continue // a torn task file only loses one task's history
		}
		out = append(out, t)
	}
	return out, nil
}

// saveList writes a cluster-wide map (HA resources, pools) as one JSON list; the caller holds
// the server's lock.
func saveList[T any](path string, m map[string]*T) error {
	data, err := json.MarshalIndent(slices.Collect(maps.Values(m)), "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// loadList reads what saveList wrote, keyed by key; a missing file is an empty map.
func loadList[T any](path, what string, key func(*T) string) (map[string]*T, error) {
	out := map[string]*T{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var list []*T
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	for _, v := range list {
		out[key(v)] = v
	}
	return out, nil
}
