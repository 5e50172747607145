import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ciValuesFiles, type K8sObject, render } from "./helm.ts";
import { KubeValidator } from "./kube-schema.ts";

// Every scenario of ci/ plus the options the scenarios do not cover, so each template path is checked.
const extra: Record<string, unknown> = {
  "restore-local-emptydir": { restore: { enabled: true, storage: { type: "local" } } },
  "restore-local-claim": {
    restore: {
      enabled: true,
      storage: { type: "local", local: { latest: true, persistence: { enabled: true, existingClaim: "c" } } },
    },
  },
  "restore-hook": { restore: { enabled: true, job: { helmHook: true }, s3: { bucket: "bk", key: "k" } } },
  "backup-plain-job-everything": {
    backup: {
      enabled: true,
      requestId: "1",
      job: { helmHook: false, annotations: { "argocd.argoproj.io/sync-wave": "5" } },
      storage: { s3: { bucket: "bk", caBundle: { configMapName: "ca" }, insecureTLS: true } },
    },
    global: { imagePullSecrets: ["g"] },
    imagePullSecrets: [{ name: "p" }],
    tmp: { sizeLimit: "1Gi" },
    priorityClassName: "low",
    nodeSelector: { a: "b" },
    tolerations: [{ key: "k", operator: "Exists" }],
    affinity: {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 1, podAffinityTerm: { topologyKey: "kubernetes.io/hostname" } },
        ],
      },
    },
    extraEnv: [{ name: "X", valueFrom: { configMapKeyRef: { name: "m", key: "k" } } }],
    podAnnotations: { a: "b" },
    podLabels: { c: "d" },
    job: { activeDeadlineSeconds: 60 },
    networkPolicy: { enabled: true, extraEgress: [{ to: [{ podSelector: { matchLabels: { a: "b" } } }] }] },
  },
};

const scenarios: [string, unknown][] = [
  ...ciValuesFiles().map((f): [string, unknown] => [basename(f), parse(readFileSync(f, "utf8"))]),
  ...Object.entries(extra),
];

describe.each(["1.30.0", "1.36.0"])("Kubernetes %s strict schemas", (version) => {
  const validator = new KubeValidator(version);
  it.each(scenarios)("%s: every rendered object is valid", (_name, values) => {
    const objects: K8sObject[] = render(values);
    expect(objects.length).toBeGreaterThan(0);
    const errors = objects.flatMap((o) => validator.validate(o));
    expect(errors).toEqual([]);
  });

  it("the validator does reject an invalid object (the check is not vacuous)", () => {
    const [job] = render({ backup: { enabled: true, storage: { s3: { bucket: "bk" } } } }).filter(
      (o) => o.kind === "Job",
    );
    expect(validator.validate({ ...job, spec: { ...job!.spec, backofLimit: 0 } })).not.toEqual([]);
    const pod = job!.spec.template.spec;
    const bad = {
      ...job,
      spec: { ...job!.spec, template: { ...job!.spec.template, spec: { ...pod, restartPolicy: 3 } } },
    };
    expect(validator.validate(bad)).not.toEqual([]);
  });
});
