package main

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// setupControllers registers every reconciler with the manager.
func setupControllers(mgr ctrl.Manager, namespace string) error {
	return nil
}
