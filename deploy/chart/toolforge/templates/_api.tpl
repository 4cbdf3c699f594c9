{{- define "toolforge.api.config" -}}
{{- end }}

{{- define "toolforge.api.args" -}}
- --api-addr=:8443
{{- if .c.buildsRegistryCredentialsSecret }}
- --builds-registry-credentials=/etc/toolforge/builds-registry/credentials
{{- end }}
{{- if not (index .c.flags "api-public-url") }}
- --api-public-url=https://{{ include "toolforge.name" "api" }}.{{ .root.Release.Namespace }}.svc
{{- end }}
{{- end }}

{{- define "toolforge.api.ports" -}}
- {name: https, containerPort: 8443, protocol: TCP}
{{- end }}

{{- define "toolforge.api.service" -}}
type: {{ .c.service.type }}
{{- end }}

{{- define "toolforge.api.servicePorts" -}}
- name: https
  port: {{ .c.service.port }}
  targetPort: https
  protocol: TCP
  {{- if and (eq .c.service.type "NodePort") .c.service.nodePort }}
  nodePort: {{ .c.service.nodePort }}
  {{- end }}
{{- end }}

{{- define "toolforge.api.securityContext" -}}
{{ include "toolforge.restrictedContainer" . }}
{{- end }}

{{- define "toolforge.api.volumeMounts" -}}
{{- if .c.buildsRegistryCredentialsSecret }}
- {name: builds-registry, mountPath: /etc/toolforge/builds-registry, readOnly: true}
{{- end }}
{{- end }}

{{- define "toolforge.api.volumes" -}}
{{- if .c.buildsRegistryCredentialsSecret }}
- name: builds-registry
  secret: {secretName: {{ .c.buildsRegistryCredentialsSecret | quote }}}
{{- end }}
{{- end }}
