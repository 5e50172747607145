{{/* The restore drill (issue 23): its CronJob, agent ConfigMap and ServiceAccount names, args and pod. */}}
{{- define "infrahub-backup.drillCronJobName" -}}
{{- printf "%s-drill" (include "infrahub-backup.fullname" . | trunc 46 | trimSuffix "-") }}
{{- end }}

{{- define "infrahub-backup.drillAgentConfigMapName" -}}
{{- printf "%s-drill-agent" (include "infrahub-backup.fullname" . | trunc 50 | trimSuffix "-") }}
{{- end }}

{{/* The drill pods' identity: never the backup ServiceAccount (no Role is bound to it). */}}
{{- define "infrahub-backup.drillServiceAccountName" -}}
{{- if .Values.drill.serviceAccount.create }}
{{- printf "%s-drill" (include "infrahub-backup.fullname" . | trunc 57 | trimSuffix "-") }}
{{- else }}
{{- default "default" .Values.drill.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "infrahub-backup.drillExchangeDir" -}}/drill{{- end }}

{{- define "infrahub-backup.drillArgs" -}}
{{- $d := .Values.drill }}
{{- $args := list "drill" "--latest" "--s3" (printf "--drill-exchange-dir=%s" (include "infrahub-backup.drillExchangeDir" .)) }}
{{- $args = append $args (printf "--drill-agent-timeout=%s" $d.agentTimeout) }}
{{- $args = append $args (printf "--drill-start-timeout=%s" $d.startTimeout) }}
{{- with $d.neo4j.heap }}{{ $args = append $args (printf "--drill-neo4j-heap=%s" .) }}{{ end }}
{{- with $d.neo4j.pageCache }}{{ $args = append $args (printf "--drill-neo4j-pagecache=%s" .) }}{{ end }}
{{- if $d.excludeTaskManager }}{{ $args = append $args "--exclude-taskmanager" }}{{ end }}
{{- with .Values.restore.decryption.keySecret }}
{{- if .name }}{{ $args = append $args (printf "--decrypt-key=%s/%s" (include "infrahub-backup.keysDir" $) .key) }}{{ end }}
{{- end }}
{{- range $d.extraArgs }}{{ $args = append $args . }}{{ end }}
{{- toJson $args }}
{{- end }}

{{- define "infrahub-backup.drillImage" -}}
{{- if .digest }}{{ printf "%s@%s" .repository .digest }}{{ else }}{{ printf "%s:%s" .repository (toString .tag) }}{{ end }}
{{- end }}

{{/*
A database container of the drill pod: its official image, running the chart's agent script instead of
the image's entrypoint (the database is the drill's throwaway, set up by the CLI through the agent).
dict root, name (neo4j|postgres), spec (drill.neo4j|drill.postgres).
*/}}
{{- define "infrahub-backup.drillAgentContainer" -}}
{{- $v := .root.Values }}
- name: {{ .name }}
  image: {{ include "infrahub-backup.drillImage" .spec.image | quote }}
  imagePullPolicy: {{ .spec.image.pullPolicy }}
  command: ["bash", "/opt/infrahub-backup/drill-agent.sh", {{ include "infrahub-backup.drillExchangeDir" .root | quote }}, {{ .name | quote }}]
  env:
    - name: DRILL_AGENT_STALE_SECONDS
      value: "300"
    # The images' home directories are read-only here (readOnlyRootFilesystem).
    - name: HOME
      value: /tmp
  {{- with $v.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .spec.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: drill
      mountPath: {{ include "infrahub-backup.drillExchangeDir" .root | quote }}
    - name: drill-agent
      mountPath: /opt/infrahub-backup
      readOnly: true
{{- end }}
