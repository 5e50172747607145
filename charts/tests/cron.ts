import type { LocalCluster } from "@infrahub-backup/testkit";

/**
 * Has the CronJob controller start a release's scheduled run now instead of at the next minute boundary
 * (0–60 s of waiting per test): each of the release's CronJobs gets a status saying its last run was
 * scheduled the minute before this one, so this minute's schedule time counts as missed and the controller
 * starts it at once, by its own catch-up path (no startingDeadlineSeconds in the chart). The run is still
 * created by the controller from the CronJob's jobTemplate, as any scheduled run; later runs keep the
 * schedule. Needs a schedule that fires every minute.
 */
export async function runMissedSchedule(
  cluster: LocalCluster,
  namespace: string,
  release: string,
): Promise<void> {
  const names = (
    await cluster.kubectl([
      "-n",
      namespace,
      "get",
      "cronjobs",
      "-l",
      `app.kubernetes.io/instance=${release}`,
      "-o",
      "jsonpath={.items[*].metadata.name}",
    ])
  ).stdout
    .split(/\s+/)
    .filter(Boolean);
  if (names.length === 0) throw new Error(`release ${release} has no CronJob in ${namespace}`);
  const minute = 60_000;
  const previousMinute = new Date(Math.floor(Date.now() / minute) * minute - minute);
  const status = { status: { lastScheduleTime: previousMinute.toISOString().replace(/\.\d+Z$/, "Z") } };
  for (const name of names) {
    await cluster.kubectl([
      "-n",
      namespace,
      "patch",
      "cronjob",
      name,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify(status),
    ]);
  }
}
