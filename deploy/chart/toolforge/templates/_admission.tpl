{{- define "toolforge.admission.config" -}}
{{ toYaml .c.settings }}
{{- end }}

{{- define "toolforge.admission.args" -}}
- --admission-addr=:9443
# Service mode: the API server calls the webhooks through the Service.
- --admission-service={{ include "toolforge.name" "admission" }}
- --admission-service-port=443
# The chart installs the webhook configurations (rules, failure policy);
# the server keeps their CA bundle and the pods webhook's match condition.
- --admission-webhooks-installed=true
{{- if .c.settings }}
- --admission-config=/etc/toolforge/admission/config.yaml
{{- end }}
{{- end }}

{{- define "toolforge.admission.ports" -}}
- {name: webhooks, containerPort: 9443, protocol: TCP}
{{- end }}

{{- define "toolforge.admission.service" -}}
type: ClusterIP
{{- end }}

{{- define "toolforge.admission.servicePorts" -}}
- {name: https, port: 443, targetPort: webhooks, protocol: TCP}
{{- end }}

{{- define "toolforge.admission.securityContext" -}}
{{ include "toolforge.restrictedContainer" . }}
{{- end }}

{{- define "toolforge.admission.volumeMounts" -}}
{{- if .c.settings }}
- {name: settings, mountPath: /etc/toolforge/admission, readOnly: true}
{{- end }}
{{- end }}

{{- define "toolforge.admission.volumes" -}}
{{- if .c.settings }}
- name: settings
  configMap: {name: toolforge-admission-settings}
{{- end }}
{{- end }}
