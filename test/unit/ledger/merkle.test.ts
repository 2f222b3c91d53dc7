import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { isSealboxError } from "../../../daemon/errors.js";
import { EMPTY_ROOT, leafHash, nodeHash, rootOf, splitPoint, verifyConsistency, verifyInclusion } from "../../../daemon/ledger/merkle.js";
import { consistencyProof, inclusionProof, treeRoot } from "../../../daemon/ledger/proof.js";
import { refLeafHash, refLeaves, refMth, refPath, refProof } from "../../helpers/merkle-reference.js";
import { memoryTree } from "../../helpers/memory-tree.js";
import { ledgerFixture } from "../../helpers/ledger-fixtures.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));

function assertVerifyFailed(fn: () => void, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isSealboxError(e, "VERIFY_FAILED"), `expected VERIFY_FAILED, got ${String(e)}`);
    if (message) assert.match((e as Error).message, message);
    return true;
  });
}

test("leaf and node hashes carry the RFC 9162 domain prefixes", () => {
  assert.equal(hex(EMPTY_ROOT), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const d = new TextEncoder().encode("x");
  assert.equal(hex(leafHash(d)), hex(refLeafHash(d)));
  assert.notEqual(hex(leafHash(d)), hex(nodeHash(d, new Uint8Array(0))));
  assert.equal(splitPoint(2), 1);
  assert.equal(splitPoint(5), 4);
  assert.equal(splitPoint(8), 4);
  assert.equal(splitPoint(9), 8);
});

test("published RFC 6962 reference roots (certificate-transparency test data)", () => {
  const leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(unhex);
  const published = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  ];
  for (let n = 1; n <= 8; n++) {
    assert.equal(hex(rootOf(leaves.slice(0, n).map(leafHash))), published[n - 1], `root of ${n}`);
    assert.equal(hex(refMth(leaves.slice(0, n))), published[n - 1], `reference root of ${n}`);
  }
});

test("roots, inclusion and consistency proofs match the naive reference for every size up to 40", () => {
  const entries = refLeaves(40);
  const tree = memoryTree(entries);
  for (let n = 0; n <= 40; n++) {
    const d = entries.slice(0, n);
    const want = refMth(d);
    assert.equal(hex(rootOf(d.map(leafHash))), hex(want), `rootOf ${n}`);
    assert.equal(hex(treeRoot(tree.read, n)), hex(want), `treeRoot ${n}`);
    for (let m = 0; m < n; m++) {
      const proof = inclusionProof(tree.read, m, n);
      assert.deepEqual(proof.map(hex), refPath(m, d).map(hex), `PATH(${m}, ${n})`);
      verifyInclusion(m, n, leafHash(entries[m]!), proof, want);
    }
    for (let m = 1; m <= n; m++) {
      const proof = consistencyProof(tree.read, m, n);
      const ref = m === n ? [] : refProof(m, d);
      assert.deepEqual(proof.map(hex), ref.map(hex), `PROOF(${m}, ${n})`);
      verifyConsistency(m, n, proof, refMth(entries.slice(0, m)), want);
    }
  }
});

test("every one-bit change of an inclusion or consistency proof is caught", () => {
  const entries = refLeaves(13);
  const tree = memoryTree(entries);
  const root = refMth(entries);
  for (let m = 0; m < 13; m++) {
    const proof = inclusionProof(tree.read, m, 13);
    for (let i = 0; i < proof.length; i++) {
      for (const bit of [0, 100, 255]) {
        const bad = proof.map((p) => new Uint8Array(p));
        bad[i]![bit >> 3]! ^= 1 << (bit & 7);
        assertVerifyFailed(() => verifyInclusion(m, 13, leafHash(entries[m]!), bad, root));
      }
    }
  }
  for (let m = 1; m < 13; m++) {
    const proof = consistencyProof(tree.read, m, 13);
    const root1 = refMth(entries.slice(0, m));
    for (let i = 0; i < proof.length; i++) {
      const bad = proof.map((p) => new Uint8Array(p));
      bad[i]![31]! ^= 0x80;
      assertVerifyFailed(() => verifyConsistency(m, 13, bad, root1, root));
    }
  }
});

test("proofs cost O(log n) node reads, not O(n)", () => {
  const n = 1 << 12; // 4096 leaves, plus an odd tail so right edges are incomplete
  const entries = refLeaves(n + 77);
  const tree = memoryTree(entries);
  const size = entries.length;
  let worst = 0;
  for (const m of [0, 1, 2047, 2048, 4095, 4096, size - 1]) {
    tree.reads.count = 0;
    inclusionProof(tree.read, m, size);
    worst = Math.max(worst, tree.reads.count);
  }
  for (const m of [1, 3, 1000, 4096, size - 1]) {
    tree.reads.count = 0;
    consistencyProof(tree.read, m, size);
    worst = Math.max(worst, tree.reads.count);
  }
  // log2(4173) ≈ 12: a proof is at most ~13 hashes, plus one rebuilt right edge of ~log n reads.
  assert.ok(worst <= 30, `a proof took ${worst} reads`);
});

test("proof generators refuse impossible requests", () => {
  const tree = memoryTree(refLeaves(4));
  assert.throws(() => inclusionProof(tree.read, 4, 4), /no leaf 4/);
  assert.throws(() => inclusionProof(tree.read, 0, 0), /no leaf 0/);
  assert.throws(() => consistencyProof(tree.read, 5, 4), /cannot prove/);
  assert.deepEqual(consistencyProof(tree.read, 0, 4), []);
  assert.deepEqual(consistencyProof(tree.read, 4, 4), []);
});

test("verifiers reject non-integer and negative sizes with a typed error", () => {
  const h = leafHash(new Uint8Array(0));
  assertVerifyFailed(() => verifyInclusion(-1, 1, h, [], h), /non-negative integer/);
  assertVerifyFailed(() => verifyInclusion(0.5, 1, h, [], h), /non-negative integer/);
  assertVerifyFailed(() => verifyInclusion(0, 2 ** 60, h, [], h), /non-negative integer/);
  assertVerifyFailed(() => verifyConsistency(1, Number.NaN, [], h, h), /non-negative integer/);
  assertVerifyFailed(() => verifyInclusion(0, 1, h, "x" as unknown as Uint8Array[], h), /not a list/);
});

interface VectorFile {
  name: string;
  breaks: string;
  valid: boolean;
  kind: "inclusion" | "consistency" | "root";
  [k: string]: unknown;
}

const vectorDir = ledgerFixture("merkle");
const vectorFiles = readdirSync(vectorDir).filter((f) => f.endsWith(".json")).sort();

test("the Merkle vector files are all present", () => {
  assert.ok(vectorFiles.length >= 50, `only ${vectorFiles.length} vector files`);
  for (const prefix of ["inclusion-valid", "inclusion-modified", "consistency-valid", "consistency-modified", "root-rfc6962"]) {
    assert.ok(vectorFiles.some((f) => f.startsWith(prefix)), `no ${prefix}* vector`);
  }
  assert.ok(vectorFiles.some((f) => !JSON.parse(readFileSync(`${vectorDir}/${f}`, "utf8")).valid));
});

for (const file of vectorFiles) {
  test(`vector ${file}`, () => {
    const v = JSON.parse(readFileSync(`${vectorDir}/${file}`, "utf8")) as VectorFile;
    assert.equal(`${v.name}.json`, file, "a vector's file is named for it");
    const run = (): void => {
      if (v.kind === "inclusion") {
        verifyInclusion(v.leafIndex as number, v.treeSize as number, unhex(v.leafHash as string), (v.proof as string[]).map(unhex), unhex(v.root as string));
      } else if (v.kind === "consistency") {
        verifyConsistency(v.size1 as number, v.size2 as number, (v.proof as string[]).map(unhex), unhex(v.root1 as string), unhex(v.root2 as string));
      } else {
        const got = rootOf((v.leaves as string[]).map((l) => leafHash(unhex(l))));
        if (hex(got) !== v.root) throw new Error(`root ${hex(got)} != ${String(v.root)}`);
      }
    };
    if (v.valid) run();
    else assertVerifyFailed(run);
  });
}
