package pvesim_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// haStatus reads GET /cluster/ha/status/current by entry id.
func haStatus(t *testing.T, sim *pvesimtest.Simulator) (map[string]map[string]any, []string) {
	t.Helper()
	var list []map[string]any
	call(t, sim, "GET", "/cluster/ha/status/current", nil).data(t, &list)
	byID := map[string]map[string]any{}
	var ids []string
	for _, e := range list {
		id, _ := e["id"].(string)
		byID[id] = e
		ids = append(ids, id)
	}
	return byID, ids
}

// admin sends a request to the simulator's own endpoints with its token.
func admin(t *testing.T, sim *pvesimtest.Simulator, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, "https://"+sim.Addr+path, nil)
	req.Header.Set("Authorization", sim.Token())
	res, err := sim.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// lrmStatus matches Status.pm's text of an LRM entry: "<node> (<state>, <watchdog>, <localtime>)".
var lrmStatus = regexp.MustCompile(`^(\S+) \(([^,]+), (watchdog \w+), \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\)$`)

// TestNodeMaintenance: a node put into maintenance (ha-manager crm-command node-maintenance
// enable) shows as pve-ha-manager's API2/HA/Status.pm shows it — its LRM entry in
// "maintenance mode" — and as hastate "maintenance" of its /cluster/resources entry
// (pve-manager API2/Cluster.pm); the request survives a restart and is taken back by disable.
func TestNodeMaintenance(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithTaskDuration(10*time.Millisecond))

	// Without HA resources or maintenance the CRM never became active: no manager status.
	byID, ids := haStatus(t, sim)
	if strings.Join(ids, " ") != "quorum fencing" || byID["quorum"]["quorate"] != float64(1) ||
		byID["fencing"]["armed-state"] != "standby" || byID["fencing"]["status"] != "standby (CRM watchdog standby)" {
		t.Fatalf("status of a cluster without HA: %v", byID)
	}
	if err := sim.SetNodeMaintenance("pve9", true); err == nil || err.Error() != "no such cluster node 'pve9'" {
		t.Fatalf("maintenance of an unknown node: %v", err)
	}
	if code := admin(t, sim, "POST", "/_pvesim/maintenance/pve9"); code != http.StatusBadRequest {
		t.Fatalf("admin maintenance of an unknown node: %d", code)
	}
	if code := admin(t, sim, "POST", "/_pvesim/maintenance/pve2"); code != http.StatusOK {
		t.Fatalf("admin maintenance: %d", code)
	}

	check := func(when string) {
		t.Helper()
		byID, ids := haStatus(t, sim)
		if strings.Join(ids, " ") != "quorum master fencing lrm:pve1 lrm:pve2" {
			t.Fatalf("%s: entries %v", when, ids)
		}
		if m := byID["master"]; m["node"] != "pve1" || !strings.HasPrefix(m["status"].(string), "pve1 (active, ") || m["timestamp"] == nil {
			t.Errorf("%s: master %v", when, m)
		}
		for node, want := range map[string]string{"pve1": "idle", "pve2": "maintenance mode"} {
			e := byID["lrm:"+node]
			m := lrmStatus.FindStringSubmatch(fmt.Sprint(e["status"]))
			if e["type"] != "lrm" || e["node"] != node || m == nil || m[1] != node || m[2] != want || m[3] != "watchdog standby" {
				t.Errorf("%s: lrm of %s = %v, want state %q", when, node, e, want)
			}
		}
		var nodes []map[string]any
		call(t, sim, "GET", "/cluster/resources?type=node", nil).data(t, &nodes)
		for _, n := range nodes {
			if want := map[string]string{"pve1": "online", "pve2": "maintenance"}[n["node"].(string)]; n["hastate"] != want {
				t.Errorf("%s: hastate of %s = %v, want %s", when, n["node"], n["hastate"], want)
			}
		}
	}
	check("maintenance enabled")
	sim.Restart(t)
	check("after a restart")

	if code := admin(t, sim, "DELETE", "/_pvesim/maintenance/pve2"); code != http.StatusOK {
		t.Fatalf("admin maintenance disable: %d", code)
	}
	if _, ids := haStatus(t, sim); strings.Join(ids, " ") != "quorum fencing" {
		t.Fatalf("after disable: %v", ids)
	}
}

// TestHAStatusServices: an HA-managed CT shows as Status.pm's service entry, and its node's
// LRM as active, holding its watchdog.
func TestHAStatusServices(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"), pvesimtest.WithTaskDuration(10*time.Millisecond))
	createCT(t, sim, "pve1", 100, nil)
	if res := call(t, sim, "POST", "/cluster/ha/resources", map[string]any{"sid": "ct:100", "max_restart": 2, "comment": "web"}); res.Code != 200 {
		t.Fatalf("create HA resource: %d %s", res.Code, res.Raw)
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		byID, _ := haStatus(t, sim)
		svc := byID["service:ct:100"]
		if svc["state"] != "started" || svc["crm_state"] != "started" || svc["status"] != "ct:100 (pve1, started)" ||
			svc["node"] != "pve1" || svc["sid"] != "ct:100" || svc["request_state"] != "started" ||
			svc["max_restart"] != float64(2) || svc["comment"] != "web" {
			return fmt.Errorf("service entry %v", svc)
		}
		if m := lrmStatus.FindStringSubmatch(fmt.Sprint(byID["lrm:pve1"]["status"])); m == nil || m[2] != "active" || m[3] != "watchdog active" {
			return fmt.Errorf("lrm of pve1 %v", byID["lrm:pve1"])
		}
		if m := lrmStatus.FindStringSubmatch(fmt.Sprint(byID["lrm:pve2"]["status"])); m == nil || m[2] != "idle" {
			return fmt.Errorf("lrm of pve2 %v", byID["lrm:pve2"])
		}
		if byID["fencing"]["armed-state"] != "armed" {
			return fmt.Errorf("fencing %v", byID["fencing"])
		}
		return nil
	})
}
