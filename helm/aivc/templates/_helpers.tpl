{{/* Names, labels and small computed values shared by every template. */}}

{{- define "aivc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* RELEASE-aivc, or just RELEASE when the release name already says aivc. */}}
{{- define "aivc.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "aivc.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "aivc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "aivc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aivc
{{- end }}

{{- define "aivc.operatorSelector" -}}
app.kubernetes.io/name: {{ include "aivc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "aivc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-operator" (include "aivc.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* [imageRegistry/]repository:tag (the chart's appVersion by default) or @digest: the
names `make images REGISTRY=... TAG=...` builds and `make push` pushes. */}}
{{- define "aivc.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag }}
{{- $registry := .root.Values.imageRegistry | trimSuffix "/" }}
{{- $repository := ternary (printf "%s/%s" $registry .image.repository) .image.repository (ne $registry "") }}
{{- if .image.digest }}
{{- printf "%s@%s" $repository .image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/* Namespaces where sandbox Jobs run: the watched ones, or the release namespace. */}}
{{- define "aivc.sandboxNamespaces" -}}
{{- $nss := .Values.watchNamespaces | default (list .Release.Namespace) }}
{{- concat $nss .Values.sandbox.networkPolicy.extraNamespaces | uniq | toJson }}
{{- end }}

{{- define "aivc.dataClaim" -}}
{{- default (printf "%s-data" (include "aivc.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* Sets the Campaign CRD's schema defaults from the values (see templates/crds.yaml). */}}
{{- define "aivc.campaignDefaults" -}}
{{- $v := .root.Values }}
{{- $spec := (index .crd.spec.versions 0).schema.openAPIV3Schema.properties.spec.properties }}
{{- $sb := $spec.sandbox.properties }}
{{- $_ := set $sb.image "default" (include "aivc.image" (dict "image" $v.sandbox.image "root" .root)) }}
{{- $_ = set $sb.gpuResourceName "default" $v.sandbox.gpuResourceName }}
{{- $_ = set $sb.gpus "default" (int $v.sandbox.gpus) }}
{{- $_ = set $sb.cpu "default" (toString $v.sandbox.cpu) }}
{{- $_ = set $sb.memory "default" (toString $v.sandbox.memory) }}
{{- with $v.sandbox.nodeSelector }}{{ $_ = set $sb.nodeSelector "default" . }}{{ end }}
{{- with $v.sandbox.tolerations }}{{ $_ = set $sb.tolerations "default" . }}{{ end }}
{{- with $v.sandbox.runtimeClassName }}{{ $_ = set $sb.runtimeClassName "default" . }}{{ end }}
{{- with $v.imagePullSecrets }}{{ $_ = set $sb.imagePullSecrets "default" . }}{{ end }}
{{- $budget := $spec.budget.properties }}
{{- $_ = set $budget.maxExperiments "default" (int $v.campaignDefaults.maxExperiments) }}
{{- $_ = set $budget.maxCostUSD "default" $v.campaignDefaults.maxCostUSD }}
{{- $_ = set $spec.parallelism "default" (int $v.campaignDefaults.parallelism) }}
{{- $_ = set $spec.git.properties.branch "default" $v.git.branch }}
{{- if eq $v.git.mode "remote" }}{{ $_ = set $spec.git.properties.repo "default" $v.git.remote.url }}{{ end }}
{{- with $v.llm.apiKeySecret.name }}
{{- $_ = set $spec.llm.properties.apiKeySecret "default" (dict "name" . "key" $v.llm.apiKeySecret.key) }}
{{- end }}
{{- end }}

{{/* Fails the render for values that cannot work, with a message that names the key. */}}
{{- define "aivc.validate" -}}
{{- if not (has .Values.git.mode (list "pvc" "remote")) }}
{{- fail (printf "git.mode must be pvc or remote, got %q" .Values.git.mode) }}
{{- end }}
{{- if and (eq .Values.git.mode "remote") (not (hasPrefix "https://" .Values.git.remote.url)) }}
{{- fail "git.remote.url must be an https:// URL when git.mode is remote" }}
{{- end }}
{{- if and (eq .Values.git.mode "pvc") (not .Values.persistence.enabled) }}
{{- fail "persistence.enabled=false would lose the evolution history: use git.mode remote, or keep persistence" }}
{{- end }}
{{- range .Values.imagePullSecrets }}
{{- if not (and (kindIs "map" .) .name) }}
{{- fail (printf "imagePullSecrets: each entry is {name: SECRET}, got %v" .) }}
{{- end }}
{{- end }}
{{- range .Values.watchNamespaces }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .) }}
{{- fail (printf "watchNamespaces: %q is not a namespace name (no globs or patterns)" .) }}
{{- end }}
{{- end }}
{{- end }}
