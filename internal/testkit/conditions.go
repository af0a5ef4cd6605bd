package testkit

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CheckCondition reports, as an error for Eventually, how conds (an object's
// status.conditions) differ from condition condType having status and, unless reason is
// empty, reason. The error names what the condition says instead, message included.
func CheckCondition(conds []metav1.Condition, condType string, status metav1.ConditionStatus, reason string) error {
	for _, c := range conds {
		if c.Type != condType {
			continue
		}
		if c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("%s is %s/%s (%s), want %s/%s", condType, c.Status, c.Reason, c.Message, status, reason)
		}
		return nil
	}
	types := make([]string, 0, len(conds))
	for _, c := range conds {
		types = append(types, c.Type+"="+string(c.Status))
	}
	return fmt.Errorf("no %s condition (conditions: %v)", condType, types)
}
