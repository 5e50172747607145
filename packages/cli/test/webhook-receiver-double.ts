// TEST DOUBLE of a boundary we do not own: a chat tool's incoming webhook (Slack, Mattermost …). A local
// HTTP server that records what it was sent, or hangs without answering, as a slow receiver does.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { Socket } from "node:net";

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface WebhookReceiverDouble extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/hooks/<token>`: a path with a token, as Slack's URLs have. */
  readonly url: string;
  readonly requests: ReceivedRequest[];
}

/** `answer`: `ok` answers 200 once the body is read; `hang` reads the body and never answers. */
export async function startWebhookReceiverDouble(
  answer: "ok" | "hang",
  token = "T000-secret-token",
): Promise<WebhookReceiverDouble> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      requests.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
      if (answer === "ok") response.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hooks/${token}`,
    requests,
    async [Symbol.asyncDispose]() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
