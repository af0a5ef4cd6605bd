package console

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/console/kube"
	"templatemanager.dev/lxc-template-manager/internal/console/pages"
	"templatemanager.dev/lxc-template-manager/internal/console/wizard"
)

type wizardView struct {
	Step      int
	Steps     []string
	Form      wizard.Form
	Hidden    []wizard.Field
	Templates []lxcv1.LXCTemplate
	Template  *lxcv1.LXCTemplate
	Clusters  []string
	Errors    wizard.Errors
	YAML      string
	CanCreate bool
	Problem   string
}

// Has says whether a multi-valued field holds v (for checkboxes).
func (v wizardView) Has(field, value string) bool {
	list := v.Form.Exclude
	if field == "skip" {
		list = v.Form.Skip
	}
	for _, x := range list {
		if x == value {
			return true
		}
	}
	return false
}

// wizard shows the step the query asks for, or the earliest step whose answers the API
// server's dry run refuses.
func (s *Server) wizard(rq *request) {
	q := rq.r.URL.Query()
	f := wizard.Parse(q)
	step, _ := strconv.Atoi(q.Get("step"))
	if step < wizard.StepTemplate || step > wizard.StepReview {
		step = wizard.StepTemplate
	}
	if f.Template == "" {
		step = wizard.StepTemplate
	}
	v := wizardView{Step: step, Form: f, Errors: wizard.Errors{}}
	if v.Form.Namespace == "" {
		v.Form.Namespace = rq.user.Home
	}
	if step > wizard.StepConfigure {
		// Past the configure step, the answers so far must pass the API server's validation.
		obj, errs := wizard.Build(v.Form)
		if len(errs) == 0 {
			if err := rq.user.Client.Create(rq.ctx, obj, client.DryRunAll); err != nil {
				if apierrors.IsUnauthorized(err) {
					s.expired(rq.w, rq.r, rq.sess)
					return
				}
				errs = wizard.APIErrors(err)
			}
		}
		if first := errs.First(); first != 0 && first < step {
			v.Step = first
		}
		v.Errors = errs
		v.YAML = wizard.YAML(obj)
	}
	s.renderWizard(rq, &v, http.StatusOK)
}

func (s *Server) renderWizard(rq *request, v *wizardView, code int) {
	v.Steps = wizard.StepNames
	f := &v.Form
	switch v.Step {
	case wizard.StepTemplate:
		var list lxcv1.LXCTemplateList
		if err := rq.user.Client.List(rq.ctx, &list, client.InNamespace(f.Namespace)); err != nil {
			v.Problem = "Templates: " + kube.Message(err)
		}
		v.Templates = list.Items
		sort.Slice(v.Templates, func(i, j int) bool { return v.Templates[i].Name < v.Templates[j].Name })
	default:
		t := &lxcv1.LXCTemplate{}
		if err := rq.user.Client.Get(rq.ctx, client.ObjectKey{Namespace: f.Namespace, Name: f.Template}, t); err != nil {
			v.Problem = "Template " + f.Namespace + "/" + f.Template + ": " + kube.Message(err)
		} else {
			v.Template = t
		}
		if v.Step == wizard.StepConfigure {
			var clusters lxcv1.ProxmoxClusterList
			if err := rq.user.Client.List(rq.ctx, &clusters); err == nil {
				for _, c := range clusters.Items {
					v.Clusters = append(v.Clusters, c.Name)
				}
				sort.Strings(v.Clusters)
			}
			if f.Cluster == "" && len(v.Clusters) == 1 {
				f.Cluster = v.Clusters[0]
			}
		}
		if v.Step == wizard.StepReview {
			v.CanCreate = rq.user.Can(rq.ctx, "create", "lxccontainers", f.Namespace)
		}
	}
	v.Hidden = f.Hidden(v.Step)
	p := s.page(rq, fmt.Sprintf("New container · %s", wizard.StepNames[v.Step-1]), *v)
	pages.Render(rq.w, code, "wizard", p)
}

// wizardCreate creates the reviewed container as the user, then follows it on its page.
func (s *Server) wizardCreate(rq *request) {
	if err := rq.r.ParseForm(); err != nil {
		http.Error(rq.w, "form: "+err.Error(), http.StatusBadRequest)
		return
	}
	f := wizard.Parse(rq.r.PostForm)
	v := wizardView{Step: wizard.StepReview, Form: f}
	if !s.sealer.CheckCSRF(rq.sess, rq.r.PostFormValue("csrf")) {
		v.Errors = wizard.Errors{"": {"The form was stale: reload the page and try again."}}
		s.renderWizard(rq, &v, http.StatusForbidden)
		return
	}
	obj, errs := wizard.Build(f)
	v.YAML = wizard.YAML(obj)
	if len(errs) == 0 {
		if err := rq.user.Client.Create(rq.ctx, obj); err != nil {
			if apierrors.IsUnauthorized(err) {
				s.expired(rq.w, rq.r, rq.sess)
				return
			}
			errs = wizard.APIErrors(err)
		}
	}
	if len(errs) > 0 {
		v.Errors = errs
		if first := errs.First(); first != 0 {
			v.Step = first
		}
		s.renderWizard(rq, &v, http.StatusUnprocessableEntity)
		return
	}
	s.flashBack(rq, containerPath(client.ObjectKeyFromObject(obj)), "ok", fmt.Sprintf("Created %s/%s.", obj.Namespace, obj.Name))
}
