/** Where the bundle of apiary/client is written. */
export const CLIENT_ENTRY: string;
/** Where its type declarations are written. */
export const CLIENT_TYPES: string;
/** Bundles src/client/index.ts into dist/client.mjs and emits its declarations into dist/types/. */
export function buildClient(): Promise<void>;
