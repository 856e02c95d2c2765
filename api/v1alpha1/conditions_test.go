package v1alpha1

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSetCondition(t *testing.T) {
	earlier := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	available := func(status metav1.ConditionStatus, reason, msg string, gen int64) metav1.Condition {
		return metav1.Condition{Type: ConditionAvailable, Status: status, Reason: reason, Message: msg,
			ObservedGeneration: gen, LastTransitionTime: earlier}
	}
	tests := []struct {
		name        string
		existing    []metav1.Condition
		set         metav1.Condition
		generation  int64
		wantChanged bool
		want        metav1.Condition
		// wantMovedTime: LastTransitionTime is set to now rather than kept.
		wantMovedTime bool
	}{
		{
			name:          "new condition is added and stamped",
			set:           metav1.Condition{Type: ConditionAvailable, Status: metav1.ConditionTrue, Reason: ReasonReconciled},
			generation:    4,
			wantChanged:   true,
			want:          metav1.Condition{Type: ConditionAvailable, Status: metav1.ConditionTrue, Reason: ReasonReconciled, ObservedGeneration: 4},
			wantMovedTime: true,
		},
		{
			name:       "same condition at same generation changes nothing",
			existing:   []metav1.Condition{available(metav1.ConditionTrue, ReasonReconciled, "ok", 4)},
			set:        metav1.Condition{Type: ConditionAvailable, Status: metav1.ConditionTrue, Reason: ReasonReconciled, Message: "ok"},
			generation: 4,
			want:       available(metav1.ConditionTrue, ReasonReconciled, "ok", 4),
		},
		{
			name:        "newer generation alone is a change, the transition time stays",
			existing:    []metav1.Condition{available(metav1.ConditionTrue, ReasonReconciled, "ok", 4)},
			set:         metav1.Condition{Type: ConditionAvailable, Status: metav1.ConditionTrue, Reason: ReasonReconciled, Message: "ok"},
			generation:  5,
			wantChanged: true,
			want:        available(metav1.ConditionTrue, ReasonReconciled, "ok", 5),
		},
		{
			name:        "ObservedGeneration given by the caller is overwritten",
			existing:    []metav1.Condition{available(metav1.ConditionTrue, ReasonReconciled, "ok", 4)},
			set:         metav1.Condition{Type: ConditionAvailable, Status: metav1.ConditionTrue, Reason: ReasonReconciled, Message: "ok", ObservedGeneration: 99},
			generation:  4,
			wantChanged: false,
			want:        available(metav1.ConditionTrue, ReasonReconciled, "ok", 4),
		},
		{
			name:        "reason and message change, the transition time stays",
			existing:    []metav1.Condition{available(metav1.ConditionTrue, ReasonReconciled, "ok", 4)},
			set:         metav1.Condition{Type: ConditionAvailable, Status: metav1.ConditionTrue, Reason: ReasonScalingUp, Message: "adding demo-3"},
			generation:  4,
			wantChanged: true,
			want:        available(metav1.ConditionTrue, ReasonScalingUp, "adding demo-3", 4),
		},
		{
			name:          "status flip moves the transition time",
			existing:      []metav1.Condition{available(metav1.ConditionTrue, ReasonReconciled, "ok", 4)},
			set:           metav1.Condition{Type: ConditionAvailable, Status: metav1.ConditionFalse, Reason: ReasonNoLeader, Message: "no leader"},
			generation:    4,
			wantChanged:   true,
			want:          metav1.Condition{Type: ConditionAvailable, Status: metav1.ConditionFalse, Reason: ReasonNoLeader, Message: "no leader", ObservedGeneration: 4},
			wantMovedTime: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := metav1.Condition{Type: ConditionDegraded, Status: metav1.ConditionFalse, Reason: ReasonReconciled, ObservedGeneration: 1, LastTransitionTime: earlier}
			s := RaftClusterStatus{Conditions: append([]metav1.Condition{other}, tt.existing...)}
			before := time.Now().Add(-time.Second)

			if got := s.SetCondition(tt.set, tt.generation); got != tt.wantChanged {
				t.Errorf("SetCondition changed = %v, want %v", got, tt.wantChanged)
			}

			got := s.Condition(ConditionAvailable)
			if got == nil {
				t.Fatalf("no %s condition after SetCondition: %+v", ConditionAvailable, s.Conditions)
			}
			if tt.wantMovedTime {
				if got.LastTransitionTime.Time.Before(before) {
					t.Errorf("LastTransitionTime = %v, want now", got.LastTransitionTime)
				}
				got.LastTransitionTime = metav1.Time{}
			}
			if *got != tt.want {
				t.Errorf("condition = %+v\nwant        %+v", *got, tt.want)
			}
			if d := s.Condition(ConditionDegraded); d == nil || *d != other {
				t.Errorf("the other condition was touched: %+v", d)
			}
			if len(s.Conditions) != 2 {
				t.Errorf("%d conditions, want 2: %+v", len(s.Conditions), s.Conditions)
			}
		})
	}
}
