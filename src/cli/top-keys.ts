import type { TopSort } from "./top-view.js";

/** What the keyboard has asked `apiary top` for so far. */
export interface TopInput {
  sort: TopSort;
  filter: string;
  /** The filter being typed after "/", until Enter applies it or Esc drops it. */
  typing?: string;
  quit: boolean;
}

const SORT_KEYS: Record<string, TopSort> = { c: "cpu", m: "mem", g: "gpu", v: "vram", i: "id" };

export const TOP_KEY_HELP = "keys: c cpu  m mem  g gpu  v vram  i id  / filter by model  Esc clear  q quit";

/** Applies one chunk of raw terminal input. */
export function applyKeys(input: TopInput, chunk: string): void {
  if (chunk === "\x1b") {
    input.typing = undefined;
    input.filter = "";
    return;
  }
  for (const ch of chunk) {
    if (ch === "\x03") {
      input.quit = true;
    } else if (input.typing !== undefined) {
      if (ch === "\r" || ch === "\n") {
        input.filter = input.typing;
        input.typing = undefined;
      } else if (ch === "\x7f" || ch === "\b") {
        input.typing = input.typing.slice(0, -1);
      } else if (ch >= " ") {
        input.typing += ch;
      }
    } else if (ch === "q") {
      input.quit = true;
    } else if (ch === "/") {
      input.typing = "";
    } else if (SORT_KEYS[ch]) {
      input.sort = SORT_KEYS[ch];
    }
  }
}
