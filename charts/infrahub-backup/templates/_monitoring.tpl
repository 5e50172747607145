{{/*
The interval in seconds between two runs of backup.schedule (the longest gap when runs are uneven), for the
"no recent backup" threshold; empty when the schedule is not one of the shapes recognised here: @macros,
every N minutes, hourly, every N hours, daily, weekly (one weekday), monthly (one day of the month).
*/}}
{{- define "infrahub-backup.scheduleIntervalSeconds" -}}
{{- $s := regexReplaceAll "\\s+" (trim (toString .Values.backup.schedule)) " " }}
{{- $macros := dict "@hourly" 3600 "@daily" 86400 "@midnight" 86400 "@weekly" 604800 "@monthly" 2678400 "@yearly" 31622400 "@annually" 31622400 }}
{{- if hasKey $macros $s }}
{{- get $macros $s }}
{{- else }}
{{- $f := splitList " " $s }}
{{- if eq (len $f) 5 }}
{{- $m := index $f 0 }}{{ $h := index $f 1 }}{{ $dom := index $f 2 }}{{ $mon := index $f 3 }}{{ $dow := index $f 4 }}
{{- $num := "^[0-9]+$" }}
{{- $step := "^\\*/[0-9]+$" }}
{{- if eq $mon "*" }}
{{- if and (eq $dom "*") (eq $dow "*") }}
{{- if eq $m "*" }}60
{{- else if and (regexMatch $step $m) (eq $h "*") }}{{ mul (trimPrefix "*/" $m | int) 60 }}
{{- else if and (regexMatch $num $m) (eq $h "*") }}3600
{{- else if and (regexMatch $num $m) (regexMatch $step $h) }}{{ mul (trimPrefix "*/" $h | int) 3600 }}
{{- else if and (regexMatch $num $m) (regexMatch $num $h) }}86400
{{- end }}
{{- else if and (regexMatch $num $m) (regexMatch $num $h) }}
{{- if and (eq $dom "*") (regexMatch "^[0-7]$|^(?i:sun|mon|tue|wed|thu|fri|sat)$" $dow) }}604800
{{- else if and (regexMatch $num $dom) (eq $dow "*") }}2678400
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The age of the last successful backup that fires InfrahubBackupTooOld, in seconds: maxAgeSeconds, else
derived from a scheduled backup's schedule; empty when there is neither (no such alert then).
*/}}
{{- define "infrahub-backup.maxBackupAgeSeconds" -}}
{{- $r := .Values.metrics.prometheusRule.noRecentBackup }}
{{- if not (kindIs "invalid" $r.maxAgeSeconds) }}
{{- $r.maxAgeSeconds | int64 }}
{{- else if and .Values.backup.enabled (eq .Values.backup.mode "cronjob") }}
{{- with include "infrahub-backup.scheduleIntervalSeconds" . }}
{{- add (. | int64) ($r.marginSeconds | int64) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The label matchers of this namespace's series, as the CLI pushes them (its Pushgateway grouping key). */}}
{{- define "infrahub-backup.metricsSelector" -}}
job="infrahub-backup",deployment={{ .Release.Namespace | quote }}
{{- end }}
