import { ClusterWorkerSource, type ClusterWorkerSourceOptions } from "./cluster-worker-source.js";
import { startRouter, type Router, type RouterOptions } from "./router.js";

export interface ClusterRouter extends Router {
  readonly source: ClusterWorkerSource;
}

/** A router fed by a Watch of the given queens; close() stops both. */
export async function startClusterRouter(opts: Omit<RouterOptions, "source"> & Omit<ClusterWorkerSourceOptions, "onChange">): Promise<ClusterRouter> {
  const source = new ClusterWorkerSource({ queens: opts.queens, includeDegraded: opts.includeDegraded, onRetry: opts.onRetry });
  let router: Router;
  try {
    router = await startRouter({ ...opts, source });
  } catch (err) {
    await source.close();
    throw err;
  }
  return {
    ...router,
    url: router.url,
    port: router.port,
    source,
    close: async () => {
      await router.close();
      await source.close();
    },
  };
}
