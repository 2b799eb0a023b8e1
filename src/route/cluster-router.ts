import { Informer, type InformerOptions } from "../client/index.js";
import { InformerWorkerSource } from "./informer-worker-source.js";
import { startRouter, type Router, type RouterOptions } from "./router.js";

export interface ClusterRouter extends Router {
  readonly informer: Informer;
}

/** A router fed by an informer of the given queens; close() stops both. */
export async function startClusterRouter(opts: Omit<RouterOptions, "source"> & Pick<InformerOptions, "queens" | "onRetry">): Promise<ClusterRouter> {
  const informer = new Informer({ queens: opts.queens, onRetry: opts.onRetry });
  let router: Router;
  try {
    router = await startRouter({ ...opts, source: new InformerWorkerSource(informer) });
  } catch (err) {
    await informer.close();
    throw err;
  }
  return {
    ...router,
    informer,
    close: async () => {
      await router.close();
      await informer.close();
    },
  };
}
