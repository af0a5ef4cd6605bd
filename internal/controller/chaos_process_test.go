package controller

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"

	"templatemanager.dev/lxc-template-manager/internal/shard"
	"templatemanager.dev/lxc-template-manager/internal/testenv"
)

// The kills and failover scenarios run their managers as processes of their own — this test
// binary started again with chaosManagerEnv set — so that a kill is a real SIGKILL: requests
// cut off half sent, nothing flushed, the lease not given up. The child reaches the control
// plane, the simulators and the guest stand-ins of the parent over loopback.
const chaosManagerEnv = "LXCTM_CHAOS_MANAGER"

// chaosManagerSpec is what a manager process is given.
type chaosManagerSpec struct {
	Host          string
	CA, Cert, Key []byte
	User          string
	// QPS and Burst are the client's rate limits, as the test process's managers have them.
	QPS                            float32
	Burst                          int
	Selector                       string
	Shard                          string
	TaskPoll, GuestListAge, Resync time.Duration
	Workers                        int
	Lease                          string
	GuestPort                      int
}

// runManagerProcess is the main of a manager process: it says "ready" on stdout once its
// caches synced and "elected" once it leads, and runs until it is killed.
func runManagerProcess(spec string) int {
	var s chaosManagerSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "manager process:", err)
		return 2
	}
	sel, err := labels.Parse(s.Selector)
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager process:", err)
		return 2
	}
	sh, err := shard.Parse(s.Shard)
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager process:", err)
		return 2
	}
	guestPort = s.GuestPort
	env = &testenv.Env{Scheme: testenv.Scheme()}
	managerRESTConfig = &rest.Config{
		Host:            s.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.CA, CertData: s.Cert, KeyData: s.Key},
		Impersonate:     rest.ImpersonationConfig{UserName: s.User},
		QPS:             s.QPS,
		Burst:           s.Burst,
	}
	mgr, err := runManager(context.Background(), managerOptions{selector: sel, shard: sh, lease: s.Lease,
		tune: tuning{taskPoll: s.TaskPoll, guestListAge: s.GuestListAge, resync: s.Resync, workers: s.Workers}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager process:", err)
		return 1
	}
	fmt.Println("ready")
	<-mgr.Elected()
	fmt.Println("elected")
	select {}
}

// startManagerProcess starts a manager process of the fleet and returns once its caches synced.
func (fl *chaosFleet) startManagerProcess(t testing.TB, shardSelector string) *chaosManager {
	t.Helper()
	spec, err := json.Marshal(chaosManagerSpec{
		Host: managerRESTConfig.Host, CA: managerRESTConfig.CAData, Cert: managerRESTConfig.CertData, Key: managerRESTConfig.KeyData,
		User: managerRESTConfig.Impersonate.UserName, QPS: managerRESTConfig.QPS, Burst: managerRESTConfig.Burst, Selector: chaosLabel + "=" + fl.id, Shard: shardSelector,
		TaskPoll: fl.tune.taskPoll, GuestListAge: fl.tune.guestListAge, Resync: fl.tune.resync, Workers: fl.tune.workers,
		Lease: fl.lease, GuestPort: guestPort,
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), chaosManagerEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	// A manager process does not outlive the test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &chaosManager{proc: cmd, elected: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			switch lines.Text() {
			case "ready":
				close(ready)
			case "elected":
				close(m.elected)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(m.done)
	}()
	select {
	case <-ready:
	case <-m.done:
		t.Fatal("the manager process ended before its caches synced")
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the manager process did not sync its caches within 2 minutes")
	}
	return m
}
