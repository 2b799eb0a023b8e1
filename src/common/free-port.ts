import { createServer, type AddressInfo } from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a server that cannot listen on port 0
 * itself (a demo worker's engine, etcd, Prometheus). Another process may take it meanwhile.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
