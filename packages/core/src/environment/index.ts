// The environment seam's public surface: the Environment interface, its detectors (Compose, Kubernetes)
// and the local environment. Everything else in this folder is internal.

export type { Neo4jCredentials } from "../engines/neo4j/credentials.js";
export type { PostgresCredentials } from "../engines/postgres/credentials.js";
export { credentialsFromEnv } from "../engines/postgres/credentials.js";
export type { ExecRequest, ExecResult, Executor } from "../exec/executor.js";
export type { ComposeCliOptions } from "./compose-cli.js";
export type { ComposeSelection } from "./compose-detector.js";
export { ComposeDetector } from "./compose-detector.js";
export type { ComposeEnvironment, ComposeEnvironmentOptions } from "./compose-environment.js";
export type {
  Environment,
  LivenessWindow,
  Neo4jRuntime,
  ReadinessWait,
  RestoreRecord,
  StartedRestore,
  StoppedServices,
} from "./environment.js";
export type { KubeConfig, KubeRequestOptions, KubernetesConnectionOptions } from "./kubernetes-config.js";
export type { KubernetesDetectorOptions, KubernetesSelection } from "./kubernetes-detector.js";
export { KubernetesDetector } from "./kubernetes-detector.js";
export type { PodChoice } from "./kubernetes-discovery.js";
export type { KubernetesEnvironment, KubernetesEnvironmentOptions } from "./kubernetes-environment.js";
export type { ScaleTimeouts } from "./kubernetes-workloads.js";
export type {
  LocalEnvironmentOptions,
  LocalServiceConfig,
  LocalServiceControl,
} from "./local-environment.js";
export { LocalEnvironment } from "./local-environment.js";
export type { LockHolder, LockRequest, OperationLock } from "./operation-lock.js";
export type { ServiceName } from "./services.js";
export { SERVICE_NAMES } from "./services.js";
