package v1alpha1

// ConditionStorageResizing reports the expansion of the members' claims to
// spec.storage.size. It appears once a larger size is asked for: True while
// claims are being expanded, False once every claim has the size (reason
// Resized) or when the expansion cannot be done (ExpansionNotSupported,
// ResizeFailed: the message names the claims, the class and the fix).
const ConditionStorageResizing = "StorageResizing"

// Reasons of the StorageResizing condition, and of the events of a resize.
const (
	// ReasonResizing: claims were asked for the new size; the storage
	// driver has not reported it for all of them yet.
	ReasonResizing = "Resizing"
	// ReasonResized: every member claim reports at least spec.storage.size.
	ReasonResized = "Resized"
	// ReasonExpansionNotSupported: a claim's storage class does not set
	// allowVolumeExpansion (or the claim has no class, or the API server
	// refused the expansion); no claim is changed.
	ReasonExpansionNotSupported = "ExpansionNotSupported"
	// ReasonResizeFailed: the storage driver reports that it cannot expand
	// a claim (status.allocatedResourceStatuses ...ResizeInfeasible).
	ReasonResizeFailed = "ResizeFailed"
	// ReasonRecreatingStatefulSet: the StatefulSet, whose claim template
	// cannot change, is deleted (its pods kept) and re-created with the new
	// size, so new members' claims get it.
	ReasonRecreatingStatefulSet = "RecreatingStatefulSet"
)
