import type { AcceptanceDriver, HelmOutcome, Values, Workload } from "./driver.js";
import type { HelmCli } from "./helm-cli.js";
import type { KubeReader } from "./kube-reader.js";

type ReleaseAndReads = Pick<
  AcceptanceDriver,
  | "install"
  | "upgrade"
  | "uninstall"
  | "jobs"
  | "waitForJob"
  | "waitForJobEnd"
  | "logs"
  | "events"
  | "workloads"
  | "waitForInfrahubReady"
>;

/**
 * The part every driver does the same way: releases through the Helm CLI, results read through the API
 * server. Drivers differ only in how they arrange the world around Infrahub.
 */
export abstract class HelmReleaseReader implements ReleaseAndReads {
  constructor(
    readonly helm: HelmCli,
    readonly reader: KubeReader,
  ) {}

  install(release: string, values: Values): Promise<HelmOutcome> {
    return this.helm.install(release, values);
  }
  upgrade(release: string, values: Values): Promise<HelmOutcome> {
    return this.helm.upgrade(release, values);
  }
  uninstall(release: string): Promise<HelmOutcome> {
    return this.helm.uninstall(release);
  }
  jobs(release: string) {
    return this.reader.jobs(release);
  }
  waitForJob(release: string, timeoutMs: number) {
    return this.reader.waitForJob(release, timeoutMs);
  }
  waitForJobEnd(job: string, timeoutMs: number) {
    return this.reader.waitForJobEnd(job, timeoutMs);
  }
  logs(job: string) {
    return this.reader.logs(job);
  }
  events(objectName: string) {
    return this.reader.events(objectName);
  }
  workloads(): Promise<Workload[]> {
    return this.reader.workloads();
  }
  waitForInfrahubReady(timeoutMs: number) {
    return this.reader.waitForReady(timeoutMs);
  }
}
