/**
 * A free TCP port on 127.0.0.1, for the HTTP port (where 0 means "off", not
 * "pick one"): the kernel picks it, we release it, the server binds it. The
 * window in between is short; a collision fails the test loudly.
 */
import * as net from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
