package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// fetchBuckets reads a template's PackageBuckets, skipping the excluded ones. It returns the
// buckets found and the names of those missing.
func fetchBuckets(ctx context.Context, c client.Reader, t *lxcv1.LXCTemplate, exclude []string) ([]*lxcv1.PackageBucket, []string, error) {
	var found []*lxcv1.PackageBucket
	var missing []string
	for _, name := range bucketNames(t) {
		if slices.Contains(exclude, name) {
			continue
		}
		b := &lxcv1.PackageBucket{}
		err := c.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: name}, b)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, name)
		case err != nil:
			return nil, nil, fmt.Errorf("reading PackageBucket %s: %w", name, err)
		default:
			found = append(found, b)
		}
	}
	return found, missing, nil
}

// missingBuckets is the message for buckets that do not exist.
func missingBuckets(names []string) string {
	if len(names) == 1 {
		return fmt.Sprintf("PackageBucket %s not found", names[0])
	}
	return fmt.Sprintf("PackageBuckets %s not found", strings.Join(names, ", "))
}
