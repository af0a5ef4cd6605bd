package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldManager owns the fields the importer applies.
const FieldManager = "lxctm-import-templates"

// Apply creates or updates every object of res with server-side apply, under FieldManager, and
// reports one line per object: created, configured (with the spec fields that change) or
// unchanged. With dryRun nothing is stored: the API server works out what would change.
func Apply(ctx context.Context, c client.Client, res *Result, dryRun bool, out io.Writer) error {
	suffix := ""
	if dryRun {
		suffix = " (dry run)"
	}
	for _, obj := range objectsOf(res) {
		u, err := toUnstructured(obj)
		if err != nil {
			return err
		}
		id := fmt.Sprintf("%s/%s", u.GetKind(), u.GetName())
		if u.GetNamespace() == "" {
			return fmt.Errorf("%s: applying needs --namespace", id)
		}
		before := &unstructured.Unstructured{}
		before.SetGroupVersionKind(u.GroupVersionKind())
		existed := true
		if err := c.Get(ctx, client.ObjectKeyFromObject(u), before); apierrors.IsNotFound(err) {
			existed = false
		} else if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		opts := []client.PatchOption{client.FieldOwner(FieldManager), client.ForceOwnership}
		if dryRun {
			opts = append(opts, client.DryRunAll)
		}
		after := u.DeepCopy()
		if err := c.Patch(ctx, after, client.Apply, opts...); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		switch changed := changedFields(before, after); {
		case !existed:
			fmt.Fprintf(out, "%s created%s\n", id, suffix)
		case len(changed) == 0:
			fmt.Fprintf(out, "%s unchanged%s\n", id, suffix)
		default:
			fmt.Fprintf(out, "%s configured%s: %v\n", id, suffix, changed)
		}
	}
	return nil
}

// changedFields lists the top-level spec fields, labels and annotations that differ.
func changedFields(before, after *unstructured.Unstructured) []string {
	var changed []string
	bs, _, _ := unstructured.NestedMap(before.Object, "spec")
	as, _, _ := unstructured.NestedMap(after.Object, "spec")
	for k, v := range as {
		if !reflect.DeepEqual(bs[k], v) {
			changed = append(changed, "spec."+k)
		}
	}
	for k := range bs {
		if _, ok := as[k]; !ok {
			changed = append(changed, "spec."+k)
		}
	}
	if !reflect.DeepEqual(before.GetAnnotations(), after.GetAnnotations()) {
		changed = append(changed, "metadata.annotations")
	}
	if !reflect.DeepEqual(before.GetLabels(), after.GetLabels()) {
		changed = append(changed, "metadata.labels")
	}
	slices.Sort(changed)
	return changed
}

func objectsOf(res *Result) []client.Object {
	var objects []client.Object
	for i := range res.Buckets {
		objects = append(objects, &res.Buckets[i])
	}
	for i := range res.Templates {
		objects = append(objects, &res.Templates[i])
	}
	return objects
}

// toUnstructured renders obj as its manifest, so that what is applied is exactly what the
// command prints: no status, no empty fields that would claim ownership of nothing.
func toUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	data, err := manifestJSON(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(data, &u.Object); err != nil {
		return nil, err
	}
	return u, nil
}
