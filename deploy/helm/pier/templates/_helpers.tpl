{{/* The name of every object of the release. */}}
{{- define "pier.fullname" -}}
{{ .Release.Name }}-pier
{{- end }}

{{/* Labels on every object. */}}
{{- define "pier.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: Helm
{{- end }}

{{/* The labels that select the pods. */}}
{{- define "pier.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The Secret holding the scale mode's credentials. */}}
{{- define "pier.secretName" -}}
{{- if .Values.secrets.existingSecret }}{{ .Values.secrets.existingSecret }}{{ else }}{{ .Release.Name }}-pier-credentials{{ end }}
{{- end }}
