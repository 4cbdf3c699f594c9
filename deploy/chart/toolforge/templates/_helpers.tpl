{{/* Labels of every object. */}}
{{- define "toolforge.labels" -}}
app.kubernetes.io/name: toolforge
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: toolforge
app.kubernetes.io/version: {{ include "toolforge.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of one component's objects: toolforge.componentLabels (dict "root" $ "name" "api"). */}}
{{- define "toolforge.componentLabels" -}}
{{ include "toolforge.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* What a component's pods are selected by (never changes across upgrades). */}}
{{- define "toolforge.selector" -}}
app.kubernetes.io/name: toolforge
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "toolforge.tag" -}}
{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* A component's ServiceAccount, Service and role name: toolforge-<name>. */}}
{{- define "toolforge.name" -}}
toolforge-{{ . }}
{{- end }}

{{/*
toolforge.flagArgs renders a flags map as --key=value arguments, sorted by
key; null and "" leave the flag out (the binary's default), a list is
joined with commas (string slices), and an empty list is passed empty
(none of the default's entries).
*/}}
{{- define "toolforge.flagArgs" -}}
{{- range $k, $v := . }}
{{- if or (kindIs "invalid" $v) (and (kindIs "string" $v) (eq $v "")) }}
{{- else if kindIs "slice" $v }}
- {{ printf "--%s=%s" $k (join "," $v) | quote }}
{{- else }}
- {{ printf "--%s=%v" $k $v | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod security context every component but a root accounts controller has. */}}
{{- define "toolforge.restrictedContainer" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Whether the accounts controller writes homes through hostPath volumes. */}}
{{- define "toolforge.accounts.hostHomes" -}}
{{- $a := .Values.components.accounts -}}
{{- if and $a.enabled $a.homes.hostPath }}true{{ end -}}
{{- end }}
