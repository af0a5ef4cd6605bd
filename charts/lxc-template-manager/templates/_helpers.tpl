{{/* The chart name, or nameOverride. */}}
{{- define "lxctm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources: fullnameOverride, else the release name when it already
contains the chart name, else "<release>-<chart>". Trimmed to leave room for suffixes.
*/}}
{{- define "lxctm.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lxctm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "lxctm.labels" -}}
helm.sh/chart: {{ include "lxctm.chart" . }}
{{ include "lxctm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the manager Pods; they never change between upgrades. */}}
{{- define "lxctm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lxctm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lxctm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lxctm.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lxctm.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the metrics port: https when secure. */}}
{{- define "lxctm.metricsPortName" -}}
{{- if .Values.metrics.secure }}https{{ else }}http{{ end }}
{{- end }}

{{/* Settings that cannot work together fail the render with a message. */}}
{{- define "lxctm.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: replicas without leader election would reconcile the same containers at once" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- if and .Values.metrics.certSecretName (not .Values.metrics.secure) }}
{{- fail "metrics.certSecretName needs metrics.secure" }}
{{- end }}
{{- if and .Values.console.enabled (gt (int .Values.console.replicaCount) 1) (not .Values.console.cookieKeySecretRef.name) }}
{{- fail "console.replicaCount > 1 needs console.cookieKeySecretRef.name: without a shared key each replica encrypts sessions with a key of its own, and a user signed in on one is signed out on the next" }}
{{- end }}
{{- end }}

{{/* The console's resources: the full name with -console. */}}
{{- define "lxctm.console.fullname" -}}
{{- printf "%s-console" (include "lxctm.fullname" .) }}
{{- end }}

{{/*
Labels that select the console Pods. The name differs from the manager's, so that neither the
manager's Deployment nor its metrics Service ever selects a console Pod.
*/}}
{{- define "lxctm.console.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lxctm.name" . }}-console
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every console resource. */}}
{{- define "lxctm.console.labels" -}}
helm.sh/chart: {{ include "lxctm.chart" . }}
{{ include "lxctm.console.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "lxctm.name" . }}
app.kubernetes.io/component: console
{{- end }}

{{- define "lxctm.console.serviceAccountName" -}}
{{- if .Values.console.serviceAccount.create }}
{{- default (include "lxctm.console.fullname" .) .Values.console.serviceAccount.name }}
{{- else }}
{{- required "console.serviceAccount.name is required when console.serviceAccount.create is false" .Values.console.serviceAccount.name }}
{{- end }}
{{- end }}
