#!/usr/bin/env python3
"""Writes N pod manifests, one per file, for the `portcullis check` benchmark.

A mix like a real repository: a third restricted-compliant, a third
baseline-only (no seccomp, root allowed), a third with violations of
baseline (hostPath, privileged, hostPort). Deterministic for a given N.

    python3 bench/gen_pods.py 1000 /tmp/pods-1000
"""
import os
import sys

COMPLIANT = """apiVersion: v1
kind: Pod
metadata:
  name: app-{i}
  namespace: team-{ns}
  labels:
    app: app-{i}
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
  - name: app
    image: registry.example/app-{i}:1.{i}
    ports:
    - containerPort: 8080
    resources:
      limits: {{cpu: 500m, memory: 256Mi}}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: [ALL]
  - name: sidecar
    image: registry.example/proxy:2.0
    securityContext:
      allowPrivilegeEscalation: false
      capabilities:
        drop: [ALL]
        add: [NET_BIND_SERVICE]
"""

BASELINE = """apiVersion: v1
kind: Pod
metadata:
  name: legacy-{i}
  namespace: team-{ns}
spec:
  containers:
  - name: web
    image: registry.example/web-{i}:3.1
    env:
    - name: DB_HOST
      value: db.team-{ns}.svc.cluster.local
    ports:
    - containerPort: 80
    volumeMounts:
    - name: cache
      mountPath: /cache
  volumes:
  - name: cache
    emptyDir: {{}}
"""

PRIVILEGED = """apiVersion: v1
kind: Pod
metadata:
  name: agent-{i}
  namespace: kube-system
spec:
  hostNetwork: true
  hostPID: true
  containers:
  - name: agent
    image: registry.example/agent:{i}
    ports:
    - containerPort: 9100
      hostPort: 9100
    securityContext:
      privileged: true
      capabilities:
        add: [NET_ADMIN, SYS_ADMIN]
    volumeMounts:
    - name: root
      mountPath: /host
      readOnly: true
  volumes:
  - name: root
    hostPath:
      path: /
"""


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    kinds = [COMPLIANT, BASELINE, PRIVILEGED]
    for i in range(n):
        text = kinds[i % 3].format(i=i, ns=i % 17)
        with open(os.path.join(out, f"pod-{i:05d}.yaml"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
