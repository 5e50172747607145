// The restore drill CronJob (issue 23 §2), rendered by the pinned Helm: nothing by default; enabled, a
// monthly CronJob whose pod runs `drill --latest --s3 --drill-exchange-dir=/drill` beside neo4j and postgres
// containers (the infrahub chart's images) that run the chart's agent script, all on one shared emptyDir, as
// its own ServiceAccount with no Role and no API token. drill-run.test.ts runs it on the local cluster.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  chartDir,
  container,
  envMap,
  find,
  type K8sObject,
  podSpec,
  render,
  renderError,
  renderRaw,
} from "./helm.ts";

const s3 = { bucket: "backups", prefix: "prod/", endpoint: "https://s3.example.com", secretName: "s3-creds" };
const scheduledBackup = { enabled: true, mode: "cronjob", storage: { s3 } };
const drillOf = (objects: K8sObject[]) => find(objects, "CronJob", "infrahub-backup-drill");
const byName = (pod: K8sObject) =>
  Object.fromEntries((pod.containers as K8sObject[]).map((c) => [c.name, c])) as Record<string, K8sObject>;

describe("drill CronJob (issue 23 §2)", () => {
  it("renders nothing by default", () => {
    for (const values of [{}, { backup: scheduledBackup }]) {
      expect(render(values).filter((o) => o.metadata?.name?.includes("-drill"))).toEqual([]);
    }
  });

  it("enabled: monthly, the CLI beside the two database containers of the infrahub chart's images, one shared emptyDir", async () => {
    const res = renderRaw({ backup: scheduledBackup, drill: { enabled: true } });
    expect(res.status, res.stderr).toBe(0);
    await expect(
      res.stdout
        .split(/^---$/m)
        .find((doc) => doc.includes("templates/cronjob-drill.yaml"))
        ?.trim(),
    ).toMatchFileSnapshot("__snapshots__/drill-cronjob.yaml");
    const objects = render({ backup: scheduledBackup, drill: { enabled: true } });
    const drill = drillOf(objects);
    expect(drill.spec.schedule).toBe("0 5 1 * *");
    const pod = podSpec(drill);
    const c = byName(pod);
    expect(Object.keys(c)).toEqual(["drill", "neo4j", "postgres"]);
    expect(container(drill).args).toEqual([
      "drill",
      "--latest",
      "--s3",
      "--drill-exchange-dir=/drill",
      "--drill-agent-timeout=10m",
      "--drill-start-timeout=10m",
      "--drill-neo4j-heap=1g",
      "--drill-neo4j-pagecache=512m",
    ]);
    expect(envMap(drill)).toMatchObject({ INFRAHUB_S3_BUCKET: "backups", INFRAHUB_S3_PREFIX: "prod/" });
    expect(c.neo4j?.image).toBe("neo4j:5.26.0-community");
    expect(c.postgres?.image).toBe("docker.io/bitnamilegacy/postgresql:16.4.0-debian-12-r2");
    for (const name of ["neo4j", "postgres"]) {
      expect(c[name]?.command).toEqual(["bash", "/opt/infrahub-backup/drill-agent.sh", "/drill", name]);
      expect(c[name]?.securityContext).toEqual(c.drill?.securityContext);
    }
    for (const name of ["drill", "neo4j", "postgres"]) {
      expect(c[name]?.volumeMounts).toContainEqual({ name: "drill", mountPath: "/drill" });
    }
    // The agent script is the chart's file, byte for byte.
    const agent = find(objects, "ConfigMap", "infrahub-backup-drill-agent");
    expect(agent.data["drill-agent.sh"]).toBe(
      readFileSync(join(chartDir, "files", "drill-agent.sh"), "utf8"),
    );
    const job = drill.spec.jobTemplate.spec;
    expect([job.backoffLimit, job.activeDeadlineSeconds]).toEqual([0, 21600]);
    expect(job.podFailurePolicy.rules[1].onExitCodes.containerName).toBe("drill");
  });

  it("runs as its own ServiceAccount without a token, which no Role binds", () => {
    const objects = render({ backup: scheduledBackup, drill: { enabled: true } });
    const pod = podSpec(drillOf(objects));
    expect(pod.serviceAccountName).toBe("infrahub-backup-drill");
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(find(objects, "ServiceAccount", "infrahub-backup-drill").automountServiceAccountToken).toBe(false);
    expect(find(objects, "RoleBinding").subjects).toEqual([
      { kind: "ServiceAccount", name: "infrahub-backup", namespace: "infrahub" },
    ]);
  });

  it("is refused without the S3 bucket the archives are in, or without the key of encrypted ones", () => {
    expect(renderError({ drill: { enabled: true } })).toContain(
      "drill.enabled needs backup.storage.s3.bucket",
    );
    expect(
      renderError({
        backup: { ...scheduledBackup, encryption: { enabled: true } },
        drill: { enabled: true },
      }),
    ).toContain("the drill needs their private key");
  });
});
