import { BackupError } from "../errors.js";

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** S3's limits; stores differ only in `maxParts` (e.g. Scaleway: 1,000). */
export const S3_MIN_PART_SIZE = 5 * MiB;
/** S3's largest part (5 GiB). */
export const S3_MAX_PART_SIZE = 5 * GiB;
/** S3's most parts in one upload (10,000); some stores allow fewer (`maxParts`). */
export const S3_MAX_PARTS = 10_000;

export interface PartPlanOptions {
  /** Expected object size in bytes; the part size grows from it so the object fits `maxParts`. */
  sizeHint?: number | undefined;
  /** The store's part-count limit. Default 10,000 (AWS, MinIO); some stores allow only 1,000. */
  maxParts?: number | undefined;
  /** Fixed base part size (bytes, ≥ 5 MiB); overrides the size computed from the hint. */
  partSize?: number | undefined;
  /**
   * Base part size when there is no hint and no `partSize`. Default 5 MiB, S3's minimum: every part in
   * memory costs its size, and 9,000 parts of 5 MiB already hold 44 GiB before the sizes grow.
   */
  defaultPartSize?: number | undefined;
  /** Largest part the store accepts. Default 5 GiB. */
  maxPartSize?: number | undefined;
}

/**
 * Part sizes of one multipart upload. Parts 1…`growthStart` have `basePartSize`; with a correct hint the
 * object ends there (the hint is planned into 90% of the part budget). The last 10% of parts double in
 * size every `growthStep` parts, so an object larger than its hint (or one without a hint) still fits,
 * and memory only grows when the estimate was wrong.
 */
export interface PartPlan {
  basePartSize: number;
  maxParts: number;
  maxPartSize: number;
  growthStart: number;
  growthStep: number;
  /** Largest object the plan can hold. */
  capacity: number;
}

const GROWTH_DOUBLINGS = 10;

export function planParts(options: PartPlanOptions = {}): PartPlan {
  const maxParts = options.maxParts ?? S3_MAX_PARTS;
  const maxPartSize = options.maxPartSize ?? S3_MAX_PART_SIZE;
  if (!Number.isInteger(maxParts) || maxParts < 1 || maxParts > S3_MAX_PARTS) {
    throw new BackupError(
      "INVALID_CONFIG",
      `part limit must be an integer from 1 to ${S3_MAX_PARTS}: ${maxParts}`,
    );
  }
  if (
    options.partSize !== undefined &&
    (!Number.isInteger(options.partSize) || options.partSize < S3_MIN_PART_SIZE)
  ) {
    throw new BackupError("INVALID_CONFIG", `part size must be at least 5 MiB: ${options.partSize}`);
  }
  if (options.partSize !== undefined && options.partSize > maxPartSize) {
    throw new BackupError(
      "INVALID_CONFIG",
      `part size must be at most ${maxPartSize} bytes: ${options.partSize}`,
    );
  }
  const growthStart = Math.max(1, Math.floor(maxParts * 0.9));
  const growthStep = Math.max(1, Math.floor((maxParts - growthStart) / GROWTH_DOUBLINGS));
  const hint = options.sizeHint;
  let base: number;
  if (options.partSize !== undefined) base = options.partSize;
  else if (hint !== undefined && hint > 0) base = Math.ceil(hint / growthStart / MiB) * MiB;
  else base = options.defaultPartSize ?? S3_MIN_PART_SIZE;
  base = Math.min(maxPartSize, Math.max(S3_MIN_PART_SIZE, base));
  const plan: PartPlan = { basePartSize: base, maxParts, maxPartSize, growthStart, growthStep, capacity: 0 };
  let capacity = 0;
  for (let n = 1; n <= maxParts; n++) capacity += partSizeFor(plan, n);
  plan.capacity = capacity;
  if (hint !== undefined && hint > capacity) {
    throw new BackupError(
      "STORAGE_TOO_LARGE",
      `an object of ${hint} bytes cannot fit ${maxParts} parts of at most ${maxPartSize} bytes`,
      {
        hint: "raise the store's part limit if it allows more parts, or split the backup",
        details: { sizeHint: hint, maxParts },
      },
    );
  }
  return plan;
}

/** Size of part `partNumber` (1-based); throws STORAGE_TOO_LARGE past the part limit. */
export function partSizeFor(plan: PartPlan, partNumber: number): number {
  if (partNumber > plan.maxParts) {
    throw new BackupError(
      "STORAGE_TOO_LARGE",
      `the object outgrew the store's limit of ${plan.maxParts} parts (${plan.capacity} bytes with this plan)`,
      { hint: "pass a size hint close to the real size, or raise the part limit if the store allows it" },
    );
  }
  if (partNumber <= plan.growthStart) return plan.basePartSize;
  const doublings = Math.ceil((partNumber - plan.growthStart) / plan.growthStep);
  return Math.min(plan.maxPartSize, plan.basePartSize * 2 ** Math.min(doublings, 30));
}
