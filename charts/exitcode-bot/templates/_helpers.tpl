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

{{/* "true" when Slack credentials are given: the bot runs in Slack mode and reads the Slack Secret. */}}
{{- define "exitcode-bot.slackEnabled" -}}
{{- if or .Values.slack.existingSecret .Values.slack.botToken }}true{{ end }}
{{- end }}

{{/* The Secret whose keys all become the bot's environment (envFrom): the surfaces' URLs and keys, the
operator's (alertSurfaces.existingSecret) or the one this chart creates from values; empty: none. */}}
{{- define "exitcode-bot.surfacesSecretName" -}}
{{- /* `default dict`: `helm upgrade --reuse-values` from a release before alertSurfaces has no such map. */ -}}
{{- $surfaces := .Values.alertSurfaces | default dict }}
{{- if $surfaces.existingSecret }}
{{- $surfaces.existingSecret }}
{{- else if or $surfaces.teamsWebhookUrl $surfaces.pagerdutyRoutingKey $surfaces.webhookUrl $surfaces.webhookSecret }}
{{- printf "%s-surfaces" (include "exitcode-bot.fullname" .) }}
{{- end }}
{{- end }}

{{/* "true" when an alert surface besides Slack is configured (bot/wiring/startup.py: a surface target from
the settings or from CONFIG_FILE's `surfaces`): without Slack, the bot then runs alerts-only. */}}
{{- define "exitcode-bot.surfacesEnabled" -}}
{{- $surfaces := .Values.alertSurfaces | default dict }}
{{- if or $surfaces.existingSecret $surfaces.teamsWebhookUrl $surfaces.pagerdutyRoutingKey $surfaces.webhookUrl .Values.accessConfig.surfaces }}true{{ end }}
{{- end }}

{{/* The process mode the bot will choose (bot/wiring/startup.py): `slack` or `alerts-only`. */}}
{{- define "exitcode-bot.mode" -}}
{{- if include "exitcode-bot.slackEnabled" . }}slack{{ else }}alerts-only{{ end }}
{{- end }}

{{/* Fails the install with one sentence for what the bot would refuse at startup, or could not deliver. */}}
{{- define "exitcode-bot.checkDelivery" -}}
{{- $slack := .Values.slack }}
{{- $surfaces := .Values.alertSurfaces | default dict }}
{{- if and (not (include "exitcode-bot.slackEnabled" .)) (not (include "exitcode-bot.surfacesEnabled" .)) }}
{{- fail "exitcode-bot: nowhere to send alerts. For Slack, set slack.existingSecret (a Secret with SLACK_BOT_TOKEN and SLACK_APP_TOKEN or SLACK_SIGNING_SECRET) or slack.botToken with slack.appToken or slack.signingSecret. For alerts-only (Teams, PagerDuty, webhook; no Slack app), set alertSurfaces.existingSecret (a Secret with TEAMS_WEBHOOK_URL, PAGERDUTY_ROUTING_KEY and/or WEBHOOK_URL with WEBHOOK_SECRET) or alertSurfaces.teamsWebhookUrl, alertSurfaces.pagerdutyRoutingKey or alertSurfaces.webhookUrl with alertSurfaces.webhookSecret. See the README, Install on Kubernetes" }}
{{- end }}
{{- if and (not $slack.existingSecret) $slack.botToken (not $slack.appToken) (not $slack.signingSecret) }}
{{- fail "exitcode-bot: with slack.botToken, also set slack.appToken (Socket Mode) or slack.signingSecret (HTTP mode)" }}
{{- end }}
{{- if and (not $slack.existingSecret) (not $slack.botToken) (or $slack.appToken $slack.signingSecret) }}
{{- fail "exitcode-bot: slack.appToken or slack.signingSecret without slack.botToken would be ignored: set slack.botToken too (Slack mode), or leave all three empty (alerts-only)" }}
{{- end }}
{{- if and $surfaces.existingSecret (or $surfaces.teamsWebhookUrl $surfaces.pagerdutyRoutingKey $surfaces.webhookUrl $surfaces.webhookSecret) }}
{{- fail "exitcode-bot: alertSurfaces.existingSecret and alertSurfaces.teamsWebhookUrl/pagerdutyRoutingKey/webhookUrl/webhookSecret exclude each other (the values would be ignored): put every URL and key in the Secret, or use the values without existingSecret" }}
{{- end }}
{{- if and (not $surfaces.existingSecret) $surfaces.webhookUrl (not $surfaces.webhookSecret) }}
{{- fail "exitcode-bot: alertSurfaces.webhookUrl is set but alertSurfaces.webhookSecret is not: every webhook request is signed (X-Exitcode-Signature), and the bot refuses to start without WEBHOOK_SECRET; set it to a long random value shared with the receiver" }}
{{- end }}
{{- if and (not (include "exitcode-bot.slackEnabled" .)) (not .Values.settings.watchEnabled) }}
{{- fail "exitcode-bot: alerts-only (no Slack credentials, an alert surface configured) with settings.watchEnabled=false has nothing to do: turn the watcher on, or give Slack credentials for slash commands" }}
{{- end }}
{{- if not $surfaces.existingSecret }}
{{- /* Without the operator's Secret, every variable CONFIG_FILE names must come from the chart's Secret or extraEnv. */ -}}
{{- $provided := list }}
{{- range $key, $variable := dict "teamsWebhookUrl" "TEAMS_WEBHOOK_URL" "pagerdutyRoutingKey" "PAGERDUTY_ROUTING_KEY" "webhookUrl" "WEBHOOK_URL" "webhookSecret" "WEBHOOK_SECRET" }}
{{- if index $surfaces $key }}{{ $provided = append $provided $variable }}{{ end }}
{{- end }}
{{- range .Values.extraEnv }}{{ $provided = append $provided .name }}{{ end }}
{{- range $surface, $targets := .Values.accessConfig.surfaces }}
{{- range $target, $keys := $targets }}
{{- range $key, $variable := $keys }}
{{- if not (has $variable $provided) }}
{{- fail (printf "exitcode-bot: accessConfig.surfaces.%s.%s.%s names %s, which nothing sets: put it in the Secret named by alertSurfaces.existingSecret (its keys all become environment variables), or in extraEnv with valueFrom.secretKeyRef" $surface $target $key $variable) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
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
