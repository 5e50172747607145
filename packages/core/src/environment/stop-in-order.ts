import { BackupError } from "../errors.js";
import type { ServiceName } from "./services.js";

/**
 * Stops services one at a time, in the given order. When one cannot be stopped, the ones this call
 * stopped are started again before the error is thrown — a half-stopped deployment is never left behind —
 * and the error says truthfully whether that worked.
 */
export async function stopInOrderOrUndo(
  services: readonly ServiceName[],
  stopOne: (service: ServiceName) => Promise<void>,
  startAgain: (stopped: ServiceName[]) => Promise<void>,
  where: string,
): Promise<ServiceName[]> {
  const stopped: ServiceName[] = [];
  for (const service of services) {
    try {
      await stopOne(service);
    } catch (error) {
      const undone = await startAgain(stopped).then(
        () => (stopped.length > 0 ? `; ${stopped.join(", ")} started again` : ""),
        (e: unknown) => `; starting ${stopped.join(", ")} again failed too: ${(e as Error).message}`,
      );
      throw new BackupError(
        "SERVICES_NOT_RESTORED",
        `could not stop ${service} in ${where}: ${(error as Error).message}${undone}`,
        { cause: error },
      );
    }
    stopped.push(service);
  }
  return stopped;
}
