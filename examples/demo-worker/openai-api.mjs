// The demo worker's OpenAI-like API, served beside its engine /metrics (as vLLM serves both on
// one port): /v1/chat/completions and /v1/completions (streamed as server-sent events or whole),
// /v1/embeddings and /v1/models.
//
// Requests really occupy the engine: at most `maxRunning` run at once, counting the simulated
// background load (engine-metrics.mjs) as running too; the rest wait in a FIFO queue. Tokens come
// one every `tokenMs × (1 + running / maxRunning)` ms, so a loaded worker streams slower, and
// its time to first token grows with the queue. With `prefillMs`, a prompt whose first 64
// characters are not among the 64 prefixes seen last waits that long before its first token (a prefix cache). The counters the /metrics report include these
// requests, so what the hive scrapes matches what a client sees.
const MAX_BODY_BYTES = 1024 * 1024;
/** The prefix cache's unit: prompts sharing their first this many characters share a cache entry. */
const PREFIX_CACHE_CHARS = 64;
const WORDS = ["the", "hive", "hums", "while", "bees", "carry", "tokens", "between", "flowers", "and", "queens"];

export function createOpenAiApi({ model, tokenMs = 20, maxRunning = 8, prefillMs = 0, background = () => ({ running: 0, waiting: 0 }) }) {
  const queue = [];
  // A prefix cache: a prompt whose first characters were seen recently skips the prefill.
  const cachedPrefixes = new Map();
  const prefill = (body) => {
    if (prefillMs <= 0) return 0;
    const text = Array.isArray(body.messages) ? body.messages.map((m) => (typeof m?.content === "string" ? m.content : "")).join("\n") : String(body.prompt ?? body.input ?? "");
    const key = text.slice(0, PREFIX_CACHE_CHARS);
    const hit = cachedPrefixes.delete(key);
    cachedPrefixes.set(key, true);
    if (cachedPrefixes.size > 64) cachedPrefixes.delete(cachedPrefixes.keys().next().value);
    return hit ? 0 : prefillMs;
  };
  let running = 0;
  const counters = { served: 0, cancelled: 0 };

  const busy = () => running + background().running;
  const admit = () => {
    while (queue.length > 0 && busy() < maxRunning) {
      const next = queue.shift();
      running++;
      next.start();
    }
  };
  // The background load changes with time (the wave): check now and then for freed slots.
  const admitTimer = setInterval(admit, 50);
  admitTimer.unref();

  /** Runs `work` once a slot is free; `work` resolves when the request is done. */
  const schedule = (signal, work) =>
    new Promise((resolve) => {
      const entry = {
        start: () => {
          const done = () => {
            running--;
            resolve();
            admit();
          };
          work().then(done, done);
        },
      };
      const dequeue = () => {
        const i = queue.indexOf(entry);
        if (i !== -1) {
          queue.splice(i, 1);
          resolve();
        }
      };
      signal.addEventListener("abort", dequeue, { once: true });
      queue.push(entry);
      admit();
    });

  const tokenDelay = () => tokenMs * (1 + busy() / maxRunning);

  const sleep = (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });

  const completion = async (req, res, body, chat) => {
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) {
        counters.cancelled++;
        abort.abort();
      }
    });
    const n = Math.max(1, Math.min(100_000, Number.isInteger(body.max_tokens) ? body.max_tokens : 16));
    const id = `cmpl-${process.pid}-${++counters.served}`;
    const created = Math.floor(Date.now() / 1000);
    const object = chat ? "chat.completion" : "text_completion";
    const word = (i) => (i === 0 ? "" : " ") + WORDS[i % WORDS.length];
    await schedule(abort.signal, async () => {
      await sleep(prefill(body), abort.signal);
      if (body.stream === true) {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-demo-worker-pid": String(process.pid) });
        for (let i = 0; i < n && !abort.signal.aborted; i++) {
          await sleep(tokenDelay(), abort.signal);
          if (abort.signal.aborted) break;
          const choice = chat ? { index: 0, delta: i === 0 ? { role: "assistant", content: word(i) } : { content: word(i) }, finish_reason: null } : { index: 0, text: word(i), finish_reason: null };
          const chunk = { id, object: `${object}${chat ? ".chunk" : ""}`, created, model, choices: [choice] };
          // Backpressure: a client that stops reading stops the generation, as an engine would.
          if (!res.write(`data: ${JSON.stringify(chunk)}\n\n`)) await new Promise((r) => res.once("drain", r).once("close", r));
        }
        if (!abort.signal.aborted) {
          const last = chat ? { index: 0, delta: {}, finish_reason: "length" } : { index: 0, text: "", finish_reason: "length" };
          res.end(`data: ${JSON.stringify({ id, object: `${object}${chat ? ".chunk" : ""}`, created, model, choices: [last] })}\n\ndata: [DONE]\n\n`);
        }
        return;
      }
      let text = "";
      for (let i = 0; i < n && !abort.signal.aborted; i++) {
        await sleep(tokenDelay(), abort.signal);
        text += word(i);
      }
      if (abort.signal.aborted) return;
      const choice = chat ? { index: 0, message: { role: "assistant", content: text }, finish_reason: "length" } : { index: 0, text, finish_reason: "length" };
      json(res, 200, { id, object, created, model, choices: [choice], usage: { prompt_tokens: 1, completion_tokens: n, total_tokens: n + 1 } });
    });
  };

  const embeddings = (res, body) => {
    const inputs = Array.isArray(body.input) ? body.input : [body.input ?? ""];
    const data = inputs.map((text, index) => ({ object: "embedding", index, embedding: embed(String(text)) }));
    json(res, 200, { object: "list", data, model, usage: { prompt_tokens: inputs.length, total_tokens: inputs.length } });
  };

  /** Answers the API's paths (true), or leaves the request alone (false). */
  const handle = (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/v1/models") {
      json(res, 200, { object: "list", data: [{ id: model, object: "model", created: 0, owned_by: "apiary-demo" }] });
      return true;
    }
    const routes = { "/v1/chat/completions": "chat", "/v1/completions": "completion", "/v1/embeddings": "embedding" };
    const kind = routes[path];
    if (req.method !== "POST" || kind === undefined) return false;
    readJson(req, (err, body) => {
      if (err) return json(res, 400, { error: { message: err.message, type: "invalid_request_error" } });
      if (body.model !== undefined && body.model !== model) {
        return json(res, 404, { error: { message: `model ${JSON.stringify(body.model)} is not served here (this worker serves ${model})`, type: "invalid_request_error" } });
      }
      if (kind === "embedding") return embeddings(res, body);
      void completion(req, res, body, kind === "chat");
    });
    return true;
  };

  return {
    handle,
    /** Requests of the API running and waiting now (the background load excluded). */
    load: () => ({ running, waiting: queue.length }),
    counters,
    close: () => clearInterval(admitTimer),
  };
}

function json(res, status, value) {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
}

function readJson(req, done) {
  const chunks = [];
  let size = 0;
  let failed = false;
  req.on("data", (c) => {
    size += c.length;
    if (size > MAX_BODY_BYTES && !failed) {
      failed = true;
      done(new Error(`request body over ${MAX_BODY_BYTES} bytes`));
    }
    if (!failed) chunks.push(c);
  });
  req.on("end", () => {
    if (failed) return;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      if (body === null || typeof body !== "object" || Array.isArray(body)) throw new Error("expected a JSON object");
      done(undefined, body);
    } catch (err) {
      done(new Error(`request body: ${err.message}`));
    }
  });
}

/** A small deterministic vector from the text (the same text, the same embedding). */
function embed(text) {
  const v = new Array(8).fill(0);
  for (let i = 0; i < text.length; i++) v[i % 8] += text.charCodeAt(i) / 1000;
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}
