import { createWriteStream, type WriteStream } from "node:fs";
import { StringDecoder } from "node:string_decoder";

/**
 * Writes a container's stdout/stderr as the CRI log format the kubelet and kwok read
 * (`<RFC3339Nano> <stream> <F|P> <text>` per line), so `kubectl logs` serves it through kwok.
 */
export class CriLogWriter {
  readonly #out: WriteStream;
  readonly #partial = { stdout: "", stderr: "" };
  readonly #decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
  /** Everything written, both streams interleaved, for the runner's own records. */
  text = "";

  constructor(readonly file: string) {
    this.#out = createWriteStream(file, { flags: "a" });
  }

  write(stream: "stdout" | "stderr", chunk: Buffer): void {
    const text = this.#partial[stream] + this.#decoders[stream].write(chunk);
    const lines = text.split("\n");
    this.#partial[stream] = lines.pop() ?? "";
    for (const line of lines) this.#line(stream, "F", line);
  }

  /** A line of the runner itself (e.g. why a container could not start), on stderr like the kubelet. */
  note(text: string): void {
    this.#line("stderr", "F", text);
  }

  #line(stream: "stdout" | "stderr", tag: "F" | "P", line: string): void {
    this.text += `${line}\n`;
    this.#out.write(`${new Date().toISOString()} ${stream} ${tag} ${line}\n`);
  }

  async close(): Promise<void> {
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.#partial[stream] + this.#decoders[stream].end();
      if (rest) this.#line(stream, "F", rest);
      this.#partial[stream] = "";
    }
    await new Promise<void>((resolve, reject) =>
      this.#out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  }
}
