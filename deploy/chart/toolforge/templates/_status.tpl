{{- define "toolforge.status.config" -}}
{{- end }}

{{- define "toolforge.status.args" -}}
- --status-addr=:8080
{{- end }}

{{- define "toolforge.status.ports" -}}
- {name: http, containerPort: 8080, protocol: TCP}
{{- end }}

{{- define "toolforge.status.service" -}}
type: ClusterIP
{{- end }}

{{- define "toolforge.status.servicePorts" -}}
- {name: http, port: {{ .c.service.port }}, targetPort: http, protocol: TCP}
{{- end }}

{{- define "toolforge.status.securityContext" -}}
{{ include "toolforge.restrictedContainer" . }}
{{- end }}

{{- define "toolforge.status.volumeMounts" -}}
{{- end }}

{{- define "toolforge.status.volumes" -}}
{{- end }}
