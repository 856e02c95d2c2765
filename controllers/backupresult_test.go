package controllers

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/internal/backupresult"
	"github.com/raftkube/raftkube/internal/backupstore"
)

// endedPod is a backup pod in phase whose container ended with exit code
// and termination message msg.
func endedPod(phase corev1.PodPhase, code int32, msg string) *corev1.Pod {
	return &corev1.Pod{Status: corev1.PodStatus{
		Phase: phase,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name:  backupContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg}},
		}},
	}}
}

func failedWith(reason, msg string) *corev1.Pod {
	return endedPod(corev1.PodFailed, 1, `{"key":"ns/demo/b.snap","error":{"reason":"`+reason+`","message":"`+msg+`"}}`)
}

func TestPodOutcome(t *testing.T) {
	volume := raftv1.BackupStorage{Volume: &raftv1.VolumeStorage{ClaimName: "backups"}}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		st   raftv1.BackupStorage
		// want: succeeded, the reason, and substrings of the message.
		succeeded bool
		reason    string
		message   []string
	}{
		{
			name: "stored",
			pod: endedPod(corev1.PodSucceeded, 0, `{"key":"ns/demo/b.snap","location":"s3://backups/ns/demo/b.snap","size":4096,"index":42,"term":3,`+
				`"clusterID":"a1","member":"b2","sha256":"00ff","seconds":1.5,"pruned":["ns/demo/a.snap"],"prunedCount":1}`),
			succeeded: true, reason: raftv1.ReasonBackupSucceeded,
			message: []string{"s3://backups/ns/demo/b.snap", "4096 bytes", "index 42", "deleted 1 older"},
		},
		{
			name:   "access denied",
			pod:    failedWith("StorageAccessDenied", "PutObject: AccessDenied"),
			reason: raftv1.ReasonStorageAccessDenied,
			message: []string{"PutObject: AccessDenied", "check the Secret s3-creds's AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
				"bucket backups"},
		},
		{
			name: "volume not writable", pod: failedWith("StorageAccessDenied", "open: permission denied"), st: volume,
			reason: raftv1.ReasonStorageAccessDenied, message: []string{"permission denied", "claim backups", "fsGroup"},
		},
		{
			name: "no bucket", pod: failedWith("StorageNotFound", "NoSuchBucket"),
			reason: raftv1.ReasonStorageNotFound, message: []string{"NoSuchBucket", "create bucket backups at https://s3.example"},
		},
		{
			name: "store down", pod: failedWith("StorageUnreachable", "dial tcp: connection refused"),
			reason: raftv1.ReasonStorageUnreachable, message: []string{"connection refused", "s3.caSecret"},
		},
		{
			name: "cluster down", pod: failedWith("ClusterUnreachable", "no member answered"),
			reason: raftv1.ReasonClusterUnreachable, message: []string{"no member answered", "RaftCluster demo is Available", "raftkube.io/client=demo"},
		},
		{
			name: "bad key", pod: failedWith("InvalidConfig", "key has '..'"),
			reason: raftv1.ReasonInvalidBackupConfig, message: []string{"key has '..'"},
		},
		{
			name: "stream broken", pod: failedWith("SnapshotFailed", "checksum mismatch"),
			reason: raftv1.ReasonSnapshotFailed, message: []string{"checksum mismatch"},
		},
		{
			name: "a reason of a newer raftctl", pod: failedWith("DiskFull", "no space left"),
			reason: raftv1.ReasonSnapshotFailed, message: []string{"no space left"},
		},
		{
			name:   "raftctl crashed: the log's tail",
			pod:    endedPod(corev1.PodFailed, 2, "panic: runtime error: index out of range\ngoroutine 1 [running]:"),
			reason: raftv1.ReasonBackupPodFailed, message: []string{"without a result", "exited with code 2", "panic: runtime error"},
		},
		{
			name:   "garbage that is JSON",
			pod:    endedPod(corev1.PodFailed, 1, `{"hello":"world"}`),
			reason: raftv1.ReasonBackupPodFailed, message: []string{"without a result", `{"hello":"world"}`},
		},
		{
			name:   "a result followed by more",
			pod:    endedPod(corev1.PodSucceeded, 0, `{"key":"k.snap"} {"key":"x"}`),
			reason: raftv1.ReasonBackupPodFailed, message: []string{"without a result"},
		},
		{
			name:   "succeeded without a result",
			pod:    endedPod(corev1.PodSucceeded, 0, ""),
			reason: raftv1.ReasonBackupPodFailed, message: []string{"without a result", "exited with code 0"},
		},
		{
			name: "evicted before it ran",
			pod: &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory.",
				ContainerStatuses: []corev1.ContainerStatus{{Name: backupContainerName}}}},
			reason: raftv1.ReasonBackupPodFailed, message: []string{"Evicted The node was low on resource: memory."},
		},
		{
			name: "failed with no status at all", pod: &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}},
			reason: raftv1.ReasonBackupPodFailed, message: []string{"pod phase Failed"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			if st.S3 == nil && st.Volume == nil {
				st = s3Storage()
			}
			got := podOutcome(tc.pod, st, "demo")
			if got.Succeeded != tc.succeeded || got.Reason != tc.reason {
				t.Errorf("succeeded %v reason %s, want %v %s (message %q)", got.Succeeded, got.Reason, tc.succeeded, tc.reason, got.Message)
			}
			for _, m := range tc.message {
				if !strings.Contains(got.Message, m) {
					t.Errorf("message %q lacks %q", got.Message, m)
				}
			}
		})
	}
}

func TestPodOutcomeKeepsResult(t *testing.T) {
	got := podOutcome(endedPod(corev1.PodSucceeded, 0,
		`{"key":"k.snap","size":10,"index":18446744073709551615,"term":2,"clusterID":"c","sha256":"ab","pruned":["a.snap","b.snap"],"prunedCount":30,"future":1}`),
		s3Storage(), "demo")
	r := got.Result
	if !got.Succeeded || r.Size != 10 || r.Index != 1<<64-1 || r.Term != 2 || r.ClusterID != "c" || r.SHA256 != "ab" ||
		len(r.Pruned) != 2 || r.PrunedCount != 30 {
		t.Errorf("outcome %+v", got)
	}
}

func TestDescribePodThatCannotStart(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{
		Phase: corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/3 nodes are available"}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: backupContainerName, State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "pull raftnode:bad"},
		}}},
	}}
	want := "ImagePullBackOff: pull raftnode:bad; Unschedulable: 0/3 nodes are available"
	if got := describePod(pod); got != want {
		t.Errorf("describePod = %q, want %q", got, want)
	}
}

func TestTruncateKeepsTheEnd(t *testing.T) {
	s := strings.Repeat("é", 600) + "the error"
	got := truncate(s, 100)
	if !strings.HasPrefix(got, "...") || !strings.HasSuffix(got, "the error") || len(got) > 103 || !strings.HasPrefix(got[3:], "é") {
		t.Errorf("truncate = %q", got)
	}
}

// The result raftctl writes, encoded as raftctl encodes it, reads back as
// it was, and every reason raftctl reports is one the operator documents.
func TestPodOutcomeReadsBackupstoreResults(t *testing.T) {
	ok := backupresult.Result{Key: "ns/demo/scheduled/demo-20261205-030000.snap", Location: "s3://backups/ns/demo/scheduled/demo-20261205-030000.snap",
		Size: 1 << 20, Index: 99, Term: 4, ClusterID: "a1b2", Member: "c3", SHA256: strings.Repeat("ab", 32), Seconds: 1.25,
		Pruned: []string{"ns/demo/scheduled/demo-20261204-030000.snap"}, PrunedCount: 1}
	got := podOutcome(endedPod(corev1.PodSucceeded, 0, string(ok.Encode())), s3Storage(), "demo")
	if !got.Succeeded || !reflect.DeepEqual(got.Result, ok) {
		t.Errorf("read %+v, want %+v", got.Result, ok)
	}

	failed := backupresult.Result{Key: ok.Key, Error: &backupresult.ResultError{Reason: backupstore.ReasonClusterUnreachable, Message: "no member answered"}}
	got = podOutcome(endedPod(corev1.PodFailed, 1, string(failed.Encode())), s3Storage(), "demo")
	if got.Succeeded || got.Reason != raftv1.ReasonClusterUnreachable || !strings.HasPrefix(got.Message, "no member answered") {
		t.Errorf("failure read as %+v", got)
	}
	for _, reason := range []string{backupstore.ReasonStorageAccessDenied, backupstore.ReasonStorageNotFound, backupstore.ReasonStorageUnreachable,
		backupstore.ReasonClusterUnreachable, backupstore.ReasonInvalidConfig, backupstore.ReasonSnapshotFailed} {
		if !slices.Contains(resultReasons, reason) {
			t.Errorf("raftctl's reason %s is not one the operator reports", reason)
		}
	}
}
