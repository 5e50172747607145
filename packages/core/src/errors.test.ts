import { describe, expect, it } from "vitest";
import { BackupError, ERROR_CODES, errorCategory, isBackupError } from "./errors.js";

describe("BackupError", () => {
  it("carries a stable code, a category, a hint and the cause", () => {
    const cause = new Error("socket hang up");
    const error = new BackupError("STORAGE_UNREACHABLE", "cannot reach http://127.0.0.1:1", {
      hint: "check --s3-endpoint",
      cause,
    });
    expect(error.code).toBe("STORAGE_UNREACHABLE");
    expect(error.category).toBe("storage");
    expect(error.hint).toBe("check --s3-endpoint");
    expect(error.cause).toBe(cause);
    expect(isBackupError(error, "STORAGE_UNREACHABLE")).toBe(true);
    expect(isBackupError(error, "INTERNAL")).toBe(false);
    expect(isBackupError(cause)).toBe(false);
  });

  it("gives every code a category", () => {
    for (const code of ERROR_CODES) expect(errorCategory(code)).toMatch(/^[a-z-]+$/);
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });
});
