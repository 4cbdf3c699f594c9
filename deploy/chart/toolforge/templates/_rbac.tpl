{{/* A component's ServiceAccount and the bindings of its roles: toolforge.serviceAccount (dict "root" $ "name" "api"). */}}
{{- define "toolforge.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "toolforge.name" .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "toolforge.componentLabels" . | nindent 4 }}
{{- end }}

{{/* toolforge.bind (dict "root" $ "name" "api" "kind" "ClusterRole|Role" "role" "toolforge-api-watch") */}}
{{- define "toolforge.bind" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ if eq .kind "ClusterRole" }}ClusterRoleBinding{{ else }}RoleBinding{{ end }}
metadata:
  name: {{ .role }}
  {{- if eq .kind "Role" }}
  namespace: {{ .root.Release.Namespace }}
  {{- end }}
  labels:
    {{- include "toolforge.componentLabels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ .kind }}
  name: {{ .role }}
subjects:
  - kind: ServiceAccount
    name: {{ include "toolforge.name" .name }}
    namespace: {{ .root.Release.Namespace }}
{{- end }}

{{/* What every component does in the platform namespace: its leader lease and the election's events. */}}
{{- define "toolforge.electionRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end }}
