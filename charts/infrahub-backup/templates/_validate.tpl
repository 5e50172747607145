{{/*
Values that were renamed or removed, as "path|what to do". The schema declares them (so a readable
message reaches the user instead of a bare "additional property" error); the render then fails here.
*/}}
{{- define "infrahub-backup.renamedValues" -}}
backup.timezone|renamed to backup.timeZone
restore.timezone|renamed to restore.timeZone
cronJob.timeZone|set backup.timeZone or restore.timeZone
backup.options.neo4jmetadata|renamed to backup.options.neo4jMetadata
backup.options.excludeTaskManager|renamed to backup.options.excludeTaskmanager
restore.options.excludeTaskManager|renamed to restore.options.excludeTaskmanager
restore.options.latest|moved to restore.storage.s3.latest
restore.options.key|moved to restore.storage.s3.key
backup.storage.s3.accessKey|removed: credentials come only from an existing Secret (backup.storage.s3.secretName) or workload identity
backup.storage.s3.secretKey|removed: credentials come only from an existing Secret (backup.storage.s3.secretName) or workload identity
restore.storage.s3.accessKey|removed: credentials come only from an existing Secret (restore.storage.s3.secretName) or workload identity
restore.storage.s3.secretKey|removed: credentials come only from an existing Secret (restore.storage.s3.secretName) or workload identity
{{- end }}

{{/* True when the dotted path is set in .Values. */}}
{{- define "infrahub-backup.hasPath" -}}
{{- $cur := .values }}
{{- $found := true }}
{{- range (splitList "." .path) }}
{{- if and $found (kindIs "map" $cur) (hasKey $cur .) }}{{ $cur = get $cur . }}{{ else }}{{ $found = false }}{{ end }}
{{- end }}
{{- if $found }}true{{ end }}
{{- end }}

{{/* The readable list of problems with the values; empty when they are fine. */}}
{{- define "infrahub-backup.problems" -}}
{{- $v := .Values }}
{{- $p := list }}
{{- range (include "infrahub-backup.renamedValues" . | trim | splitList "\n") }}
{{- $parts := splitList "|" . }}
{{- if include "infrahub-backup.hasPath" (dict "values" $v "path" (index $parts 0)) }}
{{- $p = append $p (printf "%s: %s" (index $parts 0) (index $parts 1)) }}
{{- end }}
{{- end }}
{{- if and $v.backup.enabled $v.restore.enabled }}
{{- $p = append $p "backup.enabled and restore.enabled are both true: a release either produces backups or restores one, never both (a scheduled restore into the release that makes the backups would overwrite it; install a second release for the other)" }}
{{- end }}
{{- /* An s3:// URL where a key or prefix inside the bucket belongs (it would render s3://b/s3://b/k). */}}
{{- $restoreS3 := include "infrahub-backup.restoreS3" . | fromYaml }}
{{- range $path, $value := dict "backup.storage.s3.prefix" $v.backup.storage.s3.prefix "restore.storage.s3.prefix" $restoreS3.prefix "restore.storage.s3.key" $restoreS3.key }}
{{- if hasPrefix "s3://" (toString $value) }}
{{- $p = append $p (printf "%s is %q, a URL: give the part inside the bucket (bucket, endpoint and region are separate values)" $path (toString $value)) }}
{{- end }}
{{- end }}
{{- if $v.backup.enabled }}
{{- if and (eq $v.backup.storage.type "s3") (not $v.backup.storage.s3.bucket) }}
{{- $p = append $p "backup.storage.s3.bucket is empty: set the bucket the backups are uploaded to" }}
{{- end }}
{{- if and (eq $v.backup.mode "job") (not $v.backup.job.helmHook) $v.job.ttlSecondsAfterFinished }}
{{- $p = append $p "job.ttlSecondsAfterFinished with a one-shot backup Job that is not a Helm hook: once the TTL deletes it, the next upgrade or sync creates it again and runs another backup; unset the TTL or use backup.job.helmHook: true" }}
{{- end }}
{{- end }}
{{- if $v.restoreOnInstall.enabled }}
{{- if $v.restore.enabled }}
{{- $p = append $p "restoreOnInstall.enabled and restore.enabled are both true: a release restores either on its first install into a fresh deployment (restoreOnInstall) or on request (restore), not both" }}
{{- end }}
{{- if and $v.backup.enabled (eq $v.backup.mode "job") }}
{{- $p = append $p "restoreOnInstall.enabled with a one-shot backup (backup.mode: job): the backup of the still empty deployment could become the newest archive before the install-time restore reads it; use backup.mode: cronjob" }}
{{- end }}
{{- if not (include "infrahub-backup.restoreOnInstallS3" . | fromYaml).bucket }}
{{- $p = append $p "restoreOnInstall.enabled: no bucket to restore from (set restore.storage.s3.bucket, or backup.storage.s3.bucket to restore from where the backups go)" }}
{{- end }}
{{- end }}
{{- if $v.restore.enabled }}
{{- $st := $v.restore.storage }}
{{- if and (eq $v.restore.mode "cronjob") (ne $st.type "s3") }}
{{- $p = append $p (printf "restore.mode is cronjob but restore.storage.type is %q: a scheduled restore reads from S3 only (restore.storage.type: s3)" $st.type) }}
{{- end }}
{{- if eq $st.type "s3" }}
{{- $s3 := include "infrahub-backup.restoreS3" . | fromYaml }}
{{- range $k, $val := ($v.restore.s3 | default dict) }}
{{- if not (has $k (list "bucket" "prefix" "key" "latest" "endpoint" "region" "secretName")) }}
{{- $p = append $p (printf "restore.s3.%s is not a known key (bucket, prefix, key, latest, endpoint, region, secretName)" $k) }}
{{- else if and $val (ne (toString $val) (toString (get (dict "region" "us-east-1") $k | default ""))) (ne (toString (get $s3 $k)) (toString $val)) }}
{{- $p = append $p (printf "restore.s3.%s (%v) and restore.storage.s3.%s (%v) disagree: set it in one place" $k $val $k (get $st.s3 $k)) }}
{{- end }}
{{- end }}
{{- if and $s3.key $s3.latest }}
{{- $p = append $p "restore.storage.s3.key and restore.storage.s3.latest are both set: restore either one exact key or the latest archive" }}
{{- else if and (not $s3.key) (not $s3.latest) }}
{{- $p = append $p "restore.storage.s3: set either key (the object to restore) or latest: true (the newest archive under bucket/prefix)" }}
{{- end }}
{{- if not $s3.bucket }}
{{- $p = append $p "restore.storage.s3.bucket is empty: set the bucket to restore from" }}
{{- end }}
{{- else }}
{{- if and $st.local.latest (not $st.local.persistence.enabled) }}
{{- $p = append $p "restore.storage.local.latest needs restore.storage.local.persistence (an emptyDir holds no archives to pick from)" }}
{{- end }}
{{- if and $st.local.persistence.enabled (not $st.local.persistence.existingClaim) }}
{{- $p = append $p "restore.storage.local.persistence.enabled needs existingClaim: the claim that holds the archives" }}
{{- end }}
{{- end }}
{{- if and (eq $v.restore.mode "job") (not $v.restore.job.helmHook) $v.job.ttlSecondsAfterFinished }}
{{- $p = append $p "job.ttlSecondsAfterFinished with a one-shot restore Job: once the TTL deletes it, every upgrade or sync creates it again (it then finds its request recorded as done and restores nothing, but the churn never ends); unset the TTL and set restore.enabled: false once the restore has succeeded" }}
{{- end }}
{{- $source := "" }}
{{- if eq $st.type "s3" }}{{ $source = toString (include "infrahub-backup.restoreS3" . | fromYaml).key }}{{ else if not $st.local.latest }}{{ $source = toString $st.local.filename }}{{ end }}
{{- if and (hasSuffix ".enc" $source) (not $v.restore.decryption.keySecret.name) }}
{{- $p = append $p (printf "%s is an encrypted archive: set restore.decryption.keySecret.name to the Secret holding its private key" $source) }}
{{- end }}
{{- end }}
{{- if $v.verify.enabled }}
{{- if ne $v.backup.storage.type "s3" }}
{{- $p = append $p (printf "verify.enabled reads the newest archive in S3 (verify --latest --s3), but backup.storage.type is %q: set backup.storage.type: s3 and backup.storage.s3 (bucket, prefix, endpoint, secretName) to where the archives are" (toString $v.backup.storage.type)) }}
{{- else if not $v.backup.storage.s3.bucket }}
{{- $p = append $p "verify.enabled needs backup.storage.s3.bucket: the bucket (with prefix, endpoint and secretName) holding the archives to verify" }}
{{- end }}
{{- if and $v.backup.enabled (or $v.backup.encryption.enabled $v.backup.encryption.keySecret.name) (not $v.restore.decryption.keySecret.name) }}
{{- $p = append $p "verify.enabled with backup.encryption: the archives are encrypted, so verify needs their private key: set restore.decryption.keySecret.name" }}
{{- end }}
{{- end }}
{{- if $v.drill.enabled }}
{{- if ne $v.backup.storage.type "s3" }}
{{- $p = append $p (printf "drill.enabled drills the newest archive in S3 (drill --latest --s3), but backup.storage.type is %q: set backup.storage.type: s3 and backup.storage.s3 (bucket, prefix, endpoint, secretName) to where the archives are" (toString $v.backup.storage.type)) }}
{{- else if not $v.backup.storage.s3.bucket }}
{{- $p = append $p "drill.enabled needs backup.storage.s3.bucket: the bucket (with prefix, endpoint and secretName) holding the archives to drill" }}
{{- end }}
{{- if and $v.backup.enabled (or $v.backup.encryption.enabled $v.backup.encryption.keySecret.name) (not $v.restore.decryption.keySecret.name) }}
{{- $p = append $p "drill.enabled with backup.encryption: the archives are encrypted, so the drill needs their private key: set restore.decryption.keySecret.name" }}
{{- end }}
{{- end }}
{{- $auth := $v.metrics.pushgateway.auth }}
{{- if and $auth.secretName (not (or $auth.usernameKey $auth.passwordKey $auth.bearerTokenKey)) }}
{{- $p = append $p "metrics.pushgateway.auth.secretName is set but names no key: set usernameKey and passwordKey (basic auth) or bearerTokenKey" }}
{{- else if and (or $auth.usernameKey $auth.passwordKey $auth.bearerTokenKey) (not $auth.secretName) }}
{{- $p = append $p "metrics.pushgateway.auth: keys are set but secretName is empty: name the Secret that holds them" }}
{{- end }}
{{- if or (and $auth.usernameKey (not $auth.passwordKey)) (and $auth.passwordKey (not $auth.usernameKey)) }}
{{- $p = append $p "metrics.pushgateway.auth: basic auth needs both usernameKey and passwordKey" }}
{{- else if and $auth.usernameKey $auth.bearerTokenKey }}
{{- $p = append $p "metrics.pushgateway.auth: basic auth (usernameKey/passwordKey) and bearerTokenKey are both set: use one" }}
{{- end }}
{{- if and $auth.secretName (not $v.metrics.pushgateway.url) }}
{{- $p = append $p "metrics.pushgateway.auth.secretName is set but metrics.pushgateway.url is empty: nothing would be pushed" }}
{{- end }}
{{- $rule := $v.metrics.prometheusRule }}
{{- if and $rule.enabled $rule.noRecentBackup.enabled (kindIs "invalid" $rule.noRecentBackup.maxAgeSeconds) $v.backup.enabled (eq $v.backup.mode "cronjob") (not (include "infrahub-backup.scheduleIntervalSeconds" .)) }}
{{- $p = append $p (printf "metrics.prometheusRule.noRecentBackup.maxAgeSeconds is null and the interval of backup.schedule %q cannot be derived (recognised: @macros, every N minutes or hours, hourly, daily, one weekday, one day of the month): set maxAgeSeconds" (toString $v.backup.schedule)) }}
{{- end }}
{{- range $p }}
  - {{ . }}
{{- end }}
{{- end }}

{{- define "infrahub-backup.validate" -}}
{{- $problems := include "infrahub-backup.problems" . }}
{{- if $problems }}
{{- fail (printf "\n\ninfrahub-backup: the values cannot be rendered:\n%s\n\nSee the chart README (Values, Upgrading from 1.3.0)." $problems) }}
{{- end }}
{{- end }}
