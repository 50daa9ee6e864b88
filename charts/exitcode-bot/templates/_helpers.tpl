{{/* Names and labels shared by every object. */}}
{{- define "exitcode-bot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "exitcode-bot.fullname" -}}
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

{{- define "exitcode-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "exitcode-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: bot
{{- end }}

{{- define "exitcode-bot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "exitcode-bot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: exitcode-bot
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "exitcode-bot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "exitcode-bot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the Slack credentials: the operator's, or the one this chart creates. */}}
{{- define "exitcode-bot.secretName" -}}
{{- if .Values.slack.existingSecret }}
{{- .Values.slack.existingSecret }}
{{- else }}
{{- printf "%s-slack" (include "exitcode-bot.fullname" .) }}
{{- end }}
{{- end }}

{{/* Fails the install with one sentence when no Slack credentials are given at all. */}}
{{- define "exitcode-bot.checkSlack" -}}
{{- if and (not .Values.slack.existingSecret) (not .Values.slack.botToken) }}
{{- fail "exitcode-bot: set slack.existingSecret (a Secret with SLACK_BOT_TOKEN and SLACK_APP_TOKEN or SLACK_SIGNING_SECRET) or slack.botToken with slack.appToken or slack.signingSecret; see the chart's README section" }}
{{- end }}
{{- if and (not .Values.slack.existingSecret) (not .Values.slack.appToken) (not .Values.slack.signingSecret) }}
{{- fail "exitcode-bot: with slack.botToken, also set slack.appToken (Socket Mode) or slack.signingSecret (HTTP mode)" }}
{{- end }}
{{- end }}

{{/* The namespaces the bot reads with `rbac.scope: namespaces` (default: the release namespace). */}}
{{- define "exitcode-bot.readNamespaces" -}}
{{- if .Values.rbac.namespaces }}
{{- toJson .Values.rbac.namespaces }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{- define "exitcode-bot.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The read rules, identical to k8s/base/clusterrole.yaml (tests/test_helm_chart.py compares them). */}}
{{- define "exitcode-bot.readRules" -}}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list"]
{{- if eq .scope "cluster" }}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- else }}
# A Role cannot grant listing or watching Namespace objects (cluster-scoped requests), only `get` on its
# own namespace, which is all the bot needs to read that namespace's annotations.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
{{- end }}
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["get"]
- apiGroups: ["apps"]
  resources: ["statefulsets", "daemonsets"]
  verbs: ["get"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get"]
{{- end }}

{{- /*
The suffixes of each cluster's Lease and ledger with settings.clusters (CLUSTERS): the bot's own cluster
(settings.clusterName, else "in-cluster") and each listed context, lower-cased, each run of characters
outside [a-z0-9-] replaced by "-", cut at 40 characters, without a trailing "-" (bot/application/clusters.py,
state_suffix). Empty without settings.clusters: one cluster, one Lease and one ledger, as before.
*/ -}}
{{- define "exitcode-bot.clusterSuffixes" -}}
{{- $suffixes := list }}
{{- with .Values.settings.clusters }}
{{- if has "*" . }}
{{- fail "settings.clusters: list the contexts by name (not *): the Role must name each cluster's Lease and ledger" }}
{{- end }}
{{- range prepend . (default "in-cluster" $.Values.settings.clusterName) | uniq }}
{{- $suffixes = append $suffixes (regexReplaceAll "[^a-z0-9-]+" (lower .) "-" | trunc 40 | trimSuffix "-") }}
{{- end }}
{{- end }}
{{- toJson $suffixes }}
{{- end }}

{{- /* The names of the bot's own objects of one kind: `base`, or `base-<suffix>` per cluster. */ -}}
{{- define "exitcode-bot.stateNames" -}}
{{- $names := list }}
{{- range .suffixes }}
{{- $names = append $names (printf "%s-%s" $.base .) }}
{{- end }}
{{- toJson (default (list .base) $names) }}
{{- end }}
