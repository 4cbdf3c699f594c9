{{- define "toolforge.accounts.config" -}}
{{ .c.accountsFile }}{{ toYaml .c.quotas }}{{ .c.ldapConfigSecret }}
{{- end }}

{{- define "toolforge.accounts.args" -}}
{{- $c := .c -}}
{{- if and $c.accountsFile $c.ldapConfigSecret }}
{{- fail "components.accounts: give accountsFile or ldapConfigSecret, not both" }}
{{- end }}
{{- if $c.accountsFile }}
- --accounts-file=/etc/toolforge/accounts/accounts.yaml
{{- else if $c.ldapConfigSecret }}
- --ldap-config=/etc/toolforge/ldap/ldap.yaml
{{- else }}
{{- fail "components.accounts: give the account source: accountsFile (the file's content) or ldapConfigSecret (a Secret with ldap.yaml)" }}
{{- end }}
{{- if $c.quotas }}
- --quotas-file=/etc/toolforge/quotas/quotas.yaml
{{- end }}
{{- end }}

{{- define "toolforge.accounts.ports" -}}
{{- end }}

{{- define "toolforge.accounts.service" -}}
type: ClusterIP
{{- end }}

{{- define "toolforge.accounts.servicePorts" -}}
{{- end }}

{{- define "toolforge.accounts.securityContext" -}}
{{- if include "toolforge.accounts.hostHomes" .root }}
# Root, to write kubeconfigs and certificates into tools' and admins'
# homes and give them to their owners: CHOWN to give, DAC_OVERRIDE and
# FOWNER to write into directories and files the tools own. Nothing else.
runAsUser: 0
runAsNonRoot: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
  add: [CHOWN, DAC_OVERRIDE, FOWNER]
seccompProfile:
  type: RuntimeDefault
{{- else }}
{{ include "toolforge.restrictedContainer" . }}
{{- end }}
{{- end }}

{{- define "toolforge.accounts.volumeMounts" -}}
{{- $c := .c -}}
{{- if $c.accountsFile }}
- {name: accounts, mountPath: /etc/toolforge/accounts, readOnly: true}
{{- end }}
{{- if $c.ldapConfigSecret }}
- {name: ldap, mountPath: /etc/toolforge/ldap, readOnly: true}
{{- end }}
{{- if $c.quotas }}
- {name: quotas, mountPath: /etc/toolforge/quotas, readOnly: true}
{{- end }}
{{- if include "toolforge.accounts.hostHomes" .root }}
# At the same paths as on the hosts: kubeconfigs name their certificates
# by absolute path.
- {name: homes, mountPath: {{ index $c.flags "home-root" | quote }}}
{{- if ne (index $c.flags "admin-home-root") (index $c.flags "home-root") }}
- {name: admin-homes, mountPath: {{ index $c.flags "admin-home-root" | quote }}}
{{- end }}
{{- end }}
{{- end }}

{{- define "toolforge.accounts.volumes" -}}
{{- $c := .c -}}
{{- if $c.accountsFile }}
- name: accounts
  configMap: {name: toolforge-accounts}
{{- end }}
{{- if $c.ldapConfigSecret }}
- name: ldap
  secret: {secretName: {{ $c.ldapConfigSecret | quote }}}
{{- end }}
{{- if $c.quotas }}
- name: quotas
  configMap: {name: toolforge-accounts-quotas}
{{- end }}
{{- if include "toolforge.accounts.hostHomes" .root }}
- name: homes
  hostPath: {path: {{ index $c.flags "home-root" | quote }}, type: DirectoryOrCreate}
{{- if ne (index $c.flags "admin-home-root") (index $c.flags "home-root") }}
- name: admin-homes
  hostPath: {path: {{ index $c.flags "admin-home-root" | quote }}, type: DirectoryOrCreate}
{{- end }}
{{- end }}
{{- end }}
