{{- define "flotilla-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flotilla-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "flotilla-agent.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "flotilla-agent.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "flotilla-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flotilla-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "flotilla-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flotilla-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flotilla-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flotilla-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/component: agent
fleet.flotilla.dev/member: {{ .Values.memberName | quote }}
{{- end }}

{{- define "flotilla-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the agent's hub kubeconfig: the chart's own when hub.kubeconfig is given. */}}
{{- define "flotilla-agent.hubSecretName" -}}
{{- if .Values.hub.kubeconfig }}
{{- printf "%s-hub" (include "flotilla-agent.fullname" .) }}
{{- else }}
{{- required "hub.existingSecret (a Secret with the kubeconfig `flotilla member join` wrote) or hub.kubeconfig (its content: --set-file hub.kubeconfig=NAME.agent-hub.kubeconfig) is required" .Values.hub.existingSecret }}
{{- end }}
{{- end }}

{{- define "flotilla-agent.memberName" -}}
{{- $name := required "memberName is required: the name given to `flotilla member join -n NAME`" .Values.memberName }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name) }}
{{- fail (printf "memberName %q is not a DNS label (lower-case letters, digits and '-')" $name) }}
{{- end }}
{{- $name }}
{{- end }}
