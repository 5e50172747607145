// The chart's Job pods on the local cluster, run as the product image would run them: testkit's job pod runner
// (a TEST DOUBLE of the kubelet) with the CLI bundle as the image's entrypoint.
import {
  type ImageStandIn,
  type JobPodRunner,
  type LocalCluster,
  startJobPodRunner,
} from "@infrahub-backup/testkit";
// .js, not .ts: the e2e acceptance driver imports this file too (its tsconfig takes no .ts imports).
import { bin as cliBundle } from "../../packages/cli/test/cli-process.js";

/** Needs buildCli() first. `images`: other images a pod runs beside the CLI (the drill's databases). */
export function startCliPodRunner(
  cluster: LocalCluster,
  images?: Record<string, ImageStandIn>,
): Promise<JobPodRunner> {
  return startJobPodRunner({
    server: cluster.server,
    caFile: cluster.caFile,
    adminToken: cluster.adminToken,
    nodeName: cluster.nodeName,
    entrypoint: [process.execPath, cliBundle],
    // As packages/image/Dockerfile: WORKDIR /infrahub_backups, HOME /home/infrahub.
    workingDir: "/infrahub_backups",
    imageEnv: { HOME: "/home/infrahub", NODE_ENV: "production" },
    // The image carries the freeze helper next to the bundle; here it is in the toolchain cache.
    hostEnv: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      ...(process.env.IHB_CACHE ? { IHB_CACHE: process.env.IHB_CACHE } : {}),
    },
    ...(images ? { images } : {}),
  });
}
