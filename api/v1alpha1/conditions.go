package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetCondition sets the condition of c's type to c, stamped with generation
// as its ObservedGeneration (the metadata.generation the reconciler acted on),
// and reports whether anything changed, so the caller writes status only when
// it must. LastTransitionTime moves only when the status changes.
func (s *RaftClusterStatus) SetCondition(c metav1.Condition, generation int64) (changed bool) {
	c.ObservedGeneration = generation
	return meta.SetStatusCondition(&s.Conditions, c)
}

// Condition returns the condition of type t, or nil if there is none.
func (s *RaftClusterStatus) Condition(t string) *metav1.Condition {
	return meta.FindStatusCondition(s.Conditions, t)
}
