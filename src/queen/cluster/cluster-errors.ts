/** This queen cannot take a hive now (no lease, store unreachable): the hive should try another queen. */
export class ClusterUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ClusterUnavailableError";
  }
}
