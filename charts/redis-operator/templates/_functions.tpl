{{/* The six functions, in the order the manifests list them. */}}
{{- define "redis-operator.functionNames" -}}
reconcile reshard scale discovery alert-bridge dead-letter
{{- end }}

{{/* A function's image: its own override, else <image.registry>/<name>:<image.tag or appVersion>. */}}
{{- define "redis-operator.image" -}}
{{- $fn := index .root.Values.functions .name -}}
{{- if $fn.image -}}
{{ $fn.image }}
{{- else -}}
{{ .root.Values.image.registry }}/{{ .name }}:{{ .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* The identity a function runs as. */}}
{{- define "redis-operator.serviceAccount" -}}
{{ .root.Release.Name }}-{{ .name }}
{{- end }}

{{/* Labels of the operator's own objects; the SinkBinding selects the Services by part-of. */}}
{{- define "redis-operator.operatorLabels" -}}
app.kubernetes.io/part-of: redis-operator
{{ include "redis-operator.labels" . }}
{{- end }}

{{/* Delivery of a Trigger to a function: retries, then the dead-letter function. */}}
{{- define "redis-operator.delivery" -}}
delivery:
  retry: {{ .retry }}
  backoffPolicy: exponential
  backoffDelay: PT0.5S
  timeout: PT{{ .timeoutSeconds }}S
  deadLetterSink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: dead-letter
{{- end }}

{{/*
The Prometheus KEDA queries: prometheus.server.address, else the Service kube-prometheus-stack
(alias prometheus) creates in the release: <release>-prometheus-prometheus, port 9090, where the
stack's fullname drops "-prometheus" when the release name already contains it.
*/}}
{{- define "redis-operator.prometheusAddress" -}}
{{- if .Values.prometheus.server.address -}}
{{ .Values.prometheus.server.address }}
{{- else -}}
{{- $full := ternary .Release.Name (printf "%s-prometheus" .Release.Name) (contains "prometheus" .Release.Name) | trunc 26 | trimSuffix "-" -}}
http://{{ $full }}-prometheus.{{ .Release.Namespace }}.svc:9090
{{- end -}}
{{- end }}
