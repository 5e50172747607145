import type { V1Pod } from "@kubernetes/client-node";
import { BackupError } from "../errors.js";
import type { ServiceName } from "./services.js";

/** The container of each service in the official chart (compat-reference §6.3); always passed explicitly. */
export const SERVICE_CONTAINERS: Readonly<Record<ServiceName, string>> = {
  database: "neo4j",
  "task-manager-db": "postgresql",
  "infrahub-server": "infrahub-server",
  "task-worker": "infrahub-task-worker",
  "task-manager": "prefect-server",
  "task-manager-background-svc": "prefect-background-services",
  cache: "redis",
  "message-queue": "rabbitmq",
};

/** The chart's `infrahub/service` value per service: the server's is `server`, not `infrahub-server`. */
const ROLE_LABEL: Readonly<Record<ServiceName, string>> = {
  database: "database",
  "task-manager-db": "task-manager-db",
  "infrahub-server": "server",
  "task-worker": "task-worker",
  "task-manager": "task-manager",
  "task-manager-background-svc": "task-manager-background-svc",
  cache: "cache",
  "message-queue": "message-queue",
};

/** The Infrahub templates' literal `service` label, where it differs from the service name. */
const SERVICE_LABEL: Partial<Record<ServiceName, string>> = {
  "infrahub-server": "infrahub-server",
  "task-worker": "infrahub-task-worker",
};

/** Services whose replicas hold different data: several candidates need a declared primary. */
const STATEFUL: ReadonlySet<ServiceName> = new Set(["database", "task-manager-db"]);

export type LabelSelector = Readonly<Record<string, string>>;

/**
 * Label selectors for a service, best first: the chart's `infrahub/service=<role>`, then upstream's
 * fallbacks in upstream's order (compat-reference §6.4), then the Infrahub templates' `service` label.
 */
export function serviceSelectors(service: ServiceName): LabelSelector[] {
  const selectors: LabelSelector[] = [
    { "infrahub/service": ROLE_LABEL[service] },
    { "app.kubernetes.io/component": service },
    { app: service },
    { component: service },
    { "infrahub/service": service },
  ];
  const serviceLabel = SERVICE_LABEL[service];
  if (serviceLabel) selectors.push({ service: serviceLabel });
  const seen = new Set<string>();
  return selectors.filter((s) => {
    const key = JSON.stringify(s);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function matchesSelector(
  labels: Readonly<Record<string, string>> | undefined,
  selector: LabelSelector,
) {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

export function formatSelector(selector: LabelSelector): string {
  return Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** The pods a service's selectors find: the first selector with any match wins; a name match is last. */
export function candidatePods(pods: readonly V1Pod[], service: ServiceName): { pods: V1Pod[]; how: string } {
  for (const selector of serviceSelectors(service)) {
    const found = pods.filter((pod) => matchesSelector(pod.metadata?.labels, selector));
    if (found.length > 0) return { pods: found, how: `label ${formatSelector(selector)}` };
  }
  const byName = pods.filter((pod) => pod.metadata?.name?.includes(service));
  return { pods: byName, how: `name containing "${service}"` };
}

/** Running, Ready and not being deleted. */
export function isReady(pod: V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  if (pod.status?.phase !== "Running") return false;
  return pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

function ownerOf(pod: V1Pod): string | undefined {
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
  return owner ? `${owner.kind}/${owner.name}` : undefined;
}

function podName(pod: V1Pod): string {
  return pod.metadata?.name ?? "?";
}

/** The pod and container a service's commands run in. */
export interface PodChoice {
  /** Pod name. */
  pod: string;
  /** Container name in the pod. */
  container: string;
  /** How it was found, for messages. */
  how: string;
}

/**
 * Chooses the pod and container for a service among the namespace's pods. Only Running and Ready pods
 * qualify. Several candidates: CloudNativePG's `cnpg.io/instanceRole=primary`, then `role=primary`;
 * otherwise replicas of one controller are interchangeable (a worker Deployment's pods) unless the
 * service holds data, and anything else is an error naming the candidates — never "the first one".
 */
export function choosePod(pods: readonly V1Pod[], service: ServiceName, namespace: string): PodChoice {
  const { pods: found, how } = candidatePods(pods, service);
  if (found.length === 0) {
    throw new BackupError("SERVICE_NOT_FOUND", `no pod for ${service} in namespace ${namespace}`, {
      hint: `the pod should carry the label infrahub/service=${ROLE_LABEL[service]} (the infrahub chart sets it)`,
      details: { service, namespace },
    });
  }
  const ready = found.filter(isReady).sort((a, b) => podName(a).localeCompare(podName(b)));
  if (ready.length === 0) {
    const states = found.map((pod) => `${podName(pod)} (${describeState(pod)})`).join(", ");
    throw new BackupError(
      "SERVICE_NOT_FOUND",
      `${service} in namespace ${namespace} has no Running and Ready pod: ${states}`,
      { hint: `wait until it is ready: kubectl -n ${namespace} get pods`, details: { service, namespace } },
    );
  }
  let chosen: V1Pod | undefined;
  if (ready.length === 1) chosen = ready[0];
  else {
    chosen =
      ready.find((pod) => pod.metadata?.labels?.["cnpg.io/instanceRole"] === "primary") ??
      ready.find((pod) => pod.metadata?.labels?.role === "primary");
    const owners = new Set(ready.map(ownerOf));
    if (!chosen && !STATEFUL.has(service) && owners.size === 1 && !owners.has(undefined)) chosen = ready[0];
    if (!chosen) {
      const names = ready.map(podName).join(", ");
      throw new BackupError(
        "ENVIRONMENT_AMBIGUOUS",
        `${service} in namespace ${namespace} has several Ready pods and none is marked primary: ${names}`,
        {
          hint: "label the primary cnpg.io/instanceRole=primary (CloudNativePG does) or role=primary, or remove the extra pods",
          details: { service, namespace, pods: ready.map(podName) },
        },
      );
    }
  }
  const pod = chosen as V1Pod;
  return { pod: podName(pod), container: chooseContainer(pod, service), how };
}

function describeState(pod: V1Pod): string {
  if (pod.metadata?.deletionTimestamp) return "terminating";
  const phase = pod.status?.phase ?? "Unknown";
  return phase === "Running" ? "Running, not Ready" : phase;
}

/** The chart's container name; else the pod's declared default container; else its only container. */
function chooseContainer(pod: V1Pod, service: ServiceName): string {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  const expected = SERVICE_CONTAINERS[service];
  if (names.includes(expected)) return expected;
  const declared = pod.metadata?.annotations?.["kubectl.kubernetes.io/default-container"];
  if (declared && names.includes(declared)) return declared;
  if (names.length === 1) return names[0] as string;
  throw new BackupError(
    "SERVICE_NOT_FOUND",
    `pod ${podName(pod)} (${service}) has no container named ${expected}; it has ${names.join(", ")}`,
    {
      hint: "set the annotation kubectl.kubernetes.io/default-container on the pod to the service's container",
    },
  );
}
