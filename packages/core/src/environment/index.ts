export type { ComposeCliOptions, ComposeContainer } from "./compose-cli.js";
export { ComposeCli } from "./compose-cli.js";
export type { ComposeSelection } from "./compose-detector.js";
export { ComposeDetector } from "./compose-detector.js";
export type { ComposeEnvironmentOptions } from "./compose-environment.js";
export { COMPOSE_NEO4J_HOME, ComposeEnvironment } from "./compose-environment.js";
export type {
  Environment,
  Neo4jRuntime,
  ReadinessWait,
  RestoreRecord,
  StoppedServices,
} from "./environment.js";
export type { KubernetesConnectionOptions } from "./kubernetes-config.js";
export { inCluster, loadKubeConfig, SERVICE_ACCOUNT_DIR } from "./kubernetes-config.js";
export type { KubernetesDetectorOptions, KubernetesSelection } from "./kubernetes-detector.js";
export { INFRAHUB_POD_SELECTOR, KubernetesDetector } from "./kubernetes-detector.js";
export type { PodChoice } from "./kubernetes-discovery.js";
export { choosePod, SERVICE_CONTAINERS, serviceSelectors } from "./kubernetes-discovery.js";
export type { KubernetesEnvironmentOptions } from "./kubernetes-environment.js";
export { KUBERNETES_NEO4J_HOME, KubernetesEnvironment } from "./kubernetes-environment.js";
export { RESTORE_RECORD_NAME } from "./kubernetes-restore-record.js";
export { FIELD_MANAGER, replicasOwner } from "./kubernetes-scale-watch.js";
export type { ScaledWorkload, ScaleTimeouts, WorkloadKind } from "./kubernetes-workloads.js";
export type {
  LocalEnvironmentOptions,
  LocalServiceConfig,
  LocalServiceControl,
} from "./local-environment.js";
export { LocalEnvironment } from "./local-environment.js";
export type { ServiceName } from "./services.js";
export { APP_START_ORDER, APP_STOP_ORDER, SERVICE_NAMES } from "./services.js";
