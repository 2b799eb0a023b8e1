import type { HttpRequest } from "../rpc/http-routes.js";

/** A request the router refuses, with the HTTP status and the OpenAI error it answers. */
export class RouteError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ParsedBody {
  /** The body as it came, forwarded byte for byte. */
  raw: Buffer;
  model: string;
  stream: boolean;
  /** The parsed body, for the prompt prefix. */
  json: Record<string, unknown>;
}

/** Reads at most maxBytes (413 beyond, without reading the rest), then the JSON and its `model`. */
export async function readRequestBody(req: HttpRequest, maxBytes: number): Promise<ParsedBody> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) throw new RouteError(413, `request body: ${declared} bytes, over the limit of ${maxBytes}`, null, "body_too_large");
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      req.off("data", onData);
      reject(new RouteError(413, `request body: over the limit of ${maxBytes} bytes`, null, "body_too_large"));
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks, size)));
    req.once("error", reject);
  });
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch (err) {
    throw new RouteError(400, `request body: not valid JSON (${(err as Error).message})`, null, "invalid_json");
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new RouteError(400, "request body: expected a JSON object", null, "invalid_json");
  const body = json as Record<string, unknown>;
  if (typeof body.model !== "string" || body.model === "") {
    throw new RouteError(400, `model: required, a non-empty string (got ${body.model === undefined ? "nothing" : JSON.stringify(body.model).slice(0, 60)})`, "model", "invalid_model");
  }
  if (body.stream !== undefined && typeof body.stream !== "boolean") throw new RouteError(400, "stream: must be true or false", "stream", "invalid_stream");
  return { raw, model: body.model, stream: body.stream === true, json: body };
}

/**
 * The first `chars` characters of what the engine will see first: the chat messages (roles and
 * text), the completion prompt or the embedding input. Requests sharing it likely share a prefix
 * in the engine's cache.
 */
export function promptPrefix(body: Record<string, unknown>, chars: number): string {
  let out = "";
  const add = (text: unknown): boolean => {
    if (typeof text === "string") out += text;
    else if (Array.isArray(text)) {
      for (const part of text) {
        if (typeof part === "string") out += part;
        else if (part && typeof part === "object" && typeof (part as { text?: unknown }).text === "string") out += (part as { text: string }).text;
        else if (typeof part === "number") out += `${part},`;
        if (out.length >= chars) break;
      }
    }
    return out.length >= chars;
  };
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) {
      if (!m || typeof m !== "object") continue;
      const { role, content } = m as { role?: unknown; content?: unknown };
      out += `${typeof role === "string" ? role : ""}:`;
      if (add(content)) break;
      out += "\n";
    }
  } else if (body.prompt !== undefined) add(body.prompt);
  else if (body.input !== undefined) add(body.input);
  return out.slice(0, chars);
}
