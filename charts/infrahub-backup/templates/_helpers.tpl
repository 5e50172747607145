{{/* Chart name, truncated to 63 characters. */}}
{{- define "infrahub-backup.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it contains the chart name, else <release>-<chart>; 63 characters.
As a subchart of release `infrahub`: `infrahub-infrahub-backup` (the release name does not contain "infrahub-backup").
*/}}
{{- define "infrahub-backup.fullname" -}}
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

{{- define "infrahub-backup.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object's metadata (never of pods: a pod template must not change with the chart version). */}}
{{- define "infrahub-backup.labels" -}}
helm.sh/chart: {{ include "infrahub-backup.chart" . }}
{{ include "infrahub-backup.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "infrahub-backup.selectorLabels" -}}
app.kubernetes.io/name: {{ include "infrahub-backup.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "infrahub-backup.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "infrahub-backup.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "infrahub-backup.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* imagePullSecrets of the chart and of global, as names or {name: …}, deduplicated. */}}
{{- define "infrahub-backup.imagePullSecrets" -}}
{{- $names := list }}
{{- $global := list }}
{{- if and .Values.global .Values.global.imagePullSecrets }}{{ $global = .Values.global.imagePullSecrets }}{{ end }}
{{- range concat $global (.Values.imagePullSecrets | default list) }}
{{- $n := . }}
{{- if kindIs "map" . }}{{ $n = .name }}{{ end }}
{{- if and $n (not (has $n $names)) }}{{ $names = append $names $n }}{{ end }}
{{- end }}
{{- if $names }}
imagePullSecrets:
{{- range $names }}
  - name: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The effective restore S3 settings: restore.storage.s3 with the seed plan's restore.s3.* mapped on top.
A key set in restore.s3 (not empty, not its default) fills the same key of restore.storage.s3 when
that one is unset or at its default; set to different values in both places, it is a conflict
(reported by validate). Empty or default restore.s3 keys, as in the parent chart's values, are ignored.
Returns YAML; use with fromYaml.
*/}}
{{- define "infrahub-backup.restoreS3" -}}
{{- $s3 := deepCopy .Values.restore.storage.s3 }}
{{- $defaults := dict "bucket" "" "prefix" "" "key" "" "latest" false "endpoint" "" "region" "us-east-1" "secretName" "" }}
{{- range $k, $v := (.Values.restore.s3 | default dict) }}
{{- if and (hasKey $defaults $k) $v (ne (toString $v) (toString (get $defaults $k))) }}
{{- $cur := get $s3 $k }}
{{- if or (eq (toString $cur) (toString (get $defaults $k))) (eq (toString $cur) (toString $v)) }}
{{- $_ := set $s3 $k $v }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $s3 }}
{{- end }}

{{/* The restore request: everything that decides what a restore does and where it reads from. */}}
{{- define "infrahub-backup.restoreRequest" -}}
{{- $storage := dict "type" .Values.restore.storage.type "path" .Values.restore.storage.path }}
{{- if eq .Values.restore.storage.type "s3" }}
{{- $_ := set $storage "s3" (include "infrahub-backup.restoreS3" . | fromYaml) }}
{{- else }}
{{- $_ := set $storage "local" .Values.restore.storage.local }}
{{- end }}
{{- toJson (dict "storage" $storage "options" .Values.restore.options "requestId" (toString .Values.restore.requestId)) }}
{{- end }}

{{- define "infrahub-backup.restoreRequestHash" -}}
{{- include "infrahub-backup.restoreRequest" . | sha256sum | trunc 10 }}
{{- end }}

{{- define "infrahub-backup.backupRequestHash" -}}
{{- toJson (dict "storage" .Values.backup.storage "options" .Values.backup.options "requestId" (toString .Values.backup.requestId)) | sha256sum | trunc 10 }}
{{- end }}

{{/* Object names. A CronJob name is at most 52 characters (the controller appends 11). */}}
{{- define "infrahub-backup.backupJobName" -}}
{{- if .Values.backup.job.helmHook }}
{{- include "infrahub-backup.fullname" . }}
{{- else }}
{{- printf "%s-backup-%s" (include "infrahub-backup.fullname" . | trunc 45 | trimSuffix "-") (include "infrahub-backup.backupRequestHash" .) }}
{{- end }}
{{- end }}

{{- define "infrahub-backup.backupCronJobName" -}}
{{- include "infrahub-backup.fullname" . | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "infrahub-backup.restoreJobName" -}}
{{- if .Values.restore.job.helmHook }}
{{- printf "%s-restore" (include "infrahub-backup.fullname" . | trunc 55 | trimSuffix "-") }}
{{- else }}
{{- printf "%s-restore-%s" (include "infrahub-backup.fullname" . | trunc 44 | trimSuffix "-") (include "infrahub-backup.restoreRequestHash" .) }}
{{- end }}
{{- end }}

{{- define "infrahub-backup.restoreCronJobName" -}}
{{- printf "%s-restore" (include "infrahub-backup.fullname" . | trunc 44 | trimSuffix "-") }}
{{- end }}

{{- define "infrahub-backup.claimName" -}}
{{- printf "%s-backups" (include "infrahub-backup.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* Backup arguments, in upstream order (compat-reference §8.3). Returns a JSON list. */}}
{{- define "infrahub-backup.backupArgs" -}}
{{- $o := .Values.backup.options }}
{{- $args := list "create" }}
{{- if $o.force }}{{ $args = append $args "--force" }}{{ end }}
{{- if $o.excludeTaskmanager }}{{ $args = append $args "--exclude-taskmanager" }}{{ end }}
{{- $args = append $args (printf "--neo4jmetadata=%s" (toString $o.neo4jMetadata)) }}
{{- if eq .Values.backup.storage.type "s3" }}
{{- $args = append $args "--s3-upload" }}
{{- if $o.keepLocal }}{{ $args = append $args "--s3-keep-local" }}{{ end }}
{{- else }}
{{- $args = append $args (printf "--backup-dir=%s" .Values.backup.storage.path) }}
{{- if and $o.sleep (not .Values.backup.storage.local.persistence.enabled) }}{{ $args = append $args (printf "--sleep=%s" (toString $o.sleep)) }}{{ end }}
{{- end }}
{{- range $o.extraArgs }}{{ $args = append $args (toString .) }}{{ end }}
{{- toJson $args }}
{{- end }}

{{/* Restore arguments, in upstream order, then --yes (the CLI asks on a terminal otherwise). */}}
{{- define "infrahub-backup.restoreArgs" -}}
{{- $o := .Values.restore.options }}
{{- $st := .Values.restore.storage }}
{{- $args := list "restore" }}
{{- if $o.excludeTaskmanager }}{{ $args = append $args "--exclude-taskmanager" }}{{ end }}
{{- if $o.migrateFormat }}{{ $args = append $args "--migrate-format" }}{{ end }}
{{- if eq $st.type "local" }}
{{- if and $o.sleep (not $st.local.persistence.enabled) }}{{ $args = append $args (printf "--sleep=%s" (toString $o.sleep)) }}{{ end }}
{{- if $st.local.latest }}
{{- $args = concat $args (list "--latest" (printf "--backup-dir=%s" $st.path)) }}
{{- else }}
{{- $args = append $args (printf "%s/%s" (trimSuffix "/" $st.path) $st.local.filename) }}
{{- end }}
{{- else }}
{{- $s3 := include "infrahub-backup.restoreS3" . | fromYaml }}
{{- if $s3.latest }}
{{- $args = concat $args (list "--latest" "--s3") }}
{{- else }}
{{- if $s3.endpoint }}{{ $args = append $args (printf "--s3-endpoint=%s" $s3.endpoint) }}{{ end }}
{{- $args = append $args (printf "s3://%s/%s" $s3.bucket (trimPrefix "/" (toString $s3.key))) }}
{{- end }}
{{- end }}
{{- range $o.extraArgs }}{{ $args = append $args (toString .) }}{{ end }}
{{- $args = append $args "--yes" }}
{{- toJson $args }}
{{- end }}

{{/* S3 credentials, CA bundle and TLS env of an s3 settings dict. */}}
{{- define "infrahub-backup.s3CommonEnv" -}}
{{- if .secretName }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .secretName | quote }}
      key: {{ .accessKeyIdKey | default "AWS_ACCESS_KEY_ID" | quote }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secretName | quote }}
      key: {{ .secretAccessKeyKey | default "AWS_SECRET_ACCESS_KEY" | quote }}
{{- end }}
{{- if and .caBundle (or .caBundle.secretName .caBundle.configMapName) }}
- name: INFRAHUB_S3_CA_BUNDLE
  value: {{ printf "/etc/infrahub-backup/s3-ca/%s" (.caBundle.key | default "ca.crt") | quote }}
{{- end }}
{{- if .insecureTLS }}
- name: INFRAHUB_S3_INSECURE_TLS
  value: "true"
{{- end }}
{{- end }}

{{/* Full S3 env (bucket, prefix, endpoint, region + credentials) of an s3 settings dict. */}}
{{- define "infrahub-backup.s3Env" }}
- name: INFRAHUB_S3_BUCKET
  value: {{ .bucket | toString | quote }}
{{- if .prefix }}
- name: INFRAHUB_S3_PREFIX
  value: {{ .prefix | toString | quote }}
{{- end }}
{{- if .endpoint }}
- name: INFRAHUB_S3_ENDPOINT
  value: {{ .endpoint | quote }}
{{- end }}
- name: INFRAHUB_S3_REGION
  value: {{ .region | default "us-east-1" | quote }}
{{- include "infrahub-backup.s3CommonEnv" . }}
{{- end }}

{{/* The container env of a pod; dict root, component (backup|restore|test). */}}
{{- define "infrahub-backup.env" -}}
{{- $root := .root }}
- name: INFRAHUB_K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- if $root.Values.logFormat }}
- name: INFRAHUB_LOG_FORMAT
  value: {{ $root.Values.logFormat | quote }}
{{- end }}
{{- if eq .component "backup" }}
{{- if eq $root.Values.backup.storage.type "s3" }}
{{- include "infrahub-backup.s3Env" $root.Values.backup.storage.s3 }}
{{- end }}
{{- else if eq .component "restore" }}
{{- if eq $root.Values.restore.storage.type "s3" }}
{{- $s3 := include "infrahub-backup.restoreS3" $root | fromYaml }}
{{- if $s3.latest }}
{{- include "infrahub-backup.s3Env" $s3 }}
{{- else }}
- name: INFRAHUB_S3_REGION
  value: {{ $s3.region | default "us-east-1" | quote }}
{{- include "infrahub-backup.s3CommonEnv" $s3 }}
{{- end }}
{{- end }}
{{- else if eq .component "test" }}
{{- include "infrahub-backup.s3Env" (include "infrahub-backup.testS3" $root | fromYaml) }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The S3 settings the helm test checks: the backup's when it uses S3, else the restore's. */}}
{{- define "infrahub-backup.testS3" -}}
{{- if and .Values.backup.enabled (eq .Values.backup.storage.type "s3") }}
{{- toYaml .Values.backup.storage.s3 }}
{{- else if and .Values.restore.enabled (eq .Values.restore.storage.type "s3") }}
{{- include "infrahub-backup.restoreS3" . }}
{{- end }}
{{- end }}

{{/*
The pod template spec shared by every Job and CronJob; dict root, component (backup|restore|test), args (JSON list).
Only selector labels go on pods, so a pod template changes only with what the pod does.
*/}}
{{- define "infrahub-backup.podTemplate" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $storage := ternary $v.backup.storage $v.restore.storage (eq .component "backup") }}
{{- $s3 := dict }}
{{- if eq .component "backup" }}{{ $s3 = $v.backup.storage.s3 }}{{ else if eq .component "restore" }}{{ $s3 = include "infrahub-backup.restoreS3" $root | fromYaml }}{{ else }}{{ $s3 = include "infrahub-backup.testS3" $root | fromYaml }}{{ end }}
{{- $ca := $s3.caBundle | default dict }}
{{- $useCA := and (or (eq $storage.type "s3") (eq .component "test")) (or $ca.secretName $ca.configMapName) }}
metadata:
  labels:
    {{- include "infrahub-backup.selectorLabels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "infrahub-backup.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $v.serviceAccount.automountServiceAccountToken }}
  {{- with (include "infrahub-backup.imagePullSecrets" $root | trim) }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  {{- with $v.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "infrahub-backup.image" $root | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        {{- range (.args | fromJsonArray) }}
        - {{ . | quote }}
        {{- end }}
      env:
        {{- include "infrahub-backup.env" (dict "root" $root "component" .component) | trim | nindent 8 }}
        {{- if ne .component "test" }}
        - name: INFRAHUB_BACKUP_DIR
          value: {{ $storage.path | quote }}
        {{- end }}
      {{- with $v.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if ne .component "test" }}
        - name: backup-storage
          mountPath: {{ $storage.path | quote }}
        {{- end }}
        {{- if $useCA }}
        - name: s3-ca
          mountPath: /etc/infrahub-backup/s3-ca
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      {{- if $v.tmp.sizeLimit }}
      emptyDir:
        sizeLimit: {{ $v.tmp.sizeLimit | quote }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- if ne .component "test" }}
    - name: backup-storage
      {{- if and (eq $storage.type "local") $storage.local.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ $storage.local.persistence.existingClaim | default (include "infrahub-backup.claimName" $root) | quote }}
        {{- if eq .component "restore" }}
        readOnly: true
        {{- end }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
    {{- if $useCA }}
    - name: s3-ca
      {{- if $ca.secretName }}
      secret:
        secretName: {{ $ca.secretName | quote }}
        items:
          - key: {{ $ca.key | default "ca.crt" | quote }}
            path: {{ $ca.key | default "ca.crt" | quote }}
      {{- else }}
      configMap:
        name: {{ $ca.configMapName | quote }}
        items:
          - key: {{ $ca.key | default "ca.crt" | quote }}
            path: {{ $ca.key | default "ca.crt" | quote }}
      {{- end }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{- define "infrahub-backup.cronJobSpec" -}}
concurrencyPolicy: {{ .Values.cronJob.concurrencyPolicy }}
successfulJobsHistoryLimit: {{ .Values.cronJob.successfulJobsHistoryLimit }}
failedJobsHistoryLimit: {{ .Values.cronJob.failedJobsHistoryLimit }}
{{- if not (kindIs "invalid" .Values.cronJob.startingDeadlineSeconds) }}
startingDeadlineSeconds: {{ .Values.cronJob.startingDeadlineSeconds }}
{{- end }}
suspend: {{ .Values.cronJob.suspend }}
{{- end }}

{{/* The Job spec of a CronJob's runs: backoffLimit always (upstream left the backup CronJob at Kubernetes' 6). */}}
{{- define "infrahub-backup.scheduledJobSpec" -}}
backoffLimit: {{ .Values.job.backoffLimit }}
{{- if not (kindIs "invalid" .Values.job.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ .Values.job.ttlSecondsAfterFinished }}
{{- end }}
{{- if not (kindIs "invalid" .Values.job.activeDeadlineSeconds) }}
activeDeadlineSeconds: {{ .Values.job.activeDeadlineSeconds }}
{{- end }}
{{- end }}
