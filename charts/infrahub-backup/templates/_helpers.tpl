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

{{/*
The annotation that keeps the identity of the backup pods on `helm uninstall`: uninstalling deletes the
running Job and these objects at once, and a pod winding up after SIGTERM needs its rights to scale
Infrahub back up and resume Neo4j.
*/}}
{{- define "infrahub-backup.keepIdentity" -}}
{{- if .Values.rbac.keepOnUninstall }}
helm.sh/resource-policy: keep
{{- end }}
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

{{/* The restore request: the release, and everything that decides what it restores and from where. */}}
{{- define "infrahub-backup.restoreRequest" -}}
{{- $storage := dict "type" .Values.restore.storage.type "path" .Values.restore.storage.path }}
{{- if eq .Values.restore.storage.type "s3" }}
{{- $_ := set $storage "s3" (include "infrahub-backup.restoreS3" . | fromYaml) }}
{{- else }}
{{- $_ := set $storage "local" .Values.restore.storage.local }}
{{- end }}
{{- /*
How long to wait for readiness is not part of what is restored: changing it is not a new request. The
release is: the record is per namespace, and another release restoring the same archive is a new request.
*/}}
{{- toJson (dict "release" .Release.Name "storage" $storage "options" (omit .Values.restore.options "waitReady") "requestId" (toString .Values.restore.requestId)) }}
{{- end }}

{{- define "infrahub-backup.restoreRequestHash" -}}
{{- include "infrahub-backup.restoreRequest" . | sha256sum | trunc 10 }}
{{- end }}

{{- define "infrahub-backup.backupRequestHash" -}}
{{- toJson (dict "storage" .Values.backup.storage "options" .Values.backup.options "requestId" (toString .Values.backup.requestId)) | sha256sum | trunc 10 }}
{{- end }}

{{/* The rendered pod templates of the one-shot Jobs: their names carry a hash of all of it. */}}
{{- define "infrahub-backup.backupPodTemplate" -}}
{{- include "infrahub-backup.podTemplate" (dict "root" . "component" "backup" "args" (include "infrahub-backup.backupArgs" .)) | trim }}
{{- end }}

{{- define "infrahub-backup.restorePodTemplate" -}}
{{- include "infrahub-backup.podTemplate" (dict "root" . "component" "restore" "args" (include "infrahub-backup.restoreArgs" .)) | trim }}
{{- end }}

{{/*
Object names. A CronJob name is at most 52 characters (the controller appends 11). A plain (non-hook)
one-shot Job is named after a hash of its whole pod template (image, args, env, resources, …) and, for a
backup, of requestId: any change makes a new Job instead of an update Kubernetes refuses (a Job's pod
template is immutable). A new restore Job for a request already completed does nothing (--request-id).
*/}}
{{- define "infrahub-backup.backupJobName" -}}
{{- if .Values.backup.job.helmHook }}
{{- include "infrahub-backup.fullname" . }}
{{- else }}
{{- $hash := printf "%s\n%s" (include "infrahub-backup.backupPodTemplate" .) (toString .Values.backup.requestId) | sha256sum | trunc 10 }}
{{- printf "%s-backup-%s" (include "infrahub-backup.fullname" . | trunc 45 | trimSuffix "-") $hash }}
{{- end }}
{{- end }}

{{- define "infrahub-backup.backupCronJobName" -}}
{{- include "infrahub-backup.fullname" . | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "infrahub-backup.restoreJobName" -}}
{{- if .Values.restore.job.helmHook }}
{{- printf "%s-restore" (include "infrahub-backup.fullname" . | trunc 55 | trimSuffix "-") }}
{{- else }}
{{- printf "%s-restore-%s" (include "infrahub-backup.fullname" . | trunc 44 | trimSuffix "-") (include "infrahub-backup.restorePodTemplate" . | sha256sum | trunc 10) }}
{{- end }}
{{- end }}

{{- define "infrahub-backup.testServiceAccountName" -}}
{{- if .Values.tests.serviceAccount.create }}
{{- printf "%s-test" (include "infrahub-backup.fullname" . | trunc 58 | trimSuffix "-") }}
{{- else }}
{{- include "infrahub-backup.serviceAccountName" . }}
{{- end }}
{{- end }}

{{/* A plain one-shot restore Job: the one kind of restore that must run once per request. */}}
{{- define "infrahub-backup.restoreOnce" -}}
{{- if and (eq .Values.restore.mode "job") (not .Values.restore.job.helmHook) }}true{{ end }}
{{- end }}

{{/* Where key Secrets are mounted (read-only) and the file each one becomes. */}}
{{- define "infrahub-backup.keysDir" -}}/etc/infrahub-backup/keys{{- end }}

{{- define "infrahub-backup.restoreCronJobName" -}}
{{- printf "%s-restore" (include "infrahub-backup.fullname" . | trunc 44 | trimSuffix "-") }}
{{- end }}

{{- define "infrahub-backup.restoreOnInstallJobName" -}}
{{- printf "%s-restore-on-install" (include "infrahub-backup.fullname" . | trunc 44 | trimSuffix "-") }}
{{- end }}

{{- define "infrahub-backup.verifyCronJobName" -}}
{{- printf "%s-verify" (include "infrahub-backup.fullname" . | trunc 45 | trimSuffix "-") }}
{{- end }}

{{/* The verify pods' identity: never the backup ServiceAccount (no Role is bound to it). */}}
{{- define "infrahub-backup.verifyServiceAccountName" -}}
{{- if .Values.verify.serviceAccount.create }}
{{- printf "%s-verify" (include "infrahub-backup.fullname" . | trunc 56 | trimSuffix "-") }}
{{- else }}
{{- default "default" .Values.verify.serviceAccount.name }}
{{- end }}
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
{{- /* Additions of this chart, after upstream's arguments. */}}
{{- if $o.waitReady }}{{ $args = append $args (printf "--wait-ready=%s" (toString $o.waitReady)) }}{{ end }}
{{- $enc := .Values.backup.encryption }}
{{- if $enc.keySecret.name }}
{{- $args = append $args (printf "--encrypt-key=%s/%s" (include "infrahub-backup.keysDir" .) $enc.keySecret.key) }}
{{- else if $enc.enabled }}
{{- $args = append $args "--encrypt" }}
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
{{- /* Additions of this chart, after upstream's arguments. */}}
{{- if $o.waitReady }}{{ $args = append $args (printf "--wait-ready=%s" (toString $o.waitReady)) }}{{ end }}
{{- with .Values.restore.decryption.keySecret }}
{{- if .name }}{{ $args = append $args (printf "--decrypt-key=%s/%s" (include "infrahub-backup.keysDir" $) .key) }}{{ end }}
{{- end }}
{{- if include "infrahub-backup.restoreOnce" . }}
{{- $args = append $args (printf "--request-id=%s" (include "infrahub-backup.restoreRequestHash" .)) }}
{{- end }}
{{- range $o.extraArgs }}{{ $args = append $args (toString .) }}{{ end }}
{{- $args = append $args "--yes" }}
{{- toJson $args }}
{{- end }}

{{/*
The S3 settings restoreOnInstall reads: the restore's when its bucket is set, else the backup's (one values
file that backs a deployment up also restores it into a rebuilt cluster). Returns YAML; use with fromYaml.
*/}}
{{- define "infrahub-backup.restoreOnInstallS3" -}}
{{- $restore := include "infrahub-backup.restoreS3" . | fromYaml }}
{{- if $restore.bucket }}
{{- toYaml (omit $restore "key" "latest") }}
{{- else }}
{{- toYaml .Values.backup.storage.s3 }}
{{- end }}
{{- end }}

{{/* The install-time restore: newest archive, only into a fresh deployment, after Infrahub is Ready. */}}
{{- define "infrahub-backup.restoreOnInstallArgs" -}}
{{- $o := .Values.restoreOnInstall }}
{{- $args := list "restore" "--latest" "--s3" "--only-if-fresh" }}
{{- if $o.excludeTaskmanager }}{{ $args = append $args "--exclude-taskmanager" }}{{ end }}
{{- if $o.waitReady }}{{ $args = append $args (printf "--wait-ready=%s" (toString $o.waitReady)) }}{{ end }}
{{- with .Values.restore.decryption.keySecret }}
{{- if .name }}{{ $args = append $args (printf "--decrypt-key=%s/%s" (include "infrahub-backup.keysDir" $) .key) }}{{ end }}
{{- end }}
{{- range $o.extraArgs }}{{ $args = append $args (toString .) }}{{ end }}
{{- $args = append $args "--yes" }}
{{- toJson $args }}
{{- end }}

{{/* Verify arguments: the newest archive under the backup's bucket/prefix; the restore's key when encrypted. */}}
{{- define "infrahub-backup.verifyArgs" -}}
{{- $args := list "verify" "--latest" "--s3" }}
{{- with .Values.restore.decryption.keySecret }}
{{- if .name }}{{ $args = append $args (printf "--decrypt-key=%s/%s" (include "infrahub-backup.keysDir" $) .key) }}{{ end }}
{{- end }}
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

{{/* The container env of a pod; dict root, component (backup|restore|verify|test). */}}
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
{{- else if eq .component "restore-on-install" }}
{{- include "infrahub-backup.s3Env" (include "infrahub-backup.restoreOnInstallS3" $root | fromYaml) }}
{{- else if eq .component "verify" }}
{{- include "infrahub-backup.s3Env" $root.Values.backup.storage.s3 }}
{{- else if eq .component "test" }}
{{- include "infrahub-backup.s3Env" (include "infrahub-backup.testS3" $root | fromYaml) }}
{{- end }}
{{- if ne .component "test" }}
{{- include "infrahub-backup.monitoringEnv" $root.Values }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Metrics push and webhook env of the backup and restore pods (issue 24). Credentials and webhook URLs (they
carry tokens) come only from Secret refs, never as plain values.
*/}}
{{- define "infrahub-backup.monitoringEnv" -}}
{{- with .metrics.pushgateway }}
{{- if .url }}
- name: INFRAHUB_METRICS_PUSHGATEWAY
  value: {{ .url | quote }}
{{- $secret := .auth.secretName }}
{{- range $name, $key := dict "INFRAHUB_METRICS_PUSHGATEWAY_USERNAME" .auth.usernameKey "INFRAHUB_METRICS_PUSHGATEWAY_PASSWORD" .auth.passwordKey "INFRAHUB_METRICS_PUSHGATEWAY_BEARER_TOKEN" .auth.bearerTokenKey }}
{{- if and $secret $key }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret | quote }}
      key: {{ $key | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with .notifications }}
{{- if .webhook.secretName }}
- name: INFRAHUB_NOTIFY_WEBHOOK
  valueFrom:
    secretKeyRef:
      name: {{ .webhook.secretName | quote }}
      key: {{ .webhook.key | quote }}
- name: INFRAHUB_NOTIFY_ON
  value: {{ .notifyOn | quote }}
{{- end }}
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
The pod template spec shared by every Job and CronJob; dict root, component (backup|restore|verify|test), args (JSON list).
Only selector labels go on pods, so a pod template changes only with what the pod does.
*/}}
{{- define "infrahub-backup.podTemplate" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $storage := ternary $v.backup.storage $v.restore.storage (eq .component "backup") }}
{{- if eq .component "restore-on-install" }}{{ $storage = dict "type" "s3" "path" $v.restore.storage.path }}{{ end }}
{{- $s3 := dict }}
{{- if has .component (list "backup" "verify") }}{{ $s3 = $v.backup.storage.s3 }}{{ else if eq .component "restore" }}{{ $s3 = include "infrahub-backup.restoreS3" $root | fromYaml }}{{ else if eq .component "restore-on-install" }}{{ $s3 = include "infrahub-backup.restoreOnInstallS3" $root | fromYaml }}{{ else }}{{ $s3 = include "infrahub-backup.testS3" $root | fromYaml }}{{ end }}
{{- $ca := $s3.caBundle | default dict }}
{{- /* test and verify only read S3: no storage volume, no backup dir. */}}
{{- $s3Only := has .component (list "test" "verify") }}
{{- $useCA := and (or (eq $storage.type "s3") $s3Only) (or $ca.secretName $ca.configMapName) }}
{{- $keySecret := dict }}
{{- if eq .component "backup" }}{{ $keySecret = $v.backup.encryption.keySecret }}{{ else if has .component (list "restore" "restore-on-install" "verify") }}{{ $keySecret = $v.restore.decryption.keySecret }}{{ end }}
{{- $isTest := eq .component "test" }}
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
  {{- if $isTest }}
  # The test only talks to S3: no Kubernetes API token, and not the identity the Role is bound to.
  serviceAccountName: {{ include "infrahub-backup.testServiceAccountName" $root }}
  automountServiceAccountToken: false
  {{- else if eq .component "verify" }}
  # verify only reads S3: no Kubernetes API token, and not the identity the exec Role is bound to.
  serviceAccountName: {{ include "infrahub-backup.verifyServiceAccountName" $root }}
  automountServiceAccountToken: false
  {{- else }}
  serviceAccountName: {{ include "infrahub-backup.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $v.serviceAccount.automountServiceAccountToken }}
  # SIGTERM (Job deleted, deadline, eviction): the CLI puts the previous data back and Infrahub's services
  # up before it exits; this is how long it has.
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  {{- end }}
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
        {{- if eq .component "restore-on-install" }}
        # One request per install-time Job, the same for its retry: a retry of a run killed outright
        # restores the archive that run resolved, also when part of its data is already there.
        - name: INFRAHUB_RESTORE_REQUEST_ID
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['batch.kubernetes.io/controller-uid']
        {{- end }}
        {{- if not $s3Only }}
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
        {{- if not $s3Only }}
        - name: backup-storage
          mountPath: {{ $storage.path | quote }}
        {{- end }}
        {{- if $useCA }}
        - name: s3-ca
          mountPath: /etc/infrahub-backup/s3-ca
          readOnly: true
        {{- end }}
        {{- if $keySecret.name }}
        - name: keys
          mountPath: {{ include "infrahub-backup.keysDir" $root }}
          readOnly: true
        {{- end }}
        {{- with $v.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      {{- if $v.tmp.sizeLimit }}
      emptyDir:
        sizeLimit: {{ $v.tmp.sizeLimit | quote }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- if not $s3Only }}
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
    {{- if $keySecret.name }}
    - name: keys
      secret:
        secretName: {{ $keySecret.name | quote }}
        # 0440 (written in decimal: YAML 1.1 and 1.2 read a leading 0 differently): owner and the pod's
        # group (fsGroup) only.
        defaultMode: 288
        items:
          - key: {{ $keySecret.key | quote }}
            path: {{ $keySecret.key | quote }}
    {{- end }}
    {{- with $v.extraVolumes }}
    {{- toYaml . | nindent 4 }}
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

{{/*
The Job spec fields every backup or restore Job (one-shot or a CronJob's run) carries; dict root,
component (backup|restore|verify|restore-on-install), ttl (bool: render job.ttlSecondsAfterFinished when set), job (the
component's backoffLimit/activeDeadlineSeconds when they are not under <component>.job). backoffLimit always
(upstream left the backup CronJob at Kubernetes' 6); a deadline, so a stuck run ends and never blocks the
next one; a podFailurePolicy: exit codes that cannot heal by retrying fail the Job at once, pod
disruptions are retried without counting, the rest count against backoffLimit.
*/}}
{{- define "infrahub-backup.jobSpec" -}}
{{- $v := .root.Values }}
{{- $own := .job }}
{{- if not $own }}{{ $own = get (get $v .component) "job" }}{{ end }}
{{- $backoff := ternary $own.backoffLimit $v.job.backoffLimit (kindIs "invalid" $v.job.backoffLimit) }}
{{- $deadline := ternary $own.activeDeadlineSeconds $v.job.activeDeadlineSeconds (kindIs "invalid" $v.job.activeDeadlineSeconds) }}
backoffLimit: {{ $backoff }}
{{- if and .ttl (not (kindIs "invalid" $v.job.ttlSecondsAfterFinished)) }}
ttlSecondsAfterFinished: {{ $v.job.ttlSecondsAfterFinished }}
{{- end }}
{{- if not (kindIs "invalid" $deadline) }}
activeDeadlineSeconds: {{ $deadline }}
{{- end }}
podFailurePolicy:
  rules:
    # Evicted, preempted, node drained: not the run's fault; a new pod, not counted.
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
          status: "True"
{{- if has .component (list "restore" "restore-on-install") }}
    # A restore that failed has put everything back and says why: a person looks before it runs again.
    # Only a pod killed outright (137: an OOM kill, SIGKILL) is retried (backoffLimit): killed, it left
    # Infrahub scaled down, and its retry takes the dead run's lock over, brings Infrahub back, and
    # restores the archive the killed run had resolved from the start.
    - action: FailJob
      onExitCodes:
        containerName: {{ .component }}
        operator: NotIn
        values: [137]
{{- else }}
    # The CLI's exit codes that a retry cannot heal: 2 usage, 4 storage credentials or permission,
    # 5 archive not found, 6 archive corrupt or incompatible, 8 partial (a person must look first).
    - action: FailJob
      onExitCodes:
        containerName: {{ .component }}
        operator: In
        values: [2, 4, 5, 6, 8]
{{- end }}
{{- end }}

{{/* The Job spec of a CronJob's runs. */}}
{{- define "infrahub-backup.scheduledJobSpec" -}}
{{- include "infrahub-backup.jobSpec" (dict "root" .root "component" .component "ttl" true) }}
{{- end }}

{{/* The release notes (NOTES.txt), also shown by the infrahub umbrella chart through .Subcharts. */}}
{{- define "infrahub-backup.notes" -}}
{{- $ns := .Release.Namespace -}}
infrahub-backup {{ .Chart.Version }} (CLI {{ .Chart.AppVersion }}) in namespace {{ $ns }}, ServiceAccount {{ include "infrahub-backup.serviceAccountName" . }}.
{{- if .Values.backup.enabled }}
{{- if eq .Values.backup.mode "cronjob" }}

Scheduled backup: CronJob {{ include "infrahub-backup.backupCronJobName" . }} at "{{ .Values.backup.schedule }}"{{ with .Values.backup.timeZone }} ({{ . }}){{ end }}.
  Run one now:   kubectl -n {{ $ns }} create job --from=cronjob/{{ include "infrahub-backup.backupCronJobName" . }} {{ include "infrahub-backup.backupCronJobName" . | trunc 45 }}-manual
  Watch runs:    kubectl -n {{ $ns }} get jobs -l app.kubernetes.io/instance={{ .Release.Name }},app.kubernetes.io/component=backup
{{- else }}

One-shot backup: Job {{ include "infrahub-backup.backupJobName" . }}{{ if .Values.backup.job.helmHook }} (Helm hook: {{ .Values.backup.job.hookEvents }}){{ end }}.
  Follow it:     kubectl -n {{ $ns }} logs -f job/{{ include "infrahub-backup.backupJobName" . }}
{{- if .Values.backup.job.helmHook }}
  Under Argo CD this hook runs after EVERY sync, and each run stops Infrahub's services for the Neo4j
  dump: prefer backup.mode=cronjob there (README "GitOps").
{{- end }}
{{- end }}
{{- if eq .Values.backup.storage.type "s3" }}
  Archives go to s3://{{ .Values.backup.storage.s3.bucket }}/{{ .Values.backup.storage.s3.prefix }}
{{- else if .Values.backup.storage.local.persistence.enabled }}
  Archives go to {{ .Values.backup.storage.path }} on claim {{ .Values.backup.storage.local.persistence.existingClaim | default (include "infrahub-backup.claimName" .) }}
{{- else }}
  Archives go to an emptyDir: copy one out during the {{ .Values.backup.options.sleep }} sleep with
    kubectl -n {{ $ns }} cp <pod>:{{ .Values.backup.storage.path }}/<file> ./<file>
{{- end }}
{{- end }}
{{- if .Values.restore.enabled }}
{{- if eq .Values.restore.mode "cronjob" }}

Scheduled RESTORE: CronJob {{ include "infrahub-backup.restoreCronJobName" . }} at "{{ .Values.restore.schedule }}"{{ with .Values.restore.timeZone }} ({{ . }}){{ end }} overwrites Infrahub in {{ $ns }} on every run.
{{- else }}

One-shot RESTORE: Job {{ include "infrahub-backup.restoreJobName" . }}.
  Follow it:     kubectl -n {{ $ns }} logs -f job/{{ include "infrahub-backup.restoreJobName" . }}
{{- if .Values.restore.options.waitReady }}
  It first waits up to {{ .Values.restore.options.waitReady }} for Infrahub's pods to be Ready (a fresh install works in one go).
{{- end }}
{{- if not .Values.restore.job.helmHook }}
  It restores request {{ include "infrahub-backup.restoreRequestHash" . }} once: a Job re-created for it (image or other pod
  settings changed, Job deleted) finds it recorded and does nothing.
  When it has succeeded, set restore.enabled=false. To run the same restore again, change restore.requestId.
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.verify.enabled }}

Scheduled verify: CronJob {{ include "infrahub-backup.verifyCronJobName" . }} at "{{ .Values.verify.schedule }}"{{ with .Values.verify.timeZone }} ({{ . }}){{ end }} reads the newest archive in s3://{{ .Values.backup.storage.s3.bucket }}/{{ .Values.backup.storage.s3.prefix }} and checks every checksum (exit 6: corrupt).
  Run one now:   kubectl -n {{ $ns }} create job --from=cronjob/{{ include "infrahub-backup.verifyCronJobName" . }} {{ include "infrahub-backup.verifyCronJobName" . | trunc 45 }}-manual
{{- end }}
{{- if .Values.drill.enabled }}

Restore drill: CronJob {{ include "infrahub-backup.drillCronJobName" . }} at "{{ .Values.drill.schedule }}"{{ with .Values.drill.timeZone }} ({{ . }}){{ end }} loads the newest archive in s3://{{ .Values.backup.storage.s3.bucket }}/{{ .Values.backup.storage.s3.prefix }} into throwaway Neo4j and PostgreSQL containers of its own pod and checks the data (exit 6: does not load, 12: a check failed).
  Run one now:   kubectl -n {{ $ns }} create job --from=cronjob/{{ include "infrahub-backup.drillCronJobName" . }} {{ include "infrahub-backup.drillCronJobName" . | trunc 45 }}-manual
  Its result:    kubectl -n {{ $ns }} logs job/<name> -c drill
{{- end }}
{{- if .Values.restoreOnInstall.enabled }}
{{- $s3 := include "infrahub-backup.restoreOnInstallS3" . | fromYaml }}

Restore on install: Job {{ include "infrahub-backup.restoreOnInstallJobName" . }} (Helm hook post-install, never on upgrade) restores the newest archive in s3://{{ $s3.bucket }}/{{ $s3.prefix }} only if the deployment holds nothing beyond a fresh Infrahub.
  What it did:   kubectl -n {{ $ns }} logs job/{{ include "infrahub-backup.restoreOnInstallJobName" . }}   (restored / skipped: the deployment holds data / nothing to restore)
{{- end }}
{{- if and (not .Values.backup.enabled) (not .Values.restore.enabled) (not .Values.verify.enabled) (not .Values.restoreOnInstall.enabled) }}

Nothing scheduled: set backup.enabled=true (or restore.enabled=true) — see the chart README.
{{- end }}
{{- if and .Values.tests.enabled (include "infrahub-backup.testS3" .) }}

Check S3 access:  helm test {{ .Release.Name }} -n {{ $ns }}
{{- end }}
{{- end }}
