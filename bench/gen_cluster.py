#!/usr/bin/env python3
"""A generated cluster for the advisor benchmarks, one file per namespace.

    python3 bench/gen_cluster.py NAMESPACES PER_NAMESPACE OUT_DIR

Each workload (a Deployment with a Service) names five Services in its env:
three in its namespace, two elsewhere, so the graph has 5 connections per
workload. A third of the workloads are restricted, a third baseline, a third
privileged (hostPath). Every namespace has a default-deny and a same-namespace
NetworkPolicy; even namespaces enforce baseline, odd ones privileged. The same
shape as server/benches/advisor.rs (which builds it in process).
"""
import os
import random
import sys

ns_count, per, out_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
random.seed(42)
os.makedirs(out_dir, exist_ok=True)
SECURITY = [
    ("{runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}",
     "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}", "[{name: tmp, emptyDir: {}}]"),
    ("{}", "{}", "[{name: tmp, emptyDir: {}}]"),
    ("{}", "{}", "[{name: tmp, hostPath: {path: /var/log}}]"),
]
for n in range(ns_count):
    ns = f"ns-{n:03d}"
    docs = [
        f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: "
        f"{{pod-security.kubernetes.io/enforce: {'baseline' if n % 2 == 0 else 'privileged'}}}}}\n",
        f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: default-deny, namespace: {ns}}}\n"
        "spec: {podSelector: {}, policyTypes: [Ingress]}\n",
        f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: same-namespace, namespace: {ns}}}\n"
        "spec: {podSelector: {}, ingress: [{from: [{podSelector: {}}], ports: [{port: http}]}]}\n",
    ]
    for w in range(per):
        refs = []
        while len(refs) < 5:
            tn = random.randrange(ns_count) if len(refs) >= 3 else n
            tw = random.randrange(per)
            if (tn, tw) != (n, w) and (tn, tw) not in refs:
                refs.append((tn, tw))
        env = ", ".join(
            f"{{name: U{i}_URL, value: 'app-{tw:03d}.ns-{tn:03d}.svc.cluster.local:80'}}" if i >= 3
            else f"{{name: U{i}_URL, value: 'http://app-{tw:03d}:80/api'}}"
            for i, (tn, tw) in enumerate(refs))
        pod_sc, c_sc, volumes = SECURITY[(w + n) % 3]
        docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{w:03d}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: app-{w:03d}}}}}
  template:
    metadata: {{labels: {{app: app-{w:03d}}}}}
    spec:
      securityContext: {pod_sc}
      containers:
      - name: main
        image: registry.example/app:1
        ports: [{{name: http, containerPort: 8080}}]
        env: [{env}]
        securityContext: {c_sc}
        volumeMounts: [{{name: tmp, mountPath: /tmp}}]
      volumes: {volumes}
""")
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: app-{w:03d}, namespace: {ns}}}\n"
                    f"spec: {{selector: {{app: app-{w:03d}}}, ports: [{{port: 80, targetPort: http}}]}}\n")
    with open(os.path.join(out_dir, f"{ns}.yaml"), "w") as f:
        f.write("---\n".join(docs))
