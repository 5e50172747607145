import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { chartDir, helm } from "./helm.ts";

/** NOTES.txt as `helm install --dry-run=client` prints it (Helm 4 needs no cluster for that). */
function notes(values: unknown, release = "ihb"): { status: number; text: string } {
  const res = helm(["install", release, chartDir, "--dry-run=client", "-n", "infrahub", "-f", "-"], {
    input: stringify(values),
  });
  const out = `${res.stdout}\n${res.stderr}`;
  return { status: res.status, text: res.status === 0 ? out.slice(out.indexOf("NOTES:")) : out };
}

describe("NOTES.txt", () => {
  it("scheduled backup: the CronJob, how to run one now, where archives go, helm test", () => {
    const { status, text } = notes({
      backup: {
        enabled: true,
        mode: "cronjob",
        timeZone: "Europe/Paris",
        storage: { s3: { bucket: "bk", prefix: "prod/" } },
      },
    });
    expect(status).toBe(0);
    expect(text).toContain('Scheduled backup: CronJob ihb-infrahub-backup at "0 2 * * *" (Europe/Paris).');
    expect(text).toContain(
      "kubectl -n infrahub create job --from=cronjob/ihb-infrahub-backup ihb-infrahub-backup-manual",
    );
    expect(text).toContain("Archives go to s3://bk/prod/");
    expect(text).toContain("helm test ihb -n infrahub");
  });

  it("one-shot restore: the Job to follow and how to finish or repeat it", () => {
    const { status, text } = notes({ restore: { enabled: true, s3: { bucket: "bk", key: "k.tar.gz" } } });
    expect(status).toBe(0);
    expect(text).toMatch(/One-shot RESTORE: Job ihb-infrahub-backup-restore-[0-9a-f]{10}\./);
    expect(text).toMatch(/kubectl -n infrahub logs -f job\/ihb-infrahub-backup-restore-[0-9a-f]{10}/);
    expect(text).toContain(
      "When it has succeeded, set restore.enabled=false. To run the same restore again, change restore.requestId.",
    );
  });

  it("local emptyDir backup: the kubectl cp during the sleep", () => {
    const { text } = notes({ backup: { enabled: true, storage: { type: "local" } } });
    expect(text).toContain("Archives go to an emptyDir: copy one out during the 3m sleep");
    expect(text).toContain("kubectl -n infrahub cp <pod>:/infrahub_backups/<file> ./<file>");
  });

  it("restore on install: the hook Job, where it reads, and how to see what it did", () => {
    const { status, text } = notes({
      backup: { enabled: true, mode: "cronjob", storage: { s3: { bucket: "bk", prefix: "prod/" } } },
      restoreOnInstall: { enabled: true },
    });
    expect(status).toBe(0);
    expect(text).toContain(
      "Restore on install: Job ihb-infrahub-backup-restore-on-install (Helm hook post-install, never on upgrade) restores the newest archive in s3://bk/prod/ only if the deployment holds nothing beyond a fresh Infrahub.",
    );
    expect(text).toContain("kubectl -n infrahub logs job/ihb-infrahub-backup-restore-on-install");
  });

  it("nothing enabled: says what to set", () => {
    expect(notes({}).text).toContain("Nothing scheduled: set backup.enabled=true (or restore.enabled=true)");
  });

  it("fails with the readable list of removed/renamed values", () => {
    const { status, text } = notes({ restore: { timezone: "UTC", options: { latest: true } } });
    expect(status).not.toBe(0);
    expect(text).toContain("restore.timezone: renamed to restore.timeZone");
    expect(text).toContain("restore.options.latest: moved to restore.storage.s3.latest");
  });
});
