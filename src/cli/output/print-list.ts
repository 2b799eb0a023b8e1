import { toJson, toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { loadYaml } from "../../common/load-yaml.js";
import { renderTable } from "../table.js";
import { tableOf, visibleColumns, type Column } from "./columns.js";
import type { OutputFormat } from "./output-format.js";

/** JSON options of every machine-readable output: every field, zero values included, so scripts can rely on them. */
export const JSON_OPTIONS = { alwaysEmitImplicit: true } as const;

/** The proto JSON mapping of a message with every field, as pretty JSON or YAML. */
export async function formatMessage<D extends DescMessage>(schema: D, message: MessageShape<D>, format: "json" | "yaml"): Promise<string> {
  if (format === "json") return toJsonString(schema, message, { ...JSON_OPTIONS, prettySpaces: 2 }) + "\n";
  return (await loadYaml()).stringify(toJson(schema, message, JSON_OPTIONS));
}

export interface Listing<D extends DescMessage, R> {
  format: OutputFormat;
  /** The RPC answer: json and yaml print it whole. */
  schema: D;
  message: MessageShape<D>;
  rows: readonly R[];
  columns: readonly Column<R>[];
  /** `-o name`: one line per row, e.g. "worker/hive-1/demo-1". */
  name: (row: R) => string;
  /** Printed under the table (not in other formats). */
  footer?: string;
}

/** Prints a listing in the format asked for. */
export async function printListing<D extends DescMessage, R>(l: Listing<D, R>, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  switch (l.format) {
    case "json":
    case "yaml":
      out.write(await formatMessage(l.schema, l.message, l.format));
      return;
    case "name":
      for (const row of l.rows) out.write(l.name(row) + "\n");
      return;
    default: {
      const { header, cells } = tableOf(visibleColumns(l.columns, l.format === "wide"), l.rows);
      out.write(renderTable(header, cells));
      if (l.footer) out.write(l.footer + "\n");
    }
  }
}
