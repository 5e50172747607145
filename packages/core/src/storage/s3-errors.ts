import { BackupError, type ErrorCode } from "../errors.js";
import { timeoutKind } from "./s3-deadlines.js";
import { formatS3Uri } from "./s3-location.js";

/** What we were doing when S3 failed; used to name the action and object in the message. */
export interface S3ErrorContext {
  /** The S3 API operation, e.g. "UploadPart". */
  operation: string;
  bucket: string;
  key?: string | undefined;
  endpoint?: string | undefined;
  /** What the request was for, as a gerund phrase: "uploading part 3 of s3://b/k". Default: operation on key. */
  phase?: string | undefined;
}

const TIMEOUT_HINT =
  "check the endpoint, proxies and network policies; the limits are --s3-connect-timeout, --s3-request-timeout, --s3-idle-timeout and --s3-max-attempts";

/** "S3 at http://minio:9000", or the AWS endpoint chosen by region when none was given. */
function endpointName(ctx: S3ErrorContext): string {
  return ctx.endpoint ? `S3 at ${ctx.endpoint}` : "AWS S3";
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? "the configured time" : `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * The error for an S3 endpoint that stopped answering: names the endpoint, what we were doing, and which
 * deadline ran out. `silentForMs` is set when the stall limit of a read ran out (no byte for that long).
 */
export function s3StallError(
  ctx: S3ErrorContext,
  options: { cause?: unknown; silentForMs?: number; attempts?: number | undefined },
): BackupError {
  const timeout = timeoutKind(options.cause);
  const why =
    options.silentForMs !== undefined
      ? `no data for ${seconds(options.silentForMs)}`
      : timeout?.kind === "connect"
        ? `no connection within ${seconds(timeout.ms)}`
        : timeout?.kind === "first-byte"
          ? `no answer within ${seconds(timeout.ms)}`
          : timeout?.kind === "idle"
            ? `the connection was silent for ${seconds(timeout.ms)}`
            : "the request timed out";
  const attempts =
    options.attempts === undefined
      ? ""
      : ` (${options.attempts} attempt${options.attempts === 1 ? "" : "s"})`;
  return new BackupError(
    "STORAGE_UNREACHABLE",
    `${endpointName(ctx)} stopped answering ${during(ctx)}: ${why}${attempts}`,
    {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      hint: TIMEOUT_HINT,
      details: {
        operation: ctx.operation,
        phase: ctx.phase,
        bucket: ctx.bucket,
        key: ctx.key,
        endpoint: ctx.endpoint,
        timeout: options.silentForMs !== undefined ? "stall-limit" : (timeout?.kind ?? "unknown"),
      },
    },
  );
}

/** "while uploading part 3 of s3://b/k (UploadPart)", or "during UploadPart on s3://b/k" without a phase. */
function during(ctx: S3ErrorContext): string {
  if (ctx.phase) return `while ${ctx.phase} (${ctx.operation})`;
  return `during ${ctx.operation} on ${ctx.key === undefined ? `bucket "${ctx.bucket}"` : formatS3Uri(ctx.bucket, ctx.key)}`;
}

/** The IAM action an S3 operation needs, for "access denied" messages. */
export function iamAction(operation: string): string {
  switch (operation) {
    case "PutObject":
    case "CreateMultipartUpload":
    case "UploadPart":
    case "CompleteMultipartUpload":
      return "s3:PutObject";
    case "GetObject":
    case "HeadObject":
      return "s3:GetObject";
    case "ListObjectsV2":
    case "HeadBucket":
      return "s3:ListBucket";
    case "DeleteObject":
      return "s3:DeleteObject";
    case "AbortMultipartUpload":
      return "s3:AbortMultipartUpload";
    case "ListMultipartUploads":
      return "s3:ListBucketMultipartUploads";
    case "ListParts":
      return "s3:ListMultipartUploadParts";
    default:
      return `s3:${operation}`;
  }
}

interface SdkLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $retryable?: unknown;
  cause?: unknown;
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "EPROTO",
]);

/** Network codes of a connection that was made, then cut (by the store, a proxy, a firewall). */
const CUT_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET"]);

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
]);

const THROTTLE_NAMES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "ServiceUnavailable",
  "XMinioServerNotInitialized",
]);

/** The error's S3 code / Node code / name, looking through `cause` chains. */
function codesOf(error: unknown): string[] {
  const out: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    const e = current as SdkLikeError;
    for (const c of [e.Code, e.code, e.name]) if (typeof c === "string" && c !== "") out.push(c);
    current = e.cause;
  }
  return out;
}

/** True for errors that a retry may fix (network, throttling, 5xx); never for 4xx answers. */
export function isTransientS3Error(error: unknown): boolean {
  const codes = codesOf(error);
  if (codes.some((c) => NETWORK_CODES.has(c) || THROTTLE_NAMES.has(c))) return true;
  if (codes.includes("TimeoutError") || codes.includes("RequestTimeout")) return true;
  const status = (error as SdkLikeError | undefined)?.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

/** Maps an SDK/network error to a BackupError with a stable code and an actionable message. */
export function mapS3Error(error: unknown, ctx: S3ErrorContext): BackupError {
  if (error instanceof BackupError) return error;
  const codes = codesOf(error);
  const has = (...names: string[]) => names.some((n) => codes.includes(n));
  const status = (error as SdkLikeError | undefined)?.$metadata?.httpStatusCode;
  const where = ctx.key === undefined ? `bucket "${ctx.bucket}"` : formatS3Uri(ctx.bucket, ctx.key);
  const detail = (error as SdkLikeError | undefined)?.message ?? String(error);
  const details = {
    operation: ctx.operation,
    ...(ctx.phase ? { phase: ctx.phase } : {}),
    bucket: ctx.bucket,
    key: ctx.key,
    endpoint: ctx.endpoint,
    s3Code: codes[0],
  };
  const make = (code: ErrorCode, message: string, hint?: string) =>
    new BackupError(code, message, { cause: error, details, ...(hint === undefined ? {} : { hint }) });

  if (has("AbortError") || (error as { name?: string } | undefined)?.name === "AbortError") {
    return make("CANCELLED", `${ctx.operation} on ${where} was cancelled`);
  }
  if (has("CredentialsProviderError")) {
    return make(
      "STORAGE_CREDENTIALS",
      `no S3 credentials found for ${where}: ${detail}`,
      "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a web identity (IRSA / pod identity)",
    );
  }
  if (
    has(
      "InvalidAccessKeyId",
      "SignatureDoesNotMatch",
      "InvalidToken",
      "ExpiredToken",
      "TokenRefreshRequired",
      "InvalidSecurity",
    )
  ) {
    return make(
      "STORAGE_CREDENTIALS",
      `S3 rejected the credentials (${codes[0]}) for ${ctx.operation} on ${where}`,
      "check the access key id and secret key (and session token), and that the region matches the bucket",
    );
  }
  if (has("NoSuchBucket")) {
    return make(
      "STORAGE_NO_BUCKET",
      `S3 bucket "${ctx.bucket}" does not exist${ctx.endpoint ? ` at ${ctx.endpoint}` : ""}`,
      "create the bucket or fix the bucket name / endpoint",
    );
  }
  if (
    has("NoSuchKey", "NoSuchVersion") ||
    ((ctx.operation === "HeadObject" || ctx.operation === "GetObject") && (status === 404 || has("NotFound")))
  ) {
    return make(
      "ARTIFACT_NOT_FOUND",
      `backup artifact not found: ${where}`,
      "list the available backups with `infrahub-backup list`",
    );
  }
  if (has("NoSuchUpload")) {
    return make(
      "STORAGE_FAILED",
      `the multipart upload of ${where} no longer exists (aborted or expired)`,
      "run the backup again; check bucket lifecycle rules that abort incomplete uploads",
    );
  }
  if (has("AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem") || status === 403) {
    return make(
      "STORAGE_ACCESS_DENIED",
      `access denied: ${iamAction(ctx.operation)} on ${where} (${ctx.operation})`,
      `grant ${iamAction(ctx.operation)} on bucket "${ctx.bucket}" to these credentials (or fix the bucket policy / KMS key policy)`,
    );
  }
  if (has("EntityTooLarge")) {
    return make(
      "STORAGE_TOO_LARGE",
      `S3 refused ${where}: object or part too large (${ctx.operation})`,
      "lower the part size or the object size; check the store's limits",
    );
  }
  if (
    has("XMinioAdminBucketQuotaExceeded", "QuotaExceeded", "XMinioBucketQuotaExceeded") ||
    /quota/i.test(detail)
  ) {
    return make(
      "STORAGE_QUOTA",
      `S3 bucket "${ctx.bucket}" is over its quota (${ctx.operation} on ${where})`,
      "free space in the bucket (prune old backups) or raise the quota",
    );
  }
  if (has("XMinioStorageFull") || /storage full|insufficient storage/i.test(detail)) {
    return make(
      "STORAGE_NO_SPACE",
      `the S3 store is out of space (${ctx.operation} on ${where})`,
      "free space on the store",
    );
  }
  if (codes.some((c) => THROTTLE_NAMES.has(c)) || status === 503 || status === 429) {
    return make(
      "STORAGE_THROTTLED",
      `S3 kept throttling ${ctx.operation} on ${where} after retries`,
      "run the backup later or raise the store's request limits",
    );
  }
  if (has("PreconditionFailed") || status === 412) {
    return make(
      "STORAGE_CHANGED",
      `${where} changed while it was being used (${ctx.operation})`,
      "another writer replaced or removed the object; retry",
    );
  }
  // The SDK's HTTP handler names a reset or broken connection (ECONNRESET, EPIPE) "TimeoutError" too, to
  // retry it alike: reported as what it is (a store, proxy or firewall that cut the connection), not as
  // silence.
  const connectionFailed = codes.some((c) => NETWORK_CODES.has(c) && c !== "ETIMEDOUT");
  if (timeoutKind(error) !== undefined || (has("TimeoutError") && !connectionFailed)) {
    return s3StallError(ctx, {
      cause: error,
      attempts: (error as SdkLikeError | undefined)?.$metadata?.attempts,
    });
  }
  if (codes.some((c) => TLS_CODES.has(c)) || /certificate|self[- ]signed|TLS|SSL/i.test(detail)) {
    return make(
      "STORAGE_TLS",
      `TLS failure talking to ${ctx.endpoint ?? "S3"}: ${detail}`,
      "give the endpoint's CA with --s3-ca-bundle (or disable verification explicitly with --s3-insecure-tls)",
    );
  }
  if (codes.some((c) => NETWORK_CODES.has(c)) || has("RequestTimeout")) {
    const code = codes.find((c) => NETWORK_CODES.has(c)) ?? codes[0];
    return make(
      "STORAGE_UNREACHABLE",
      code !== undefined && CUT_CODES.has(code)
        ? `the connection to ${endpointName(ctx)} was cut (${code}) ${during(ctx)}`
        : `cannot reach ${endpointName(ctx)} (${code}) ${during(ctx)}`,
      (ctx.operation === "UploadPart" || ctx.operation === "PutObject") && has("ECONNRESET", "EPIPE")
        ? "check the endpoint URL, proxies and network policies; a store that refuses an upload early (quota, permissions) also resets the connection"
        : "check the endpoint URL, DNS, proxies and network policies",
    );
  }
  if (
    has(
      "PermanentRedirect",
      "AuthorizationHeaderMalformed",
      "IllegalLocationConstraintException",
      "BucketRegionError",
    ) ||
    status === 301
  ) {
    return make(
      "STORAGE_FAILED",
      `bucket "${ctx.bucket}" is in another region (${ctx.operation})`,
      "set the bucket's region with --s3-region",
    );
  }
  return make(
    "STORAGE_FAILED",
    `S3 ${ctx.operation} on ${where} failed: ${codes[0] ?? "error"}${status ? ` (HTTP ${status})` : ""}: ${detail}`,
  );
}
