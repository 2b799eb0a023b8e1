import { normalizeAddress } from "./transport.js";

/**
 * A list of queen addresses, "a,b, c" (flags, APIARY_QUEEN, a context's `queen:`): each normalized
 * as normalizeAddress does (https:// for scheme-less ones when `secure`), duplicates dropped, order kept.
 * Throws naming the bad entry.
 */
export function parseQueenList(text: string, secure = false): string[] {
  const entries = text.split(",").map((s) => s.trim());
  if (entries.every((e) => e === "")) throw new Error(`invalid queen address list "${text}": must not be empty`);
  const urls: string[] = [];
  for (const entry of entries) {
    if (entry === "") throw new Error(`invalid queen address list "${text}": empty entry`);
    const url = normalizeAddress(entry, secure);
    if (!urls.includes(url)) urls.push(url);
  }
  return urls;
}
