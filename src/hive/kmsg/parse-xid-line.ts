/**
 * Xid lines of the NVIDIA kernel driver, in the forms several driver generations print them:
 *   NVRM: Xid (PCI:0000:c6:00): 79, pid=1101234, name=nvc:[driver], GPU has fallen off the bus.   (≥ 450-ish)
 *   NVRM: Xid (PCI:0000:10:1c): 63, pid=1896, Row Remapper: New row marked for remapping, reset gpu to activate.
 *   NVRM: Xid (PCI:0000:44:00): 79, GPU has fallen off the bus                                      (no pid)
 *   NVRM: Xid (0000:03:00): 13, 0003 00000000 00008297 00001098 00000000 00000044                   (older, no "PCI:")
 * and the multi-line "fallen off the bus" report newer drivers print without an Xid, which is an
 * Xid 79 in all but name (NVIDIA/NVSentinel#155, leptonai/gpud#1209):
 *   NVRM: The NVIDIA GPU 0000:b3:00.0
 *   NVRM: (PCI ID: 10de:26b5) installed in this system has
 *   NVRM: fallen off the bus and is not responding to commands.
 * Sources of each form: tests/hive/kmsg/fixtures/SOURCES.md.
 */

export interface XidLine {
  /** Normalised PCI bus id "dddd:bb:dd" (see normalizeBusId in gpu-probe). */
  busId: string;
  code: number;
  /** The message from "NVRM: " on, at most {@link MAX_TEXT} characters. */
  text: string;
}

/** One /dev/kmsg record ("prio,seq,usec,flags;message") or a plain log line. */
export interface KmsgRecord {
  /** The kernel's sequence number; undefined for a line without the kmsg header. */
  seq: number | undefined;
  message: string;
}

export const MAX_TEXT = 300;

const KMSG_HEADER = /^(\d+),(\d+),(\d+),[^;]*;/;
const XID = /NVRM: Xid \((?:PCI:)?([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2})(?:\.[0-7])?\): (\d{1,4}),?/;
const FALLEN_HEAD = /NVRM: The NVIDIA GPU ([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2})(?:\.[0-7])?/;
const FALLEN_TAIL = /fallen off the bus/;

/** Splits the kmsg header off; /dev/kmsg escapes newlines in a message as "\x0a", undone here. */
export function parseKmsgRecord(line: string): KmsgRecord {
  const m = KMSG_HEADER.exec(line);
  const raw = m ? line.slice(m[0].length) : line;
  return { seq: m ? Number(m[2]) : undefined, message: raw.replace(/\\x0a/g, "\n") };
}

function normalize(busId: string): string {
  const [domain, bus, device] = busId.toLowerCase().split(":");
  return `${domain.slice(-4)}:${bus}:${device}`;
}

function clip(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > MAX_TEXT ? `${t.slice(0, MAX_TEXT - 1)}…` : t;
}

/** The Xid in one message, or undefined. */
export function parseXid(message: string): XidLine | undefined {
  const m = XID.exec(message);
  if (!m) return undefined;
  return { busId: normalize(m[1]), code: Number(m[2]), text: clip(message.slice(m.index + "NVRM: ".length)) };
}

/**
 * Turns messages into Xids, remembering a "The NVIDIA GPU <bus>" head for the next few lines so
 * that the multi-line fallen-off-the-bus report becomes an Xid 79 of that GPU.
 */
export class XidLineParser {
  private pendingBus: string | undefined;
  private pendingLines = 0;

  accept(message: string): XidLine | undefined {
    const xid = parseXid(message);
    if (xid) {
      this.pendingBus = undefined;
      return xid;
    }
    const head = FALLEN_HEAD.exec(message);
    if (head) {
      this.pendingBus = normalize(head[1]);
      this.pendingLines = 0;
    }
    if (this.pendingBus !== undefined && FALLEN_TAIL.test(message)) {
      const busId = this.pendingBus;
      this.pendingBus = undefined;
      return { busId, code: 79, text: clip(`The NVIDIA GPU ${busId} has fallen off the bus (no Xid line; counted as Xid 79)`) };
    }
    if (this.pendingBus !== undefined && !head && ++this.pendingLines > 3) this.pendingBus = undefined;
    return undefined;
  }
}
