/** What an operation reports while it runs; the CLI turns these into log lines and progress bars. */
export type OperationEvent =
  | { type: "step"; message: string; fields?: Record<string, unknown> }
  | { type: "warning"; message: string; fields?: Record<string, unknown> }
  | { type: "progress"; entry: string; bytes: number };

export type EventSink = (event: OperationEvent) => void;

export const ignoreEvents: EventSink = () => undefined;
