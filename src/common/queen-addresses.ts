
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

/**
 * "127.0.0.1:7833" → "http://127.0.0.1:7833" (https:// when `secure`); URLs pass through without
 * a trailing slash.
 */
export function normalizeAddress(address: string, secure = false): string {
  const trimmed = address.trim();
  if (trimmed === "") throw new Error(`invalid address "${address}": must not be empty`);
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `${secure ? "https" : "http"}://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`invalid address "${address}": expected host:port or a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`invalid address "${address}": scheme must be http or https`);
  }
  return withScheme.replace(/\/+$/, "");
}
