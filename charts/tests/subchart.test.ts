import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  container,
  envMap,
  find,
  helm,
  parentFixtureDir,
  parseObjects,
  podSpec,
  umbrellaDir,
} from "./helm.ts";

// The fixture is copied so `helm dependency build` (which writes charts/ and Chart.lock) leaves the tree clean;
// its file:// dependency is rewritten to the absolute path of charts/infrahub-backup.
let parent: string;
beforeAll(() => {
  parent = mkdtempSync(join(tmpdir(), "ihb-parent-"));
  cpSync(parentFixtureDir, parent, {
    recursive: true,
    filter: (src) => !/[/\\](charts|Chart\.lock)$/.test(src.slice(parentFixtureDir.length)),
  });
  const chart = parse(readFileSync(join(parent, "Chart.yaml"), "utf8"));
  chart.dependencies[0].repository = `file://${join(parentFixtureDir, "../../../infrahub-backup")}`;
  writeFileSync(join(parent, "Chart.yaml"), stringify(chart));
  const res = helm(["dependency", "build", parent]);
  if (res.status !== 0) throw new Error(res.stderr);
});
afterAll(() => rmSync(parent, { recursive: true, force: true }));

/** The umbrella's own `infrahub-backup:` block (charts/infrahub/values.yaml), as the parent's values. */
function umbrellaBlock(): Record<string, unknown> {
  const values = parse(readFileSync(join(umbrellaDir, "values.yaml"), "utf8"));
  return { "infrahub-backup": values["infrahub-backup"] };
}

function renderParent(...valueDocs: unknown[]): { status: number; stdout: string; stderr: string } {
  const files = valueDocs.map((v, i) => {
    const f = join(parent, `values-${i}.test.yaml`);
    writeFileSync(f, stringify(v));
    return f;
  });
  return helm([
    "template",
    "infrahub",
    parent,
    "--namespace",
    "infrahub",
    ...files.flatMap((f) => ["-f", f]),
  ]);
}

describe("as a subchart of a parent named infrahub (release infrahub)", () => {
  it("renders nothing while infrahub-backup.enabled is false (the umbrella's default)", () => {
    const res = renderParent(umbrellaBlock());
    expect(res.status, res.stderr).toBe(0);
    expect(parseObjects(res.stdout)).toEqual([]);
  });

  it("a scheduled S3 backup from the umbrella's values block: names infrahub-infrahub-backup, global pull secrets", () => {
    const res = renderParent(umbrellaBlock(), {
      global: { imagePullSecrets: [{ name: "registry-creds" }] },
      "infrahub-backup": {
        enabled: true,
        backup: { enabled: true, storage: { s3: { bucket: "infrahub-backups", secretName: "s3" } } },
      },
    });
    expect(res.status, res.stderr).toBe(0);
    const objs = parseObjects(res.stdout);
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "CronJob/infrahub-infrahub-backup",
      "Pod/infrahub-infrahub-backup-test-s3",
      "Role/infrahub-infrahub-backup",
      "RoleBinding/infrahub-infrahub-backup",
      "ServiceAccount/infrahub-infrahub-backup",
      "ServiceAccount/infrahub-infrahub-backup-test",
    ]);
    const cj = find(objs, "CronJob");
    expect(cj.spec.schedule).toBe("0 2 * * *");
    expect(podSpec(cj).serviceAccountName).toBe("infrahub-infrahub-backup");
    expect(podSpec(cj).imagePullSecrets).toEqual([{ name: "registry-creds" }]);
    expect(container(cj).args).toEqual(["create", "--neo4jmetadata=all", "--s3-upload"]);
    expect(envMap(cj)).toMatchObject({
      INFRAHUB_S3_BUCKET: "infrahub-backups",
      INFRAHUB_S3_REGION: "us-east-1",
    });
    expect(cj.metadata.namespace).toBe("infrahub");
  });

  it("a one-shot restore with the seed plan's restore.s3.* keys (dead keys upstream) works", () => {
    const res = renderParent(umbrellaBlock(), {
      "infrahub-backup": {
        enabled: true,
        restore: {
          enabled: true,
          s3: {
            bucket: "infrahub-backups",
            key: "infrahub_backup_20261121_020000.tar.gz",
            endpoint: "http://minio:9000",
            secretName: "s3",
          },
        },
      },
    });
    expect(res.status, res.stderr).toBe(0);
    const job = find(parseObjects(res.stdout), "Job");
    expect(job.metadata.name).toMatch(/^infrahub-infrahub-backup-restore-[0-9a-f]{10}$/);
    expect(container(job).args).toEqual([
      "restore",
      "--s3-endpoint=http://minio:9000",
      "s3://infrahub-backups/infrahub_backup_20261121_020000.tar.gz",
      "--wait-ready=15m",
      `--request-id=${job.metadata.annotations["infrahub-backup/request-hash"]}`,
      "--yes",
    ]);
  });

  it("validation messages reach the user through the parent", () => {
    const res = renderParent(umbrellaBlock(), {
      "infrahub-backup": { enabled: true, restore: { enabled: true, s3: { bucket: "bk" } } },
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain(
      "restore.storage.s3: set either key (the object to restore) or latest: true",
    );
  });

  it("the schema still applies under the parent, and accepts `enabled` and `global`", () => {
    const res = renderParent({ "infrahub-backup": { enabled: true, backup: { shedule: "x" } } });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/additional properties 'shedule' not allowed/);
  });
});

describe("charts/infrahub (umbrella)", () => {
  it("pins the upstream infrahub chart 4.33.0 from OpsMill's registry and this chart with its condition", () => {
    const chart = parse(readFileSync(join(umbrellaDir, "Chart.yaml"), "utf8"));
    expect(chart.dependencies).toEqual([
      { name: "infrahub", version: "4.33.0", repository: "oci://registry.opsmill.io/opsmill/chart" },
      {
        name: "infrahub-backup",
        version: parse(readFileSync(join(umbrellaDir, "../infrahub-backup/Chart.yaml"), "utf8")).version,
        repository: "file://../infrahub-backup",
        condition: "infrahub-backup.enabled",
      },
    ]);
    const values = parse(readFileSync(join(umbrellaDir, "values.yaml"), "utf8"));
    expect(values.infrahub["infrahub-backup"].enabled).toBe(false);
    expect(values["infrahub-backup"]).toMatchObject({
      enabled: false,
      backup: { enabled: false, mode: "cronjob", schedule: "0 2 * * *", storage: { type: "s3" } },
      restore: { enabled: false, s3: { bucket: "", key: "" } },
    });
  });
});
