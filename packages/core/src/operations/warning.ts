import type { OperationEvent, WarningCode } from "./events.js";

/** A `warning` event (internal: the events module is public and holds only the types). */
export function warning(
  code: WarningCode,
  message: string,
  fields?: Record<string, unknown>,
): OperationEvent {
  return { type: "warning", code, message, ...(fields ? { fields } : {}) };
}
