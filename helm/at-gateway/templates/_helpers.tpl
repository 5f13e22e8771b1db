{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "at-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart's. */}}
{{- define "at-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service: DNS discovery and stable pod names. */}}
{{- define "at-gateway.headless" -}}
{{- printf "%s-headless" (include "at-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "at-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select this release's gateway pods (StatefulSet, Services, PDB, policy). */}}
{{- define "at-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "at-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "at-gateway.labels" -}}
helm.sh/chart: {{ include "at-gateway.chart" . }}
{{ include "at-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret holding the passphrase, cluster key and admin token. */}}
{{- define "at-gateway.secretName" -}}
{{- default (include "at-gateway.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The Secret and key holding the PostgreSQL DSN. */}}
{{- define "at-gateway.datasourceSecretName" -}}
{{- default (include "at-gateway.fullname" .) .Values.store.postgres.existingSecret }}
{{- end }}

{{- define "at-gateway.datasourceSecretKey" -}}
{{- if .Values.store.postgres.existingSecret }}
{{- .Values.store.postgres.existingSecretKey }}
{{- else -}}
datasource
{{- end }}
{{- end }}

{{/* Expected cluster size: cluster.replicas, else replicaCount. */}}
{{- define "at-gateway.clusterReplicas" -}}
{{- if .Values.cluster.replicas }}{{ .Values.cluster.replicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{/* The full at.yaml: user config plus the settings the chart owns. No secrets in here. */}}
{{- define "at-gateway.config" -}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- $server := deepCopy (default dict $cfg.server) }}
{{- $_ := set $server "host" "0.0.0.0" }}
{{- $_ := set $server "port" (int .Values.ports.http) }}
{{- $_ := set $cfg "server" $server }}
{{- $pg := .Values.store.postgres }}
{{- $postgres := dict "schema" $pg.schema "table_prefix" $pg.tablePrefix "conn_max_lifetime" $pg.connMaxLifetime "max_idle_conns" (int $pg.maxIdleConns) "max_open_conns" (int $pg.maxOpenConns) }}
{{- $_ := set $cfg "store" (dict "postgres" $postgres) }}
{{- $dns := printf "%s.%s.svc.%s" (include "at-gateway.headless" .) .Release.Namespace .Values.clusterDomain }}
{{- $cluster := dict "dns_addr" $dns "bind_addr" "0.0.0.0" "port" (int .Values.ports.bus) "raft_port" (int .Values.ports.raft) "replicas" (int (include "at-gateway.clusterReplicas" .)) "dns_interval" .Values.cluster.dnsInterval "reconcile_interval" .Values.cluster.reconcileInterval "security" (dict "enabled" true) }}
{{- $_ := set $cfg "cluster" $cluster }}
{{- toYaml $cfg }}
{{- end }}

{{/* Fails the render early with one line naming what is missing. */}}
{{- define "at-gateway.validate" -}}
{{- if not (or .Values.store.postgres.datasource .Values.store.postgres.existingSecret) }}
{{- fail "store.postgres.datasource or store.postgres.existingSecret is required: the nodes of a cluster share one PostgreSQL database" }}
{{- end }}
{{- if lt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount must be at least 1" }}
{{- end }}
{{- end }}
