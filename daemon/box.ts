// The box's identity: DIR/box.json {"box_id", "created"}. The id names the
// box in every audit record and in its key name. Created once, at first
// provisioning; never changed afterwards (a new id is a new box).

import { randomBytes } from "node:crypto";
import { mkdir, open, rename } from "node:fs/promises";
import { join } from "node:path";
import { SealboxError } from "./errors.js";

export interface BoxInfo {
  box_id: string;
  created: string;
}

const BOX_ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const MAX_BOX_JSON_BYTES = 4096;

export function boxJsonPath(stateDir: string): string {
  return join(stateDir, "box.json");
}

export function isValidBoxId(id: string): boolean {
  return BOX_ID_RE.test(id);
}

export function newBoxId(): string {
  return `box-${randomBytes(6).toString("hex")}`;
}

function parseBoxJson(text: string, path: string): BoxInfo {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new SealboxError("BAD_CONFIG", `${path} is not JSON`, { cause: e });
  }
  const o = v as Record<string, unknown>;
  if (typeof o !== "object" || o === null || typeof o.box_id !== "string" || !isValidBoxId(o.box_id) || typeof o.created !== "string") {
    throw new SealboxError("BAD_CONFIG", `${path} must hold {"box_id": "<lowercase letters, digits, dashes>", "created": "<time>"}`);
  }
  return { box_id: o.box_id, created: o.created };
}

/** Reads DIR/box.json. Throws NOT_FOUND when the box has not been set up. */
export async function readBox(stateDir: string): Promise<BoxInfo> {
  const path = boxJsonPath(stateDir);
  let text: string;
  try {
    const fh = await open(path, "r");
    try {
      const st = await fh.stat();
      if (st.size > MAX_BOX_JSON_BYTES) throw new SealboxError("BAD_CONFIG", `${path} is larger than ${MAX_BOX_JSON_BYTES} bytes`);
      text = await fh.readFile("utf8");
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new SealboxError("NOT_FOUND", `${path} does not exist: set the box up first (sealbox keys provision --state ${stateDir} …)`, { cause: e });
    }
    throw e;
  }
  return parseBoxJson(text, path);
}

/** Writes a file atomically: a temporary file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(join(path, ".."), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Reads box.json, creating it (with a new random id, or the one given) when absent. */
export async function ensureBox(stateDir: string, boxId?: string): Promise<BoxInfo> {
  try {
    const box = await readBox(stateDir);
    if (boxId !== undefined && box.box_id !== boxId) {
      throw new SealboxError("BAD_CONFIG", `this state directory belongs to box ${box.box_id}, not ${boxId}`);
    }
    return box;
  } catch (e) {
    if (!(e instanceof SealboxError && e.code === "NOT_FOUND")) throw e;
  }
  if (boxId !== undefined && !isValidBoxId(boxId)) throw new SealboxError("BAD_ARGUMENT", `box id ${JSON.stringify(boxId)} must be lowercase letters, digits and dashes`);
  await mkdir(stateDir, { recursive: true, mode: 0o750 });
  const box: BoxInfo = { box_id: boxId ?? newBoxId(), created: new Date().toISOString() };
  await writeFileAtomic(boxJsonPath(stateDir), JSON.stringify(box, null, 2) + "\n");
  return box;
}

/** The box id from DIR/box.json. */
export async function readBoxId(stateDir: string): Promise<string> {
  return (await readBox(stateDir)).box_id;
}

