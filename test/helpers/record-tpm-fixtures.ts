#!/usr/bin/env node
// Regenerates test/fixtures/tpm/tpm2-tools-traffic.json: golden command and
// response bytes recorded from tpm2-tools' own traffic to a fresh swtpm,
// through tpm-record-proxy (the tss2 "cmd" TCTI). Run from the repo root:
//   node dist/test/helpers/record-tpm-fixtures.js
// Each step names the tool invocation; the unit tests re-encode the same
// command with our encoders and compare bytes.

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { makeTempDir, startSwtpmServer, tpm2ok } from "./swtpm.js";

const repo = resolve(process.cwd());
const out = join(repo, "test/fixtures/tpm/tpm2-tools-traffic.json");
const proxy = join(repo, "dist/test/helpers/tpm-record-proxy.js");

const NV = "0x01005ea1";
const SRK_ATTRS = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt";
const AK_ATTRS = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|sign";

const steps: { name: string; tool: string; args: string[] }[] = [
  { name: "Startup", tool: "tpm2_startup", args: ["-c"] },
  { name: "GetRandom", tool: "tpm2_getrandom", args: ["--hex", "16"] },
  { name: "GetCapability", tool: "tpm2_getcap", args: ["properties-fixed"] },
  { name: "PCR_Read", tool: "tpm2_pcrread", args: ["sha256:0,7,16"] },
  { name: "PCR_Extend", tool: "tpm2_pcrextend", args: [`16:sha256=${"01".repeat(32)}`] },
  { name: "CreatePrimary.srk", tool: "tpm2_createprimary", args: ["-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb", "-a", SRK_ATTRS, "-c", "srk.ctx"] },
  { name: "StartAuthSession.trial", tool: "tpm2_startauthsession", args: ["-S", "trial.ctx"] },
  { name: "PolicyPCR.trial", tool: "tpm2_policypcr", args: ["-S", "trial.ctx", "-l", "sha256:7", "-L", "policy.bin"] },
  { name: "FlushContext.trial", tool: "tpm2_flushcontext", args: ["trial.ctx"] },
  { name: "Create.sealed", tool: "tpm2_create", args: ["-C", "srk.ctx", "-g", "sha256", "-a", "fixedtpm|fixedparent|noda", "-L", "policy.bin", "-i", "seed.bin", "-u", "sealed.pub", "-r", "sealed.priv"] },
  { name: "Load.sealed", tool: "tpm2_load", args: ["-C", "srk.ctx", "-u", "sealed.pub", "-r", "sealed.priv", "-c", "sealed.ctx"] },
  { name: "StartAuthSession.policy", tool: "tpm2_startauthsession", args: ["--policy-session", "-S", "policy.ctx"] },
  { name: "PolicyPCR.policy", tool: "tpm2_policypcr", args: ["-S", "policy.ctx", "-l", "sha256:7"] },
  { name: "Unseal", tool: "tpm2_unseal", args: ["-c", "sealed.ctx", "-p", "session:policy.ctx"] },
  { name: "FlushContext.policy", tool: "tpm2_flushcontext", args: ["policy.ctx"] },
  { name: "NV_DefineSpace", tool: "tpm2_nvdefine", args: [NV, "-C", "o", "-s", "8", "-a", "nt=counter|authwrite|authread|no_da"] },
  { name: "NV_Increment", tool: "tpm2_nvincrement", args: [NV, "-C", NV] },
  { name: "NV_Read", tool: "tpm2_nvread", args: [NV, "-C", NV, "-s", "8"] },
  { name: "NV_ReadPublic", tool: "tpm2_nvreadpublic", args: [NV] },
  { name: "CreatePrimary.ak", tool: "tpm2_createprimary", args: ["-C", "o", "-g", "sha256", "-G", "ecc256:ecdsa-sha256:null", "-a", AK_ATTRS, "-c", "ak.ctx"] },
  { name: "NV_Certify", tool: "tpm2_nvcertify", args: ["-C", "ak.ctx", "-c", NV, "-g", "sha256", "-f", "plain", "-o", "sig.bin", "--attestation", "attest.bin", "-q", "00112233", "--size", "8", "--offset", "0", NV] },
  { name: "Quote", tool: "tpm2_quote", args: ["-c", "ak.ctx", "-l", "sha256:7", "-q", "aabbccdd", "-m", "quote.msg", "-s", "quote.sig", "-g", "sha256"] },
  { name: "NV_UndefineSpace", tool: "tpm2_nvundefine", args: [NV, "-C", "o"] },
];

const { dir, cleanup } = await makeTempDir("sealbox-tpm-record-");
const server = await startSwtpmServer(join(dir), "unix");
const sock = server.spec.replace("swtpm:path=", "");
try {
  writeFileSync(join(dir, "seed.bin"), Buffer.alloc(32, 0x5a));
  const recorded: { name: string; invocation: string; exchanges: { command: string; response: string }[] }[] = [];
  for (const step of steps) {
    const log = join(dir, `${step.name}.log`);
    writeFileSync(log, "");
    await tpm2ok(step.tool, step.args, `cmd:node ${proxy} ${sock} ${log}`, { cwd: dir });
    const exchanges = readFileSync(log, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { command: string; response: string });
    recorded.push({ name: step.name, invocation: [step.tool, ...step.args].join(" "), exchanges });
    // tpm2-tools leaves transient objects loaded on a direct connection (no resource manager).
    if (step.name.startsWith("CreatePrimary") || step.name.startsWith("Load")) {
      await tpm2ok("tpm2_flushcontext", ["-t"], `cmd:socat - UNIX-CONNECT:${sock}`, { cwd: dir });
    }
  }
  const versions = {
    tpm2_tools: execFileSync("tpm2_getrandom", ["--version"]).toString().trim(),
    swtpm: execFileSync("swtpm", ["--version"]).toString().trim().split("\n")[0],
  };
  writeFileSync(out, JSON.stringify({ about: "Recorded by test/helpers/record-tpm-fixtures.ts from tpm2-tools talking to swtpm.", versions, steps: recorded }, null, 1) + "\n");
  process.stdout.write(`wrote ${out}: ${recorded.length} steps\n`);
} finally {
  await server.stop();
  await cleanup();
}
