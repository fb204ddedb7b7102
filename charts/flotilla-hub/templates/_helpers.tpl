{{/* Names. The fleet namespace is fixed: the hub keeps member credentials and its leader lease in flotilla-system. */}}
{{- define "flotilla-hub.fleetNamespace" -}}flotilla-system{{- end }}

{{- define "flotilla-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flotilla-hub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "flotilla-hub.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "flotilla-hub.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "flotilla-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flotilla-hub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "flotilla-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flotilla-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flotilla-hub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flotilla-hub.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/component: hub
{{- end }}

{{- define "flotilla-hub.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The CRD names in crds/, for the hub's resourceNames-limited CRD rule. */}}
{{- define "flotilla-hub.crdNames" -}}
{{- range $path, $_ := .Files.Glob "crds/*.yaml" }}
- {{ (fromYaml ($.Files.Get $path)).metadata.name }}
{{- end }}
{{- end }}

{{/* The in-cluster kubeconfig: the pod's ServiceAccount token and CA, re-read as the kubelet rotates them. */}}
{{- define "flotilla-hub.kubeconfigName" -}}
{{- printf "%s-kubeconfig" (include "flotilla-hub.fullname" .) }}
{{- end }}

{{/* The exec admission policies (and their bindings, of the same names) in templates/exec-policy.yaml. */}}
{{- define "flotilla-hub.execPolicyNames" -}}
- flotilla-exec-provider
- flotilla-exec-strategy-checks
- flotilla-exec-run-checks
- flotilla-exec-credentials
{{- end }}
