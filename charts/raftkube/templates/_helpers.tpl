{{/*
The chart's name, overridable with nameOverride.
*/}}
{{- define "raftkube.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: RELEASE-raftkube, or just RELEASE when
the release name already contains the chart's name. Truncated to 63
characters, the limit of a DNS label.
*/}}
{{- define "raftkube.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The chart label's value: NAME-VERSION.
*/}}
{{- define "raftkube.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object of the release.
*/}}
{{- define "raftkube.labels" -}}
helm.sh/chart: {{ include "raftkube.chart" . }}
{{ include "raftkube.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: raftkube
{{- end }}

{{/*
Labels that select the manager's pods. They never change after an install:
a Deployment's selector is immutable.
*/}}
{{- define "raftkube.selectorLabels" -}}
app.kubernetes.io/name: {{ include "raftkube.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/*
Labels of the uninstall hook's objects: the release's, with their own
component, so that no selector of the manager's matches the hook's pod.
*/}}
{{- define "raftkube.uninstallLabels" -}}
helm.sh/chart: {{ include "raftkube.chart" . }}
app.kubernetes.io/name: {{ include "raftkube.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: uninstall
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: raftkube
{{- end }}

{{/*
The manager's ServiceAccount.
*/}}
{{- define "raftkube.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "raftkube.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The manager's image: repository:tag, the tag defaulting to the appVersion.
*/}}
{{- define "raftkube.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The raftnode image of RaftClusters whose spec names none: nodeImage, or the
raftnode image `make images` builds for the chart's appVersion.
*/}}
{{- define "raftkube.nodeImage" -}}
{{- default (printf "ghcr.io/raftkube/raftnode:%s" .Chart.AppVersion) .Values.nodeImage }}
{{- end }}

{{/*
The manager's RBAC rules: those controller-gen generates from the
+kubebuilder:rbac markers into config/rbac/role.yaml, which `make gen` copies
to files/manager-role.yaml. Kept in that one file so the chart never grants
more or less than the generated ClusterRole (test/chart checks it).
*/}}
{{- define "raftkube.managerRules" -}}
{{- $role := .Files.Get "files/manager-role.yaml" | fromYaml }}
{{- if not $role.rules }}
{{- fail "files/manager-role.yaml has no rules: run `make gen`" }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}

{{/*
The address the manager binds a port to: the pod's IP (set from the downward
API as POD_IP) or every address.
*/}}
{{- define "raftkube.bindAddress" -}}
{{- if .root.Values.listenOnPodIP }}$(POD_IP){{ end }}:{{ .port }}
{{- end }}

{{/*
Checks of value combinations the schema cannot express; included by the
Deployment so that a bad combination fails every render.
*/}}
{{- define "raftkube.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: several managers without leader election would reconcile the same RaftClusters at once; enable leader election or set replicaCount to 1" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.uninstallHook.enabled (le (int .Values.uninstallHook.timeoutSeconds) (int .Values.terminationGracePeriodSeconds)) }}
{{- fail (printf "uninstallHook.timeoutSeconds (%d) must exceed terminationGracePeriodSeconds (%d): the uninstall hook would give up before the kubelet has stopped the manager" (int .Values.uninstallHook.timeoutSeconds) (int .Values.terminationGracePeriodSeconds)) }}
{{- end }}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) (int .Values.healthPort)) }}
{{- fail "metrics.port and healthPort must differ" }}
{{- end }}
{{- if and .Values.metrics.certSecret (not .Values.metrics.secure) }}
{{- fail "metrics.certSecret needs metrics.secure: plain HTTP serves no certificate" }}
{{- end }}
{{- end }}

{{/*
failpoints as one comma-separated string: the value may be a list or already
a comma-separated string (`--set failpoints=a,b` gives a list,
`--set-string failpoints=a` or `--set failpoints=` a string).
*/}}
{{- define "raftkube.failpoints" -}}
{{- if kindIs "string" .Values.failpoints }}
{{- .Values.failpoints }}
{{- else if .Values.failpoints }}
{{- join "," .Values.failpoints }}
{{- end }}
{{- end }}

{{/*
Where the manager reads metrics.certSecret's tls.crt and tls.key.
*/}}
{{- define "raftkube.metricsCertDir" -}}
/tmp/k8s-metrics-server/metrics-certs
{{- end }}
