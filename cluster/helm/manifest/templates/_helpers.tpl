{{/* Names and labels shared by every object of the chart. */}}
{{- define "manifest.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "manifest.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The headless service that gives each pod its stable DNS name. */}}
{{- define "manifest.headless" -}}
{{- printf "%s-headless" (include "manifest.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <pod>.<headless>.<namespace>.svc.<domain> of pod number $i: include "manifest.podHost" (list . $i) */}}
{{- define "manifest.podHost" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "manifest.fullname" $ctx) (index . 1) (include "manifest.headless" $ctx) $ctx.Release.Namespace $ctx.Values.clusterDomain -}}
{{- end -}}

{{- define "manifest.secretName" -}}
{{- default (printf "%s-secrets" (include "manifest.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "manifest.scheme" -}}
{{- if .Values.tls.enabled -}}https{{- else -}}http{{- end -}}
{{- end -}}

{{- define "manifest.selectorLabels" -}}
app.kubernetes.io/name: {{ include "manifest.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "manifest.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "manifest.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
