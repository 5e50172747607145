import { connect } from "node:net";

/** True when something accepts TCP connections on host:port. */
export async function isListening(port: number, host = "127.0.0.1"): Promise<boolean> {
  return await new Promise((resolveProbe) => {
    const socket = connect({ port, host });
    socket.once("connect", () => {
      socket.destroy();
      resolveProbe(true);
    });
    socket.once("error", () => resolveProbe(false));
  });
}
