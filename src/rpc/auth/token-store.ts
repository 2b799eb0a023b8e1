import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { checkSegment, isRole, type Identity, type Role } from "./identity.js";

/**
 * Bearer tokens, stored hashed: one line per token, `NAME ROLE sha256:HEX`, `#` starts a comment.
 * A presented token is hashed and compared with every stored hash in constant time, so neither
 * the token nor which entry matched leaks through timing. Tokens are random (256 bits), so an
 * unsalted SHA-256 is enough: there is nothing to brute-force from a leaked file.
 */
export interface TokenEntry {
  name: string;
  role: Role;
  hash: Buffer;
}

const TOKEN_PREFIX = "apiary_";

export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** A fresh random token, e.g. "apiary_3q2…" (43 base64url characters after the prefix). */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/** The line to put in a token file for `token`. */
export function tokenFileLine(name: string, role: string, token: string): string {
  checkSegment("token name", name);
  if (!isRole(role)) throw new Error(`token role ${JSON.stringify(role)}: expected admin or reader`);
  return `${name} ${role} sha256:${hashToken(token).toString("hex")}`;
}

export function parseTokenFile(text: string, file = "token file"): TokenEntry[] {
  const entries: TokenEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    const where = `${file}:${i + 1}`;
    const parts = line.split(/\s+/);
    if (parts.length !== 3) throw new Error(`${where}: expected "NAME ROLE sha256:HEX"`);
    const [name, role, digest] = parts;
    checkSegment(`${where}: name`, name);
    if (!isRole(role)) throw new Error(`${where}: role ${JSON.stringify(role)}: expected admin or reader`);
    const match = /^sha256:([0-9a-f]{64})$/i.exec(digest);
    if (!match) throw new Error(`${where}: expected sha256: and 64 hex digits (tokens are stored hashed, never in clear)`);
    entries.push({ name, role, hash: Buffer.from(match[1], "hex") });
  });
  return entries;
}

export class TokenStore {
  private entries: TokenEntry[];
  private source = "";

  constructor(entries: TokenEntry[] = []) {
    this.entries = entries;
  }

  static fromFile(file: string): TokenStore {
    const store = new TokenStore();
    store.reload(file);
    return store;
  }

  /** Re-reads the file; true when its content changed. A file that does not parse changes nothing (throws). */
  reload(file: string): boolean {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(`token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (text === this.source) return false;
    this.entries = parseTokenFile(text, file);
    this.source = text;
    return true;
  }

  get size(): number {
    return this.entries.length;
  }

  replace(entries: TokenEntry[]): void {
    this.entries = entries;
  }

  /** The client a token belongs to, or undefined. Always compares against every entry. */
  identify(token: string): Identity | undefined {
    const presented = hashToken(token);
    let found: TokenEntry | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(presented, entry.hash) && !found) found = entry;
    }
    return found ? { kind: "client", name: found.name, role: found.role } : undefined;
  }
}
