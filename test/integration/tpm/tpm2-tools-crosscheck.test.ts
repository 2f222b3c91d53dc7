// tpm2-tools as an independent peer on the same swtpm: what we write, it
// reads, and the other way round. swtpm serves one client at a time, so our
// transport is closed while a tool runs. tpm2-tools leaves objects loaded on a
// direct connection (no resource manager); each tool run is followed by
// `tpm2_flushcontext -t` / `-l`.

import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { TPM_ALG } from "../../../hal/tpm/constants.js";
import { TpmWriter, hex } from "../../../hal/tpm/marshal.js";
import { defineCounter, incrementCounter, readCounter } from "../../../hal/tpm/nv-counter.js";
import { extendPcr, readPcrs } from "../../../hal/tpm/pcrs.js";
import { pcrCompositeDigest, policyPcrDigest } from "../../../hal/tpm/policy.js";
import { createSrk } from "../../../hal/tpm/primary.js";
import { sealSecret, unsealWithPcrPolicy } from "../../../hal/tpm/seal.js";
import { TpmReader } from "../../../hal/tpm/marshal.js";
import { Tpm } from "../../../hal/tpm/tpm.js";
import { openTpmTransport } from "../../../hal/tpm/transport/open.js";
import { makeTempDir, startSwtpmServer, tpm2ok, type SwtpmServer } from "../../helpers/swtpm.js";

const SRK_ATTRS = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt";
const NV = 0x01005ea3;
let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let server: SwtpmServer;
let work: string;

before(async () => {
  tmp = await makeTempDir();
  work = tmp.dir;
  server = await startSwtpmServer(join(tmp.dir, "state"));
  process.stdout.write(`# tpm2-tools reach swtpm over ${server.mode === "tcp" ? "TCP (TCTI " + server.tcti + ")" : "a unix socket (tss2 cmd TCTI + socat; loopback is down)"}\n`);
});

after(async () => {
  await server?.stop();
  await tmp.cleanup();
});

/** Runs fn with our own connection to the TPM, closed afterwards so a tool can connect. */
async function withOurs<T>(fn: (tpm: Tpm) => Promise<T>): Promise<T> {
  const tpm = new Tpm(await openTpmTransport(server.spec));
  try {
    await tpm.startup();
    return await fn(tpm);
  } finally {
    await tpm.close();
  }
}

const flushAll = async () => {
  await tpm2ok("tpm2_flushcontext", ["-t"], server.tcti, { cwd: work });
  await tpm2ok("tpm2_flushcontext", ["-l"], server.tcti, { cwd: work });
};
/** Runs a tool, then flushes what it left loaded (its objects live on in the .ctx files it saved). */
const tool = async (name: string, ...args: string[]) => {
  const out = await tpm2ok(name, args, server.tcti, { cwd: work });
  await flushAll();
  return out;
};

test("PCR values we read and extend agree with tpm2_pcrread", async () => {
  const ours = await withOurs(async (tpm) => {
    await extendPcr(tpm, 16, [{ hash: TPM_ALG.SHA256, digest: new Uint8Array(32).fill(0x16) }]);
    await extendPcr(tpm, 23, [{ hash: TPM_ALG.SHA256, digest: new Uint8Array(32).fill(0x23) }]);
    return readPcrs(tpm, TPM_ALG.SHA256, [0, 7, 16, 23]);
  });
  const out = await tool("tpm2_pcrread", "sha256:0,7,16,23");
  const theirs = new Map([...out.matchAll(/^\s+(\d+)\s*:\s*0x([0-9A-F]+)$/gm)].map((m) => [Number(m[1]), m[2]!.toLowerCase()]));
  assert.equal(theirs.size, 4, out);
  for (const [pcr, value] of ours) assert.equal(hex(value), theirs.get(pcr), `PCR ${pcr}`);
  assert.notEqual(theirs.get(16), "00".repeat(32));
});

test("our storage key is the very key tpm2_createprimary -G ecc256:aes128cfb makes (same Name)", async () => {
  const ourName = await withOurs((tpm) => tpm.scoped(async (s) => hex((await createSrk(tpm, s)).name)));
  await tool("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb", "-a", SRK_ATTRS, "-c", "srk.ctx");
  await tool("tpm2_readpublic", "-c", "srk.ctx", "-n", "srk.name");
  await flushAll();
  assert.equal(hex(await readFile(join(work, "srk.name"))), ourName);
});

const tpm2b = (b: Uint8Array) => new TpmWriter().tpm2b(b).finish();
function un2b(file: Uint8Array): Uint8Array {
  const r = new TpmReader(file, "tpm2-tools blob");
  const v = r.tpm2b("blob");
  r.end();
  return v;
}

test("a seed we sealed (PCR 7 policy) is unsealed by tpm2_load + tpm2_unseal -p pcr:sha256:7", async () => {
  const seed = new Uint8Array(32).map((_, i) => 0xc0 ^ i);
  const blob = await withOurs(async (tpm) => {
    const sel = [{ hash: TPM_ALG.SHA256, pcrs: [7] }];
    const values = await readPcrs(tpm, TPM_ALG.SHA256, [7]);
    const policy = policyPcrDigest(TPM_ALG.SHA256, sel, pcrCompositeDigest(TPM_ALG.SHA256, [values.get(7)!]));
    return tpm.scoped(async (s) => sealSecret(tpm, s, await createSrk(tpm, s), seed, policy));
  });
  await writeFile(join(work, "ours.pub"), tpm2b(blob.public));
  await writeFile(join(work, "ours.priv"), tpm2b(blob.private));
  await tool("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb", "-a", SRK_ATTRS, "-c", "srk2.ctx");
  await tool("tpm2_load", "-C", "srk2.ctx", "-u", "ours.pub", "-r", "ours.priv", "-c", "ours.ctx");
  await tool("tpm2_unseal", "-c", "ours.ctx", "-p", "pcr:sha256:7", "-o", "ours.out");
  await flushAll();
  assert.equal(hex(await readFile(join(work, "ours.out"))), hex(seed));
});

test("a seed tpm2_create sealed under tpm2_createpolicy --policy-pcr is unsealed by our salted, encrypted session", async () => {
  const seed = new Uint8Array(32).map((_, i) => 0x3c ^ i);
  await writeFile(join(work, "seed.bin"), seed);
  await tool("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb", "-a", SRK_ATTRS, "-c", "srk3.ctx");
  await tool("tpm2_pcrread", "-o", "pcr7.bin", "sha256:7");
  await tool("tpm2_createpolicy", "--policy-pcr", "-l", "sha256:7", "-f", "pcr7.bin", "-L", "policy7.bin");
  await tool("tpm2_create", "-C", "srk3.ctx", "-g", "sha256", "-a", "fixedtpm|fixedparent|noda", "-L", "policy7.bin", "-i", "seed.bin", "-u", "theirs.pub", "-r", "theirs.priv");
  await flushAll();
  const blob = { public: un2b(await readFile(join(work, "theirs.pub"))), private: un2b(await readFile(join(work, "theirs.priv"))) };
  const out = await withOurs((tpm) => tpm.scoped(async (s) => unsealWithPcrPolicy(tpm, s, await createSrk(tpm, s), blob, [{ hash: TPM_ALG.SHA256, pcrs: [7] }])));
  assert.equal(hex(out), hex(seed));
});

test("our NV counter is read by tpm2_nvread, and a tpm2_nvincrement is seen by us", async () => {
  const ours = await withOurs(async (tpm) => {
    await defineCounter(tpm, NV);
    await incrementCounter(tpm, NV);
    await incrementCounter(tpm, NV);
    return readCounter(tpm, NV);
  });
  const idx = `0x${NV.toString(16)}`;
  await tool("tpm2_nvread", idx, "-C", idx, "-s", "8", "-o", "nv.bin");
  assert.equal((await readFile(join(work, "nv.bin"))).readBigUInt64BE(0), ours);
  const pub = await tool("tpm2_nvreadpublic", idx);
  assert.match(pub, /nt=0x1|nt=counter|counter/i, pub);
  await tool("tpm2_nvincrement", idx, "-C", idx);
  assert.equal(await withOurs((tpm) => readCounter(tpm, NV)), ours + 1n);
});
