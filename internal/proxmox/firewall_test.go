package proxmox

import (
	"errors"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestSimulatorFirewall reads and writes a container's firewall options and rules: a new rule
// goes first, an update replaces the whole rule, a move and a delete renumber, and a write
// with a stale digest is ErrConflict, not retried.
func TestSimulatorFirewall(t *testing.T) {
	sim := pvesimtest.Start(t)
	ctx := testContext(t, time.Minute)
	c := newSimClient(t, sim, nil)
	upid, err := c.CreateContainer(ctx, "pve1", createSpec(100))
	waitTaskOK(t, ctx, c, upid, err, "create")

	opts, err := c.FirewallOptions(ctx, "pve1", 100)
	if err != nil || opts.Enable || opts.Digest == "" || len(opts.Raw) != 0 {
		t.Fatalf("options of a new container: %+v, %v", opts, err)
	}
	if err := c.UpdateFirewallOptions(ctx, "pve1", 100, FirewallOptionsUpdate{
		Set: map[string]string{"enable": "1", "policy_in": "REJECT", "log_level_out": "info"}, Digest: opts.Digest}); err != nil {
		t.Fatal(err)
	}
	err = c.UpdateFirewallOptions(ctx, "pve1", 100, FirewallOptionsUpdate{Delete: []string{"policy_in"}, Digest: opts.Digest})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("options with a stale digest: %v, want ErrConflict", err)
	}
	if opts, err = c.FirewallOptions(ctx, "pve1", 100); err != nil || !opts.Enable || opts.PolicyIn != "REJECT" || opts.LogLevelOut != "info" || opts.PolicyOut != "" {
		t.Fatalf("options: %+v, %v", opts, err)
	}

	ssh := FirewallRule{Type: "in", Action: "ACCEPT", Macro: "SSH", Source: "10.0.0.0/8", Comment: "admins", Enable: true}
	web := FirewallRule{Type: "in", Action: "ACCEPT", Proto: "tcp", DPort: "80,443", Log: "info"}
	for _, r := range []FirewallRule{web, ssh} {
		if err := c.CreateFirewallRule(ctx, "pve1", 100, r); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.FirewallRules(ctx, "pve1", 100)
	if err != nil || len(list.Rules) != 2 || list.Digest == "" {
		t.Fatalf("rules: %+v, %v", list, err)
	}
	ssh.Pos, web.Pos = 0, 1
	if list.Rules[0] != ssh || list.Rules[1] != web {
		t.Fatalf("rules %+v, want %+v then %+v", list.Rules, ssh, web)
	}

	drop := FirewallRule{Type: "out", Action: "DROP", Proto: "udp", SPort: "53", Enable: true}
	if err := c.UpdateFirewallRule(ctx, "pve1", 100, 1, drop, list.Digest); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteFirewallRule(ctx, "pve1", 100, 0, list.Digest); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete with a stale digest: %v, want ErrConflict", err)
	}
	simCount(t, sim, "DELETE /nodes/{node}/lxc/{vmid}/firewall/rules/{pos}", 1, 500) // a conflict is not retried
	list, _ = c.FirewallRules(ctx, "pve1", 100)
	drop.Pos = 1
	if len(list.Rules) != 2 || list.Rules[1] != drop {
		t.Fatalf("after the update: %+v, want %+v last", list.Rules, drop)
	}
	if err := c.MoveFirewallRule(ctx, "pve1", 100, 0, 2, list.Digest); err != nil {
		t.Fatal(err)
	}
	list, _ = c.FirewallRules(ctx, "pve1", 100)
	if len(list.Rules) != 2 || list.Rules[0].Action != "DROP" || list.Rules[1].Macro != "SSH" {
		t.Fatalf("after the move: %+v", list.Rules)
	}
	if err := c.DeleteFirewallRule(ctx, "pve1", 100, 0, list.Digest); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteFirewallRule(ctx, "pve1", 100, 1, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting past the end: %v, want ErrNotFound", err)
	}
	list, _ = c.FirewallRules(ctx, "pve1", 100)
	if len(list.Rules) != 1 || list.Rules[0].Macro != "SSH" || list.Rules[0].Pos != 0 {
		t.Fatalf("after the delete: %+v", list.Rules)
	}
	err = c.CreateFirewallRule(ctx, "pve1", 100, FirewallRule{Type: "in", Action: "ACCEPT", DPort: "22"})
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a rule Proxmox refuses: %v, want ErrBadRequest", err)
	}
}
