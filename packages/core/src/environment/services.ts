/** The logical services of an Infrahub deployment (Compose service names, Kubernetes lookup keys). */
export const SERVICE_NAMES = [
  "database",
  "task-manager-db",
  "infrahub-server",
  "task-worker",
  "task-manager",
  "task-manager-background-svc",
  "cache",
  "message-queue",
] as const;

/** One of Infrahub's services the tool knows (SERVICE_NAMES). */
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Upstream's stop order for the application services (databases are never stopped this way). */
export const APP_STOP_ORDER: readonly ServiceName[] = [
  "infrahub-server",
  "task-worker",
  "task-manager",
  "task-manager-background-svc",
  "cache",
  "message-queue",
];

/** Upstream's start order: dependencies first, the API server and workers last. */
export const APP_START_ORDER: readonly ServiceName[] = [
  "cache",
  "message-queue",
  "task-manager",
  "task-manager-background-svc",
  "infrahub-server",
  "task-worker",
];

/** A service's place in APP_START_ORDER (services not in it, or unknown, last). */
export function startRank(service: ServiceName | undefined): number {
  const i = service ? APP_START_ORDER.indexOf(service) : -1;
  return i === -1 ? APP_START_ORDER.length : i;
}
