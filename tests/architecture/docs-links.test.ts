import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/** The documentation a newcomer reads: README, BENCHMARKS, docs/ and the benchmark history. */
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const mdIn = (dir: string) =>
  existsSync(join(root, dir)) ? readdirSync(join(root, dir)).filter((f) => f.endsWith(".md")).map((f) => join(dir, f)) : [];
const pages = ["README.md", "BENCHMARKS.md", ...mdIn("docs"), ...mdIn("bench/results")];

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
export function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function outsideFences(text: string): string[] {
  let fence = false;
  return text.split("\n").filter((line) => {
    if (line.startsWith("```")) fence = !fence;
    return !fence && !line.startsWith("```");
  });
}

function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of outsideFences(readFileSync(file, "utf8"))) {
    const m = /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const slug = headingSlug(m[1]);
    const n = seen.get(slug) ?? 0;
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
    seen.set(slug, n + 1);
  }
  return anchors;
}

function linksOf(file: string): string[] {
  const text = outsideFences(readFileSync(join(root, file), "utf8"))
    .join("\n")
    .replace(/`[^`\n]*`/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^(https?:|mailto:)/.test(t));
}

describe("documentation", () => {
  it("finds the pages it checks", () => {
    expect(pages).toContain("docs/operations.md");
    expect(pages.length).toBeGreaterThan(5);
  });

  for (const page of pages) {
    it(`${page}: every relative link and anchor resolves`, () => {
      const broken: string[] = [];
      for (const link of linksOf(page)) {
        const [path, anchor] = link.split("#");
        const target = path === "" ? join(root, page) : join(root, dirname(page), decodeURIComponent(path));
        if (!existsSync(target)) {
          broken.push(`${link} (no ${relative(root, target)})`);
          continue;
        }
        if (anchor && target.endsWith(".md") && statSync(target).isFile() && !anchorsOf(target).has(anchor)) {
          broken.push(`${link} (no heading #${anchor} in ${relative(root, target)})`);
        }
      }
      expect(broken).toEqual([]);
    });

    it(`${page}: names no machine-specific path`, () => {
      const text = readFileSync(join(root, page), "utf8");
      const hits = text.split("\n").filter((line) => /(^|[\s"'(=:])\/(work|tmp|home|root)\//.test(line) || /\/wt\//.test(line));
      expect(hits).toEqual([]);
    });
  }

  it("README opens with the two commands and stays short", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    expect(firstBlock).toMatch(/^npm ci && npm start\b/m);
    expect(firstBlock).toMatch(/^npm ci && npm test\b/m);
    expect(readme.indexOf("```sh")).toBeLessThan(readme.indexOf("\n## "));
    expect(readme.split("\n").length).toBeLessThanOrEqual(300);
  });

  it("headingSlug matches GitHub's anchors", () => {
    expect(headingSlug("Watch ordering and batches")).toBe("watch-ordering-and-batches");
    expect(headingSlug("`apiary up` after a crash")).toBe("apiary-up-after-a-crash");
    expect(headingSlug("Engine load: what each model server is doing")).toBe("engine-load-what-each-model-server-is-doing");
  });
});
