// Package plan is the operator's membership planner: a pure function from
// what one reconcile pass observed to the one next step.
//
// The reconciler fetches the RaftCluster, its StatefulSet, pods and claims,
// asks every pod for its admin Status and the leader for the configuration
// and progress, builds an Observation and calls Next. It performs exactly the
// returned Action and ends the pass; the next pass observes again. The
// planner has no I/O, clock, goroutines or memory between calls, so a
// manager that crashes between any two steps resumes from what the cluster
// reports: that is the design, not a recovery path. The one fact the
// operator keeps itself, the cluster id in status, is written by a step of
// its own (FinishBootstrap) and re-derived from the leader if it is lost.
//
// Raft's configuration as the leader applied it is the truth. Membership
// changes go through joint consensus (Raft thesis §4.3). Each Action is at
// most one membership change, computed from an applied configuration that
// is not joint (LeaveJoint aside); a change the leader accepted but has not
// applied yet is invisible in Status, so a pass may propose again, and the
// node refuses a change while another is pending. Together: never more than
// one change in flight.
//
// A member is healthy when the leader heard from it recently (RecentActive)
// and its pod is ready and answers Status with that member's id. A learner
// is caught up when it is healthy and at most MaxLearnerLag entries behind
// the leader's commit index. Ordinals come from pod names, NAME-ORDINAL.
//
// Next takes the first of these steps that acts. A step that is blocked
// only for itself (a removal without a healthy majority, a learner still
// catching up) does not stop the steps after it; its reason is reported if
// nothing acts.
//
//  1. Spec: spec.replicas outside 1..9 waits. With spec.bootstrap Fresh,
//     claims found before the StatefulSet exists stop everything (stuck:
//     the user deletes them).
//  2. StatefulSet: a missing one is created, with one replica before
//     bootstrap (a pod for every claim found when adopting), else with a pod
//     for every member (or, with no leader, for every claim).
//  3. Replace down: a pod that the StatefulSet re-created on a claim being
//     deleted (it stays Pending forever) is deleted again; a pod that runs
//     no member (it cannot run: image pull failure, unschedulable, crash
//     loop; or it has not started) and was created from an older pod
//     template than the StatefulSet's update revision is deleted at once,
//     so the StatefulSet re-creates it from the current template. Neither
//     runs a member, so this costs no availability, and it is what lets a
//     bad template change be taken back at any point: before bootstrap,
//     with no leader, mid-rollout.
//  4. Bootstrap: until the cluster id is recorded, pod 0 founds a
//     one-member cluster alone; once a leader answers, FinishBootstrap
//     records the id and switches pods to join mode, so a pod 0 that comes
//     back empty joins as a new member instead of founding a second cluster.
//     Nothing scales before. Replicas above one are never lowered here: that
//     means the status was lost and voters may run there. When adopting
//     (claims existed at creation, or the status was lost: no pod may found
//     a cluster) it waits for the cluster the volumes hold to elect a
//     leader, and only when every pod answered empty does pod 0 restart to
//     found one (StartBootstrap).
//  5. Disaster recovery, asked for by the user's annotation with no leader:
//     the most up-to-date voter that answers is made the only one
//     (ForceNewCluster).
//  6. No leader answered: wait. Nothing is changed blind. When every pod
//     answers and fewer than a majority of the voters still run, the wait
//     is QuorumLost and names the disaster-recovery annotation.
//  7. A leadership transfer in progress: wait for it.
//  8. A joint configuration is left before anything else.
//  9. Recycle: a wanted pod (ordinal < spec.replicas) whose member was
//     removed, or belongs to another cluster, has its claim and pod deleted,
//     so it comes back on an empty volume as a new member (it would
//     otherwise stay removed forever). Never the pod of a member of the
//     configuration, and a removed member's data only once every voter
//     applied the removal. A recycle interrupted between the claim and the
//     pod is finished the same way.
//  10. Stuck learners are removed in one change: their ordinal is no longer
//     wanted, or their pod now runs another member. A wanted learner whose
//     pod is merely gone stays: the StatefulSet brings it back on its volume.
//  11. Scale down: voters with ordinal >= spec.replicas (and a stale voter of
//     an ordinal whose pod runs another voter) leave in one joint change,
//     only if both the current and the new configuration keep a healthy
//     majority. A leaving leader first hands leadership to the healthy
//     staying voter with the highest match index: the leader is never in a
//     removal.
//  12. StatefulSet replicas are set to max(spec.replicas, highest ordinal of
//     any member + 1): raised when growing (not over a claim still being
//     deleted), lowered only once the leavers are out of the applied
//     configuration and every voter applied it (a voter restarting into a
//     configuration that counts a leaver could need it to elect a leader),
//     and the leavers' pods are no longer ready, so the client Service
//     stopped routing to them before they go.
//     Learners count, so a promotion in flight keeps its pods.
//  13. The member of each wanted pod that is not in the configuration is
//     added as a learner, one per pass: new pods, and pods that came back
//     on an empty volume with a new id (lost volume).
//  14. Once every wanted ordinal has a voter or a learner of its current
//     member, and every such learner has caught up, all are promoted in one
//     joint change that also removes the voters they replace (lost volume);
//     again only if both halves keep a healthy majority. A voter that is
//     down does not block this; a wanted pod not yet a learner does.
//  15. Rolling restart: a wanted pod created from an older pod template
//     than the StatefulSet's update revision (strategy OnDelete: a template
//     change restarts nothing by itself) is deleted, one per pass, so the
//     StatefulSet re-creates it from the new template on the same claim; the
//     member keeps its id and data. Only when the configuration is settled
//     (not joint, no learners, one voter on each wanted pod, the
//     StatefulSet at spec.replicas) and every wanted pod is ready and every
//     voter healthy and caught up, so the pod restarted last is back before
//     the next goes. Followers first, highest ordinal first; the leader's
//     pod last, after leadership moved to the healthy follower with the
//     highest match index. Never when the other voters would lack a healthy
//     majority, except with one or two voters, which have none to keep.
//  16. With retention Delete, claims beyond both the StatefulSet and the
//     spec, without a pod and of no member, are deleted, once every voter
//     applied the configuration without their members.
//  17. Otherwise Steady, or Wait with the reasons of the blocked steps and of
//     every voter that is not healthy: Steady means as specified, healthy,
//     and every wanted pod on the update revision.
//
// Every wait carries a Cause (see its constants for what ends each one);
// the operator maps it to a condition reason, and a stuck Cause, one that
// does not end by itself, to a Warning event naming the fix.
//
// MinAvailable gives the PodDisruptionBudget for the voters as observed.
package plan
