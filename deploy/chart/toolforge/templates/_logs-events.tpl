{{- define "toolforge.logs-events.config" -}}
{{- end }}

{{- define "toolforge.logs-events.args" -}}
{{- if not .root.Values.logs.enabled }}
{{- fail "components.logs-events.enabled needs logs.enabled: it writes to the log store" }}
{{- end }}
{{- end }}

{{- define "toolforge.logs-events.ports" -}}
{{- end }}

{{- define "toolforge.logs-events.service" -}}
type: ClusterIP
{{- end }}

{{- define "toolforge.logs-events.servicePorts" -}}
{{- end }}

{{- define "toolforge.logs-events.securityContext" -}}
{{ include "toolforge.restrictedContainer" . }}
{{- end }}

{{- define "toolforge.logs-events.volumeMounts" -}}
{{- end }}

{{- define "toolforge.logs-events.volumes" -}}
{{- end }}

{{/* The log store's in-cluster URL. */}}
{{- define "toolforge.logs.storeURL" -}}
http://{{ include "toolforge.name" "logs-store" }}.{{ .Release.Namespace }}.svc:{{ .Values.logs.store.port }}
{{- end }}

{{/* The flags every service gets when the platform keeps logs. */}}
{{- define "toolforge.logs.flags" -}}
{{- if .Values.logs.enabled }}
- "--logs-store-url={{ include "toolforge.logs.storeURL" . }}"
- "--logs-retention={{ mul .Values.logs.retentionDays 24 }}h"
{{- end }}
{{- end }}
