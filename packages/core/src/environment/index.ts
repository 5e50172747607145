export type { Environment, Neo4jRuntime, StoppedServices } from "./environment.js";
export type {
  LocalEnvironmentOptions,
  LocalServiceConfig,
  LocalServiceControl,
} from "./local-environment.js";
export { LocalEnvironment } from "./local-environment.js";
export type { ServiceName } from "./services.js";
export { APP_START_ORDER, APP_STOP_ORDER, SERVICE_NAMES } from "./services.js";
