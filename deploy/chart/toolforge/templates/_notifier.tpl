{{- define "toolforge.notifier.config" -}}
{{- end }}

{{- define "toolforge.notifier.args" -}}
{{- if not (index .root.Values.flags "smtp-server") }}
{{- fail "components.notifier.enabled needs flags.smtp-server (host:port): the notifier mails through it" }}
{{- end }}
{{- end }}

{{- define "toolforge.notifier.ports" -}}
{{- end }}

{{- define "toolforge.notifier.service" -}}
type: ClusterIP
{{- end }}

{{- define "toolforge.notifier.servicePorts" -}}
{{- end }}

{{- define "toolforge.notifier.securityContext" -}}
{{ include "toolforge.restrictedContainer" . }}
{{- end }}

{{- define "toolforge.notifier.volumeMounts" -}}
{{- end }}

{{- define "toolforge.notifier.volumes" -}}
{{- end }}
