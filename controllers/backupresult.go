package controllers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/internal/backupresult"
)

// resultReasons are the reasons raftctl reports; any other becomes
// SnapshotFailed, so conditions only ever carry documented reasons.
var resultReasons = []string{
	raftv1.ReasonStorageAccessDenied,
	raftv1.ReasonStorageNotFound,
	raftv1.ReasonStorageUnreachable,
	raftv1.ReasonClusterUnreachable,
	raftv1.ReasonInvalidBackupConfig,
	raftv1.ReasonSnapshotFailed,
}

// backupOutcome is what became of a finished backup pod.
type backupOutcome struct {
	// Succeeded: the result says the backup is stored.
	Succeeded bool
	// Reason is ReasonBackupSucceeded or why it failed; Message says, for
	// humans, what happened and what to fix.
	Reason, Message string
	// Result is raftctl's report, zero when the pod left none.
	Result backupresult.Result
}

// maxMessage bounds what a RaftBackup's status.message keeps of a log.
const maxMessage = 1024

// podOutcome reads a finished backup pod: raftctl's result from the
// container's termination message, or, when there is none (the pod was
// evicted, raftctl died, the kubelet fell back to the log), what the pod's
// status says. st is where the backup went, for the fix a message names.
func podOutcome(pod *corev1.Pod, st raftv1.BackupStorage, clusterName string) backupOutcome {
	term := terminatedState(pod)
	var res backupresult.Result
	parsed := term != nil && decodeResult(term.Message, &res)
	switch {
	case parsed && res.Error != nil:
		reason := res.Error.Reason
		if !slices.Contains(resultReasons, reason) {
			reason = raftv1.ReasonSnapshotFailed
		}
		return backupOutcome{Reason: reason, Message: failureMessage(reason, res.Error.Message, st, clusterName), Result: res}
	case parsed && pod.Status.Phase == corev1.PodSucceeded:
		msg := fmt.Sprintf("stored %s: %d bytes at index %d, term %d", res.Location, res.Size, res.Index, res.Term)
		if res.PrunedCount > 0 {
			msg += fmt.Sprintf("; retention deleted %d older backups", res.PrunedCount)
		}
		return backupOutcome{Succeeded: true, Reason: raftv1.ReasonBackupSucceeded, Message: msg, Result: res}
	}
	return backupOutcome{Reason: raftv1.ReasonBackupPodFailed, Message: "the backup pod ended without a result: " + describePod(pod)}
}

// decodeResult decodes a termination message into res; false when it is
// not a result (a log tail, nothing, garbage).
func decodeResult(msg string, res *backupresult.Result) bool {
	// Unknown fields are allowed: a newer raftctl may report more.
	dec := json.NewDecoder(strings.NewReader(strings.TrimSpace(msg)))
	if err := dec.Decode(res); err != nil || dec.More() {
		return false
	}
	// A result names the key it was for, or says why it failed.
	return res.Key != "" || res.Error != nil
}

// terminatedState is the backup container's terminated state, nil while it
// has none.
func terminatedState(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == backupContainerName {
			return cs.State.Terminated
		}
	}
	return nil
}

// failureMessage is raftctl's message with the fix for its reason.
func failureMessage(reason, msg string, st raftv1.BackupStorage, clusterName string) string {
	var fix string
	switch reason {
	case raftv1.ReasonStorageAccessDenied:
		if st.S3 != nil {
			fix = fmt.Sprintf("check the Secret %s's %s/%s and that they may write to bucket %s",
				st.S3.CredentialsSecret.Name, envAccessKeyID, envSecretAccessKey, st.S3.Bucket)
		} else if st.Volume != nil {
			fix = fmt.Sprintf("check that the volume of claim %s is writable by the members' user (fsGroup)", st.Volume.ClaimName)
		}
	case raftv1.ReasonStorageNotFound:
		if st.S3 != nil {
			fix = fmt.Sprintf("create bucket %s at %s", st.S3.Bucket, st.S3.Endpoint)
		} else if st.Volume != nil {
			fix = fmt.Sprintf("check claim %s and its prefix", st.Volume.ClaimName)
		}
	case raftv1.ReasonStorageUnreachable:
		if st.S3 != nil {
			fix = fmt.Sprintf("check that %s answers from the cluster's namespace, and set s3.caSecret if a private CA signs its certificate", st.S3.Endpoint)
		}
	case raftv1.ReasonClusterUnreachable:
		fix = fmt.Sprintf("check that RaftCluster %s is Available and that a NetworkPolicy lets pods labelled %s=%s reach its client port",
			clusterName, raftv1.LabelClient, clusterName)
	}
	msg = truncate(msg, maxMessage)
	if fix == "" {
		return msg
	}
	return msg + ": " + fix
}

// describePod says why a pod ended or cannot run: its container's exit or
// wait, the pod's own reason (Evicted), or why it is not scheduled.
func describePod(pod *corev1.Pod) string {
	var parts []string
	if pod.Status.Reason != "" || pod.Status.Message != "" {
		parts = append(parts, strings.TrimSpace(pod.Status.Reason+" "+pod.Status.Message))
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != backupContainerName {
			continue
		}
		switch {
		case cs.State.Terminated != nil:
			t := cs.State.Terminated
			s := fmt.Sprintf("container exited with code %d", t.ExitCode)
			if t.Reason != "" {
				s += " (" + t.Reason + ")"
			}
			if m := strings.TrimSpace(t.Message); m != "" {
				s += ": " + truncate(m, maxMessage)
			}
			parts = append(parts, s)
		case cs.State.Waiting != nil:
			parts = append(parts, strings.TrimSpace(cs.State.Waiting.Reason+": "+cs.State.Waiting.Message))
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			parts = append(parts, strings.TrimSpace(c.Reason+": "+c.Message))
		}
	}
	if len(parts) == 0 {
		return "pod phase " + string(pod.Status.Phase)
	}
	return strings.Join(parts, "; ")
}

// truncate keeps the last n bytes of s, where a log's error lies, at a
// UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	b := []byte(s[len(s)-n:])
	for len(b) > 0 && b[0]&0xC0 == 0x80 {
		b = b[1:]
	}
	return "..." + string(bytes.TrimSpace(b))
}
