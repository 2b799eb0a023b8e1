/** Where the bundle is written. */
export const DIST_ENTRY: string;
/** True when dist/apiary.mjs is missing or a file it was built from changed after the build. */
export function distIsStale(): boolean;
/** Bundles src/cli.ts into dist/apiary.mjs. */
export function buildDist(): Promise<void>;
