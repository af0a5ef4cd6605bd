package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

const healthKeyPrefix = "resource.customizations.health.lxc.templatemanager.dev_"

// argoHealthScript returns the Lua health check documented in the chart README, after checking
// that the README's argocd-cm snippet gives the same script to all four kinds.
func argoHealthScript(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(root, chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	begin := strings.Index(text, "<!-- argocd-health-begin -->")
	end := strings.Index(text, "<!-- argocd-health-end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md has no argocd-health-begin/end section")
	}
	snippet := strings.TrimSpace(text[begin+len("<!-- argocd-health-begin -->") : end])
	snippet = strings.TrimPrefix(snippet, "```yaml")
	snippet = strings.TrimSuffix(snippet, "```")
	cm := &corev1.ConfigMap{}
	if err := yaml.UnmarshalStrict([]byte(snippet), cm); err != nil {
		t.Fatalf("the README's argocd-cm snippet: %v", err)
	}
	if cm.Name != "argocd-cm" {
		t.Errorf("the snippet is ConfigMap %q, Argo CD reads argocd-cm", cm.Name)
	}
	script := cm.Data[healthKeyPrefix+"LXCContainer"]
	if script == "" {
		t.Fatalf("no health check under %sLXCContainer", healthKeyPrefix)
	}
	for _, kind := range []string{"LXCTemplate", "PackageBucket", "ProxmoxCluster"} {
		if cm.Data[healthKeyPrefix+kind] != script {
			t.Errorf("%s%s is not the same script", healthKeyPrefix, kind)
		}
	}
	if len(cm.Data) != 4 {
		t.Errorf("argocd-cm snippet has %d keys, want the four kinds", len(cm.Data))
	}
	return script
}

type health struct{ status, message string }

// argoHealth runs a health script the way Argo CD does: the object as the global obj, the
// returned table's status and message as the result.
func argoHealth(t *testing.T, script string, obj map[string]any) health {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health script: %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health script returned %s, not a table", L.Get(-1).Type())
	}
	return health{
		status:  lua.LVAsString(ret.RawGetString("status")),
		message: lua.LVAsString(ret.RawGetString("message")),
	}
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case map[string]any:
		tbl := L.NewTable()
		for k, e := range v {
			tbl.RawSetString(k, toLua(L, e))
		}
		return tbl
	case []any:
		tbl := L.NewTable()
		for _, e := range v {
			tbl.Append(toLua(L, e))
		}
		return tbl
	default:
		panic(fmt.Sprintf("no Lua value for %T", v))
	}
}

func cond(typ string, st metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()}
}

// TestArgoHealthAgreesWithKstatus runs the README's Argo CD health check over the condition sets
// the controller writes and compares it with kstatus, which Flux and kubectl-style waits use.
func TestArgoHealthAgreesWithKstatus(t *testing.T) {
	script := argoHealthScript(t)
	argoFor := map[status.Status]string{
		status.CurrentStatus:    "Healthy",
		status.InProgressStatus: "Progressing",
		status.FailedStatus:     "Degraded",
	}
	for _, tc := range []struct {
		name       string
		generation int64
		observed   int64
		conditions []metav1.Condition
		want       string
		message    string
	}{
		{
			name: "ready", generation: 2, observed: 2,
			conditions: []metav1.Condition{cond(lxcv1.ReadyCondition, metav1.ConditionTrue, lxcv1.SucceededReason, "container 101 on pve1 is ready")},
			want:       "Healthy", message: "container 101 on pve1 is ready",
		},
		{
			name: "creating", generation: 1,
			conditions: []metav1.Condition{
				cond(lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.CreatingReason, "waiting for task"),
				cond(lxcv1.ReconcilingCondition, metav1.ConditionTrue, lxcv1.CreatingReason, "waiting for task"),
			},
			want: "Progressing", message: "waiting for task",
		},
		{
			name: "retrying after an error", generation: 2, observed: 1,
			conditions: []metav1.Condition{
				cond(lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.ProxmoxErrorReason, "500 Internal Server Error"),
				cond(lxcv1.ReconcilingCondition, metav1.ConditionTrue, lxcv1.ProxmoxErrorReason, "retrying: 500 Internal Server Error"),
			},
			want: "Progressing",
		},
		{
			name: "stalled", generation: 3, observed: 3,
			conditions: []metav1.Condition{
				cond(lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.VMIDConflictReason, "VMID 101 belongs to a foreign container"),
				cond(lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.VMIDConflictReason, "VMID 101 belongs to a foreign container"),
			},
			want: "Degraded", message: "VMID 101 belongs to a foreign container",
		},
		{
			name: "ready at an older generation", generation: 4, observed: 3,
			conditions: []metav1.Condition{cond(lxcv1.ReadyCondition, metav1.ConditionTrue, lxcv1.SucceededReason, "ready")},
			want:       "Progressing",
		},
		{
			name: "not ready, neither reconciling nor stalled", generation: 1, observed: 1,
			conditions: []metav1.Condition{cond(lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.DependencyNotReadyReason, "template web is not ready")},
			want:       "Progressing",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &lxcv1.LXCContainer{
				TypeMeta:   metav1.TypeMeta{APIVersion: lxcv1.GroupVersion.String(), Kind: "LXCContainer"},
				ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "team-a", Generation: tc.generation},
			}
			c.Status.ObservedGeneration = tc.observed
			c.Status.Conditions = tc.conditions
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
			if err != nil {
				t.Fatal(err)
			}
			got := argoHealth(t, script, u)
			if got.status != tc.want {
				t.Errorf("Argo CD health %q (%s), want %q", got.status, got.message, tc.want)
			}
			if tc.message != "" && got.message != tc.message {
				t.Errorf("Argo CD message %q, want %q", got.message, tc.message)
			}
			res, err := status.Compute(&unstructured.Unstructured{Object: u})
			if err != nil {
				t.Fatal(err)
			}
			if argoFor[res.Status] != got.status {
				t.Errorf("kstatus says %s (%s), Argo CD %s", res.Status, res.Message, got.status)
			}
		})
	}

	// Before the controller's first status write kstatus cannot tell the object apart from one
	// that has no status at all and calls it Current; the Argo CD check waits for the controller.
	t.Run("no status yet", func(t *testing.T) {
		u := map[string]any{
			"apiVersion": lxcv1.GroupVersion.String(), "kind": "LXCTemplate",
			"metadata": map[string]any{"name": "web", "namespace": "team-a", "generation": int64(1)},
			"spec":     map[string]any{"osTemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"},
		}
		if got := argoHealth(t, script, u); got.status != "Progressing" {
			t.Errorf("Argo CD health %+v, want Progressing", got)
		}
	})
}
