{{/* The chart's name, and the release's name for its objects (63 characters at most). */}}
{{- define "polling-reloader.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "polling-reloader.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "polling-reloader.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "polling-reloader.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "polling-reloader.selectorLabels" -}}
app.kubernetes.io/name: {{ include "polling-reloader.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "polling-reloader.labels" -}}
{{ include "polling-reloader.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "polling-reloader.serviceAccountName" -}}
{{- if .Values.reloader.serviceAccount.create -}}
{{- default (include "polling-reloader.fullname" .) .Values.reloader.serviceAccount.name -}}
{{- else -}}
{{- required "reloader.serviceAccount.name is needed when reloader.serviceAccount.create is false" .Values.reloader.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "polling-reloader.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.global.imageRegistry -}}
{{- $repository = printf "%s/%s" .Values.global.imageRegistry .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{/* configmap:<namespace>/<name> of the state, the release's own by default. */}}
{{- define "polling-reloader.state" -}}
{{- default (printf "configmap:%s/%s-state" .Release.Namespace (include "polling-reloader.fullname" .)) .Values.state -}}
{{- end -}}

{{/* The namespace of a ConfigMap state, or nothing for a file state. */}}
{{- define "polling-reloader.stateNamespace" -}}
{{- $state := include "polling-reloader.state" . -}}
{{- if hasPrefix "configmap:" $state -}}
{{- $path := trimPrefix "configmap:" $state -}}
{{- if contains "/" $path -}}{{ first (splitList "/" $path) }}{{- else -}}{{ .Release.Namespace }}{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The namespaces a run without watchGlobally covers: the listed ones, else the release's own (which
the pod's KUBERNETES_NAMESPACE confines it to, as in Reloader).
*/}}
{{- define "polling-reloader.watchedNamespaces" -}}
{{- if .Values.reloader.namespaces -}}
{{- join "," .Values.reloader.namespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* Bad combinations fail the rendering with the reason, before anything is applied. */}}
{{- define "polling-reloader.validate" -}}
{{- if not (has .Values.mode (list "cronjob" "deployment")) -}}
{{- fail (printf "mode must be cronjob or deployment, not %q" .Values.mode) -}}
{{- end -}}
{{- if not (has .Values.reloader.reloadStrategy (list "default" "annotations" "env-vars")) -}}
{{- fail (printf "reloader.reloadStrategy must be default, annotations or env-vars, not %q" .Values.reloader.reloadStrategy) -}}
{{- end -}}
{{- if and .Values.reloader.namespaceSelector (not .Values.reloader.watchGlobally) -}}
{{- fail "reloader.namespaceSelector needs reloader.watchGlobally: listing namespaces takes a ClusterRole" -}}
{{- end -}}
{{- if and (eq .Values.mode "cronjob") (or .Values.reloader.serviceMonitor.enabled .Values.reloader.podMonitor.enabled) -}}
{{- fail "reloader.serviceMonitor and reloader.podMonitor need mode: deployment (a CronJob's pod lives for one pass); in cronjob mode, set pushgatewayUrl" -}}
{{- end -}}
{{- if and .Values.pushgatewayUrl (eq .Values.mode "deployment") -}}
{{- fail "pushgatewayUrl is for mode: cronjob; a deployment serves /metrics on port 9090" -}}
{{- end -}}
{{- end -}}

{{/* Custom annotation names: Reloader's chart keys, and the flag each one sets. */}}
{{- define "polling-reloader.annotationFlags" -}}
configmap: --configmap-annotation
secret: --secret-annotation
auto: --auto-annotation
secret_auto: --secret-auto-annotation
configmap_auto: --configmap-auto-annotation
search: --auto-search-annotation
match: --search-match-annotation
ignore: --ignore-annotation
pausePeriod: --pause-deployment-annotation
pauseTime: --pause-deployment-time-annotation
{{- end -}}

{{/* The container's arguments: the mode, then the flags Reloader's chart would render. */}}
{{- define "polling-reloader.args" -}}
{{- $r := .Values.reloader -}}
- run
{{- if eq .Values.mode "cronjob" }}
- --once
{{- else }}
- --interval={{ .Values.interval }}
{{- end }}
- --state={{ include "polling-reloader.state" . }}
{{- with .Values.pushgatewayUrl }}
- --pushgateway-url={{ . }}
{{- end }}
{{- with $r.logFormat }}
- --log-format={{ . }}
{{- end }}
{{- with $r.logLevel }}
- --log-level={{ . }}
{{- end }}
{{- $ignored := list -}}
{{- if $r.ignoreConfigMaps }}{{ $ignored = append $ignored "configmaps" }}{{ end -}}
{{- if $r.ignoreSecrets }}{{ $ignored = append $ignored "secrets" }}{{ end -}}
{{- if $ignored }}
- --resources-to-ignore={{ join "," $ignored }}
{{- end }}
{{- $kinds := list -}}
{{- if $r.ignoreJobs }}{{ $kinds = append $kinds "jobs" }}{{ end -}}
{{- if $r.ignoreCronJobs }}{{ $kinds = append $kinds "cronjobs" }}{{ end -}}
{{- if $kinds }}
- --ignored-workload-types={{ join "," $kinds }}
{{- end }}
{{- if $r.namespaces }}
- --namespaces={{ join "," $r.namespaces }}
{{- end }}
{{- if and $r.ignoreNamespaces $r.watchGlobally }}
- --namespaces-to-ignore={{ $r.ignoreNamespaces }}
{{- end }}
{{- with $r.namespaceSelector }}
- --namespace-selector={{ . }}
{{- end }}
{{- with $r.resourceLabelSelector }}
- --resource-label-selector={{ . }}
{{- end }}
{{- if $r.enableCSIIntegration }}
- --enable-csi-integration=true
{{- end }}
{{- $flags := include "polling-reloader.annotationFlags" . | fromYaml -}}
{{- range $key, $flag := $flags }}
{{- with index (default dict $r.custom_annotations) $key }}
- {{ $flag }}={{ . }}
{{- end }}
{{- end }}
{{- with $r.webhookUrl }}
- --webhook-url={{ . }}
{{- end }}
- --is-Argo-Rollouts={{ $r.isArgoRollouts }}
{{- if $r.reloadOnCreate }}
- --reload-on-create=true
{{- end }}
{{- if $r.reloadOnDelete }}
- --reload-on-delete=true
{{- end }}
{{- if ne $r.reloadStrategy "default" }}
- --reload-strategy={{ $r.reloadStrategy }}
{{- end }}
{{- if $r.autoReloadAll }}
- --auto-reload-all=true
{{- end }}
{{- range .Values.extraArgs }}
- {{ . }}
{{- end }}
{{- end -}}

{{/* The environment: the Lease holder's identity and namespace; Reloader's namespaced mode. */}}
{{- define "polling-reloader.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- if and (not .Values.reloader.watchGlobally) (not .Values.reloader.namespaces) }}
- name: KUBERNETES_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}
{{- range $name, $value := .Values.reloader.deployment.env.open }}
- name: {{ $name | quote }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* The pod: the same for both modes. */}}
{{- define "polling-reloader.podSpec" -}}
{{- $d := .Values.reloader.deployment -}}
serviceAccountName: {{ include "polling-reloader.serviceAccountName" . }}
automountServiceAccountToken: true
{{- with $d.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $d.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $d.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $d.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $d.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $d.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: polling-reloader
    image: {{ include "polling-reloader.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args:
      {{- include "polling-reloader.args" . | nindent 6 }}
    env:
      {{- include "polling-reloader.env" . | nindent 6 }}
    {{- if eq .Values.mode "deployment" }}
    # /metrics, /live and /ready on --metrics-address (:9090, as Reloader).
    ports:
      - name: http
        containerPort: 9090
    livenessProbe:
      httpGet: { path: /live, port: http }
      periodSeconds: 20
    readinessProbe:
      httpGet: { path: /ready, port: http }
      periodSeconds: 10
    {{- end }}
    {{- with $d.containerSecurityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $d.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      {{- with $d.volumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  # The root filesystem is read-only; Node.js may still want a scratch directory.
  - name: tmp
    emptyDir:
      sizeLimit: 16Mi
  {{- with $d.volumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
What a pass calls where it looks for changes: exactly what src/permissions.ts checks, less the
cluster-scoped namespaces list (see clusterrole.yaml). Never watch.
*/}}
{{- define "polling-reloader.watchRules" -}}
{{- $r := .Values.reloader -}}
{{- $sources := list -}}
{{- if not $r.ignoreConfigMaps }}{{ $sources = append $sources "configmaps" }}{{ end -}}
{{- if not $r.ignoreSecrets }}{{ $sources = append $sources "secrets" }}{{ end -}}
{{- if $sources }}
# Change detection: listed page by page, never watched or read one by one.
- apiGroups: ['']
  resources: [{{ join ", " $sources }}]
  verbs: [list]
{{- end }}
{{- if $r.enableCSIIntegration }}
# SecretProviderClasses, seen in the Secrets Store CSI driver's pod statuses.
- apiGroups: [secrets-store.csi.x-k8s.io]
  resources: [secretproviderclasspodstatuses]
  verbs: [list]
{{- end }}
{{- if not $r.webhookUrl }}
{{- /* With webhookUrl no workload is listed or changed. */}}
# Workloads: listed, then read and patched when they must roll.
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [list, get, patch]
{{- if not $r.ignoreCronJobs }}
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [list, get, patch]
{{- end }}
{{- if not $r.ignoreJobs }}
# An unfinished Job is deleted and re-created with the same name and spec; a CronJob's Job then
# takes the old one's place in the CronJob's status.active (for concurrencyPolicy: Forbid).
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, get, delete, create]
- apiGroups: [batch]
  resources: [cronjobs/status]
  verbs: [patch]
{{- if $r.ignoreCronJobs }}
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get]
{{- end }}
{{- end }}
{{- if $r.isArgoRollouts }}
# Argo Rollouts, where that API exists.
- apiGroups: [argoproj.io]
  resources: [rollouts]
  verbs: [list, get, patch]
{{- end }}
{{- end }}
# An Event on each workload reloaded (Normal Reloaded) or that failed to be (Warning ReloadFail).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* What the reloader does in its own namespace: the hash key, the Lease, the Job stash. */}}
{{- define "polling-reloader.ownRules" -}}
# The hash key Secret: read it, and create it on first use (a Secret cannot be created by name).
- apiGroups: ['']
  resources: [secrets]
  resourceNames: [polling-reloader-hash-key]
  verbs: [get]
{{- if or .Values.reloader.ignoreJobs .Values.reloader.webhookUrl }}
- apiGroups: ['']
  resources: [secrets]
  verbs: [create]
{{- else }}
# `create` also keeps a Job that a reload re-creates in a Secret until the new Job exists; each
# pass lists them by label and deletes each one once its Job exists.
- apiGroups: ['']
  resources: [secrets]
  verbs: [create, list, delete]
{{- end }}
# The Lease that lets one instance act at a time.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
{{- end -}}

{{/* The state: a head ConfigMap and its parts, whose names change with every write. */}}
{{- define "polling-reloader.stateRules" -}}
- apiGroups: ['']
  resources: [configmaps]
  verbs: [get, create, update, delete]
{{- end -}}
