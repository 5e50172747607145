export type { RealComposeProject } from "./compose/real-compose-project.js";
export { COMPOSE_FILE, startRealComposeProject } from "./compose/real-compose-project.js";
export type {
  DockerShim,
  DockerShimOptions,
  ShimContainer,
  ShimInvocation,
  ShimService,
  ShimServiceControl,
  ShimSpawnSpec,
} from "./docker-shim/docker-shim.js";
export { startDockerShim } from "./docker-shim/docker-shim.js";
export type { InfrahubComposeProject } from "./docker-shim/infrahub-project.js";
export { createInfrahubComposeProject } from "./docker-shim/infrahub-project.js";
export type { FaultMode, FaultProxy } from "./fault-proxy.js";
export { startFaultProxy } from "./fault-proxy.js";
export type { GraphQueries, InfrahubDataDigest, SqlQueries } from "./infrahub-data.js";
export { digestInfrahubData, seedBulkData, seedFreshInfrahub, seedInfrahubData } from "./infrahub-data.js";
export type { InfrahubLocalStack, StandInControl } from "./infrahub-stack.js";
export { AppServiceStandIn, startInfrahubLocalStack } from "./infrahub-stack.js";
export type {
  ContainerRun,
  ImageStandIn,
  JobPodRunner,
  JobPodRunnerOptions,
} from "./job-pod-runner/job-pod-runner.js";
export {
  imageRepository,
  isJobOrTestPod,
  RUNNER_USER_AGENT,
  startJobPodRunner,
} from "./job-pod-runner/job-pod-runner.js";
export type { KubeCredentials, KubeObject } from "./job-pod-runner/kube-client.js";
export { KubeApiError, KubeClient } from "./job-pod-runner/kube-client.js";
export type { Mount } from "./job-pod-runner/pod-volumes.js";
export { MountTable } from "./job-pod-runner/pod-volumes.js";
export type { SandboxBinding } from "./kube/exec-bindings.js";
export type { InfrahubFixture, InfrahubFixtureOptions, InfrahubRole } from "./kube/infrahub-fixture.js";
export { backupRbacObjects, deployInfrahubFixture } from "./kube/infrahub-fixture.js";
export type {
  KubectlOptions,
  KubectlResult,
  LocalCluster,
  LocalClusterOptions,
} from "./kube/local-cluster.js";
export { startLocalCluster } from "./kube/local-cluster.js";
export type { MinioOptions, MinioPolicy, MinioServer, S3Credentials } from "./minio.js";
export { startMinio } from "./minio.js";
export type { Neo4jOptions, Neo4jServer } from "./neo4j.js";
export { startNeo4j } from "./neo4j.js";
export { isListening } from "./net.js";
export type { OsUser } from "./os-user.js";
export { findOsUser, serviceUser } from "./os-user.js";
export { freePort } from "./ports.js";
export type { PostgresCluster, PostgresOptions, PostgresRole } from "./postgres.js";
export { startPostgres } from "./postgres.js";
export type { ProcessInfo } from "./proc.js";
export { findProcesses, freezeOwnedProcesses } from "./proc.js";
export type { ExitStatus, StartOptions } from "./process.js";
export { ManagedProcess, TESTKIT_MARKER, waitUntil } from "./process.js";
export type { PrometheusSample, PushgatewayOptions, PushgatewayServer } from "./pushgateway.js";
export { parseExposition, startPushgateway } from "./pushgateway.js";
export type { RunResult } from "./run.js";
export { run } from "./run.js";
export type {
  ContainerSandbox,
  ContainerSandboxOptions,
  HostIdentity,
  SandboxExecResult,
  SandboxSpawnOptions,
  SandboxSpawnSpec,
  SandboxUser,
} from "./sandbox/container-sandbox.js";
export { createContainerSandbox } from "./sandbox/container-sandbox.js";
export type {
  Neo4jSandboxOptions,
  PostgresSandboxOptions,
  SandboxFlavour,
} from "./sandbox/service-sandboxes.js";
export { createNeo4jSandbox, createPostgresSandbox } from "./sandbox/service-sandboxes.js";
export type { Restartable, Supervisor } from "./supervisor.js";
export { supervise } from "./supervisor.js";
export type { TempDir } from "./temp.js";
export { tempDir } from "./temp.js";
export { freezeHelperPath, postgresBin, repoRoot, toolDir, toolsDir, toolVersions } from "./toolchain.js";
