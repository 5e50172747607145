export type { ComposeCliOptions, ComposeContainer } from "./compose-cli.js";
export { ComposeCli } from "./compose-cli.js";
export type { ComposeSelection } from "./compose-detector.js";
export { ComposeDetector } from "./compose-detector.js";
export type { ComposeEnvironmentOptions } from "./compose-environment.js";
export { COMPOSE_NEO4J_PID_FILE, ComposeEnvironment } from "./compose-environment.js";
export type { Environment, Neo4jRuntime, StoppedServices } from "./environment.js";
export type {
  LocalEnvironmentOptions,
  LocalServiceConfig,
  LocalServiceControl,
} from "./local-environment.js";
export { LocalEnvironment } from "./local-environment.js";
export type { ServiceName } from "./services.js";
export { APP_START_ORDER, APP_STOP_ORDER, SERVICE_NAMES } from "./services.js";
