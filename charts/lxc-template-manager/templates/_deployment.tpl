{{/*
The manager's Deployment: the main one (shard empty) or one of sharding.shards, which
reconciles the objects labelled sharding.lxc.templatemanager.dev/key=<shard> while the main one
reconciles those without the label (docs/sharding.md). Only the main one runs the status mirror
and the live progress feed. Called with (dict "root" $ "shard" NAME).
*/}}
{{- define "lxctm.deployment" -}}
{{- $root := .root }}
{{- $shard := .shard }}
{{- $key := "sharding.lxc.templatemanager.dev/key" }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "lxctm.fullname" $root }}{{ with $shard }}-{{ . }}{{ end }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "lxctm.labels" $root | nindent 4 }}
    app.kubernetes.io/component: controller
spec:
  replicas: {{ $root.Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "lxctm.podSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      annotations:
        kubectl.kubernetes.io/default-container: manager
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        helm.sh/chart: {{ include "lxctm.chart" $root }}
        {{- include "lxctm.podSelectorLabels" . | nindent 8 }}
        app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
        app.kubernetes.io/managed-by: {{ $root.Release.Service }}
        app.kubernetes.io/component: controller
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "lxctm.serviceAccountName" $root }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      containers:
      - name: manager
        image: {{ include "lxctm.image" $root | quote }}
        imagePullPolicy: {{ $root.Values.image.pullPolicy }}
        command:
        - /manager
        args:
        - --leader-elect={{ $root.Values.leaderElection.enabled }}
        {{- if $shard }}
        - --watch-label-selector={{ $key }}={{ $shard }}
        {{- else if $root.Values.sharding.shards }}
        - --watch-label-selector=!{{ $key }}
        {{- end }}
        - --health-probe-bind-address=:{{ $root.Values.healthProbe.port }}
        {{- if $root.Values.metrics.enabled }}
        - --metrics-bind-address=:{{ $root.Values.metrics.port }}
        - --metrics-secure={{ $root.Values.metrics.secure }}
        {{- if $root.Values.metrics.certSecretName }}
        - --metrics-cert-dir=/etc/lxc-template-manager/metrics-certs
        {{- end }}
        {{- else }}
        - --metrics-bind-address=0
        {{- end }}
        - --max-concurrent-reconciles={{ $root.Values.controller.maxConcurrentReconciles }}
        - --container-resync-interval={{ $root.Values.controller.containerResyncInterval }}
        - --container-full-check-interval={{ $root.Values.controller.containerFullCheckInterval }}
        - --task-poll-interval={{ $root.Values.controller.taskPollInterval }}
        - --guest-list-max-age={{ $root.Values.controller.guestListMaxAge }}
        - --ssh-dial-attempts={{ $root.Values.controller.sshDialAttempts }}
        {{- if and $root.Values.mirror.enabled (not $shard) }}
        - --mirror
        - --mirror-resync-interval={{ $root.Values.mirror.resyncInterval }}
        - --mirror-event-retention={{ $root.Values.mirror.eventRetention }}
        - --mirror-dashboard-user={{ $root.Values.mirror.dashboardUser }}
        {{- end }}
        {{- with $root.Values.proxmoxClusters.credentialsNamespaces }}
        - --credentials-namespaces={{ join "," . }}
        {{- end }}
        - --zap-log-level={{ $root.Values.logging.level }}
        - --zap-encoder={{ $root.Values.logging.encoder }}
        {{- range $root.Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
        env:
        # The manager's SSH key Secret and its leader-election lease live in the release namespace.
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- if and $root.Values.mirror.enabled (not $shard) }}
        - name: LXCTM_MIRROR_DSN
          valueFrom:
            secretKeyRef:
              name: {{ required "mirror.enabled needs mirror.dsnSecretRef.name: the Secret with the PostgreSQL connection string" $root.Values.mirror.dsnSecretRef.name | quote }}
              key: {{ $root.Values.mirror.dsnSecretRef.key | quote }}
        {{- end }}
        {{- with $root.Values.mirror.redisUrlSecretRef }}
        {{- if and .name (not $shard) }}
        - name: LXCTM_MIRROR_REDIS_URL
          valueFrom:
            secretKeyRef:
              name: {{ .name | quote }}
              key: {{ .key | quote }}
        {{- end }}
        {{- end }}
        {{- with $root.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        ports:
        - name: health
          containerPort: {{ $root.Values.healthProbe.port }}
          protocol: TCP
        {{- if $root.Values.metrics.enabled }}
        - name: {{ include "lxctm.metricsPortName" $root }}
          containerPort: {{ $root.Values.metrics.port }}
          protocol: TCP
        {{- end }}
        livenessProbe:
          httpGet:
            path: /healthz
            port: health
          initialDelaySeconds: 15
          periodSeconds: 20
        readinessProbe:
          httpGet:
            path: /readyz
            port: health
          initialDelaySeconds: 5
          periodSeconds: 10
        securityContext:
          {{- toYaml $root.Values.securityContext | nindent 10 }}
        {{- with $root.Values.resources }}
        resources:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        {{- if $root.Values.metrics.certSecretName }}
        volumeMounts:
        - name: metrics-certs
          mountPath: /etc/lxc-template-manager/metrics-certs
          readOnly: true
        {{- end }}
      {{- if $root.Values.metrics.certSecretName }}
      volumes:
      - name: metrics-certs
        secret:
          secretName: {{ $root.Values.metrics.certSecretName }}
      {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/* Labels that select one Deployment's Pods: a shard's have an instance of their own, so that
no Deployment's selector takes in another's Pods. */}}
{{- define "lxctm.podSelectorLabels" -}}
{{- if .shard }}
app.kubernetes.io/name: {{ include "lxctm.name" .root }}
app.kubernetes.io/instance: {{ printf "%s-%s" .root.Release.Name .shard }}
{{- else }}
{{- include "lxctm.selectorLabels" .root }}
{{- end }}
{{- end }}
