package v1alpha1

// LabelClient is the label that, set to a cluster's name on a pod in the
// cluster's namespace, lets that pod reach the cluster's client port
// through the NetworkPolicy the operator creates (spec.networkPolicy): a
// way to admit a client without listing it in allowedClients.
const LabelClient = "raftkube.io/client"
