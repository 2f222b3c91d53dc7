// The heartbeat note: once a second the sender states, under the box's
// signature, which epoch it is in and what it holds. Its body is the text of
// a C2SP signed note (signed with the same key as the checkpoints); the first
// line keeps it from ever parsing as a checkpoint (whose second line is a
// bare number). Pure. Layout: docs/diode.md §Heartbeat.

export const HEARTBEAT_HEADER = "sealbox diode heartbeat v1";

export interface Heartbeat {
  /** The sender's epoch (new at every start, larger than every earlier one). */
  epoch: bigint;
  /** Heartbeat counter within the epoch, from 0. */
  seq: number;
  /** Entries the sender can prove: the size of its latest signed checkpoint. */
  head: number;
  /** The oldest entry the carousel still re-sends. */
  oldest: number;
  /** When the heartbeat was made, RFC 3339 UTC. */
  time: string;
  /** The carousel's catch-up bound in seconds (catchup-bound.ts), or -1 when unknown. */
  catchupBoundS: number;
}

export function formatHeartbeat(h: Heartbeat): string {
  return [
    HEARTBEAT_HEADER,
    `epoch ${h.epoch}`,
    `seq ${h.seq}`,
    `head ${h.head}`,
    `oldest ${h.oldest}`,
    `time ${h.time}`,
    `catchup-bound-s ${h.catchupBoundS < 0 ? -1 : Math.ceil(h.catchupBoundS)}`,
    "",
  ].join("\n");
}

const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Parses a heartbeat body (the signed note's text). Returns undefined unless it is exactly well-formed. */
export function parseHeartbeat(text: string): Heartbeat | undefined {
  const lines = text.split("\n");
  if (lines.length !== 8 || lines[7] !== "" || lines[0] !== HEARTBEAT_HEADER) return undefined;
  const field = (i: number, name: string): string | undefined => {
    const line = lines[i]!;
    return line.startsWith(name + " ") ? line.slice(name.length + 1) : undefined;
  };
  const num = (i: number, name: string): number | undefined => {
    const v = field(i, name);
    if (v === undefined || !DECIMAL.test(v)) return undefined;
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  };
  const epochText = field(1, "epoch");
  if (epochText === undefined || !DECIMAL.test(epochText) || BigInt(epochText) >= 2n ** 64n) return undefined;
  const seq = num(2, "seq");
  const head = num(3, "head");
  const oldest = num(4, "oldest");
  const time = field(5, "time");
  const boundText = field(6, "catchup-bound-s");
  if (seq === undefined || head === undefined || oldest === undefined || time === undefined || !TIME.test(time) || boundText === undefined) return undefined;
  const catchupBoundS = boundText === "-1" ? -1 : DECIMAL.test(boundText) ? Number(boundText) : undefined;
  if (catchupBoundS === undefined || oldest > head) return undefined;
  return { epoch: BigInt(epochText), seq, head, oldest, time, catchupBoundS };
}
