// The CUDA self-test's failure classifier (pure) and the parser of the child's
// answer line: the recorded H200/R580 abort, the other CUDA failures it names,
// and hostile output (empty, 1 MiB of random bytes, NULs, escapes, cut lines).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { describeEnd, explainCudaProbeFailure, quoteLine, type CudaProbeOutcome } from "../../../daemon/inference/cuda-probe-failure.js";
import { parseProbeAnswer } from "../../../daemon/inference/cuda-probe.js";
import { mulberry32 } from "../../../daemon/mulberry32.js";
import { REPO_ROOT } from "../../helpers/fake-nvidia-smi.js";

const H200_R580 = readFileSync(join(REPO_ROOT, "test", "fixtures", "cuda-probe", "prebuilt-r580-h200.stderr.txt"));
const aborted = { exitCode: null, signal: "SIGABRT", timedOut: false, stdout: "" } as const;

/** One paragraph: a single line, no control characters, bounded, ending with how the child ended. */
function assertParagraph(message: string, end: RegExp): void {
  assert.doesNotMatch(message, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, `one line of printable text: ${JSON.stringify(message)}`);
  assert.ok(message.length > 20 && message.length <= 1200, `bounded (${message.length} chars)`);
  assert.match(message, end, message);
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rand = mulberry32(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

describe("explainCudaProbeFailure", () => {
  it("the recorded H200 abort (driver R580, prebuilt PTX 9.1): the driver/toolkit mismatch, R590, SIGABRT", () => {
    for (const stderr of [H200_R580, H200_R580.toString("utf8")]) {
      const m = explainCudaProbeFailure({ ...aborted, stderr });
      assertParagraph(m, /killed by SIGABRT/);
      assert.match(m, /driver is older than the CUDA toolkit/);
      assert.match(m, /R590\+ driver \(CUDA 13\.1\)/);
      assert.match(m, /H100\/H200/);
      assert.match(m, /a CUDA backend built for this GPU/);
      assert.match(m, /docs\/operations\.md/);
    }
  });

  it("the driver API's name for the same failure", () => {
    const m = explainCudaProbeFailure({ exitCode: 1, signal: null, timedOut: false, stdout: "", stderr: "cuModuleLoadData failed: CUDA_ERROR_UNSUPPORTED_PTX_VERSION\n" });
    assertParagraph(m, /exit code 1/);
    assert.match(m, /R590/);
  });

  it("no kernel image for this architecture", () => {
    const stderr = "ggml-cuda.cu:108: CUDA error\nCUDA error: no kernel image is available for execution on the device\n  current device: 0, in function ggml_cuda_compute_forward\n";
    const m = explainCudaProbeFailure({ ...aborted, stderr });
    assertParagraph(m, /killed by SIGABRT/);
    assert.match(m, /no code for this GPU's architecture/);
    assert.doesNotMatch(m, /R590/);
  });

  it("out of memory", () => {
    const m = explainCudaProbeFailure({ exitCode: 1, signal: null, timedOut: false, stdout: '{"ok":false,"error":"Failed to load model"}\n', stderr: "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 64.00 MiB on device 0: cudaMalloc failed: out of memory\n" });
    assertParagraph(m, /exit code 1/);
    assert.match(m, /ran out of memory/);
  });

  it("a driver older than the CUDA runtime, and a GPU busy in exclusive mode", () => {
    const old = explainCudaProbeFailure({ ...aborted, stderr: "CUDA error: CUDA driver version is insufficient for CUDA runtime version\n" });
    assertParagraph(old, /SIGABRT/);
    assert.match(old, /older than the CUDA runtime/);
    const busy = explainCudaProbeFailure({ ...aborted, stderr: "CUDA error: CUDA-capable device(s) is/are busy or unavailable\n" });
    assertParagraph(busy, /SIGABRT/);
    assert.match(busy, /exclusive compute mode/);
  });

  it("the timeout: says it was killed, the limit, and the signal; quotes an error it had printed", () => {
    const m = explainCudaProbeFailure({ exitCode: null, signal: "SIGKILL", timedOut: true, timeoutMs: 180_000, stdout: "", stderr: "warn [llama.cpp] something\nerror [llama.cpp] cuBLAS init error: 13\n" });
    assertParagraph(m, /timed out after 180 s \(killed by SIGKILL\)/);
    assert.match(m, /did not finish in time/);
    assert.match(m, /cuBLAS init error: 13/);
    const quiet = explainCudaProbeFailure({ exitCode: 143, signal: null, timedOut: true, stdout: "", stderr: "" });
    assertParagraph(quiet, /timed out \(exit code 143\)/);
  });

  it("an unknown CUDA error: quotes the line with its description, not the file:line one", () => {
    const m = explainCudaProbeFailure({ ...aborted, stderr: "/x/ggml-cuda.cu:108: CUDA error\nerror [llama.cpp] CUDA error: an illegal memory access was encountered\n" });
    assertParagraph(m, /killed by SIGABRT/);
    assert.match(m, /"error \[llama\.cpp\] CUDA error: an illegal memory access was encountered"/);
  });

  it("the child's own failure report when stderr says nothing", () => {
    const m = explainCudaProbeFailure({ exitCode: 1, signal: null, timedOut: false, stdout: 'noise\n{"ok":false,"error":"NoBinaryFoundError"}\n', stderr: "" });
    assertParagraph(m, /exit code 1/);
    assert.match(m, /"NoBinaryFoundError"/);
  });

  it("exit 0 without the answer line", () => {
    const m = explainCudaProbeFailure({ exitCode: 0, signal: null, timedOut: false, stdout: "hello\n", stderr: "" });
    assertParagraph(m, /exit code 0/);
    assert.match(m, /without reporting a result/);
  });

  it("empty output", () => {
    for (const [o, end] of [
      [{ exitCode: null, signal: "SIGSEGV", timedOut: false, stdout: "", stderr: "" }, /killed by SIGSEGV/],
      [{ exitCode: 1, signal: null, timedOut: false, stdout: new Uint8Array(0), stderr: new Uint8Array(0) }, /exit code 1/],
      [{ exitCode: null, signal: null, timedOut: false, stdout: "", stderr: "" }, /no exit code or signal/],
    ] as [CudaProbeOutcome, RegExp][]) {
      const m = explainCudaProbeFailure(o);
      assertParagraph(m, end);
      assert.match(m, /without saying why|without reporting/);
    }
  });

  it("1 MiB of random bytes on both streams", () => {
    for (const seed of [1, 2, 3]) {
      const m = explainCudaProbeFailure({ exitCode: 3, signal: null, timedOut: false, stdout: randomBytes(1 << 20, seed), stderr: randomBytes(1 << 20, seed + 100) });
      assertParagraph(m, /exit code 3/);
    }
  });

  it("a line of NULs, escapes and invalid UTF-8 inside an error line", () => {
    const nuls = explainCudaProbeFailure({ ...aborted, stderr: "\0".repeat(100_000) + "\n" });
    assertParagraph(nuls, /killed by SIGABRT/);
    const nasty = Buffer.concat([Buffer.from("CUDA error: bad \u001b[31mthing\u001b[0m\r\n\0"), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(" x".repeat(5000) + "\n")]);
    const m = explainCudaProbeFailure({ ...aborted, stderr: nasty });
    assertParagraph(m, /killed by SIGABRT/);
    assert.match(m, /CUDA error: bad \[31mthing \[0m/);
    assert.ok(m.length < 600, "the quoted line is cut");
  });

  it("one huge line repeating the words it looks for", () => {
    const m = explainCudaProbeFailure({ ...aborted, stderr: "failed to allocate error CUDA error ".repeat(40_000) });
    assertParagraph(m, /killed by SIGABRT/);
  });

  it("the recorded stderr cut at every 37th byte: always one bounded paragraph naming the end", () => {
    for (let cut = 0; cut <= H200_R580.length; cut += 37) {
      assertParagraph(explainCudaProbeFailure({ ...aborted, stderr: H200_R580.subarray(0, cut) }), /killed by SIGABRT/);
      assertParagraph(explainCudaProbeFailure({ ...aborted, stderr: H200_R580.subarray(cut) }), /killed by SIGABRT/);
    }
  });
});

describe("describeEnd and quoteLine", () => {
  it("name the end in every case", () => {
    assert.equal(describeEnd({ exitCode: 0, signal: null, timedOut: false }), "exit code 0");
    assert.equal(describeEnd({ exitCode: null, signal: "SIGABRT", timedOut: false }), "killed by SIGABRT");
    assert.equal(describeEnd({ exitCode: null, signal: "SIGKILL", timedOut: true, timeoutMs: 1500 }), "timed out after 2 s (killed by SIGKILL)");
  });

  it("strip control characters and cut long lines", () => {
    assert.equal(quoteLine("a\u0000b\tc\u001b[0m  d\ufffd"), "a b c [0m d");
    const long = quoteLine("x".repeat(1000));
    assert.equal(long.length, 200);
    assert.ok(long.endsWith("…"));
  });
});

describe("parseProbeAnswer", () => {
  it("takes the last JSON line of a passed test", () => {
    assert.deepEqual(parseProbeAnswer('warn [llama.cpp] x\n{"ok":true,"device":"NVIDIA H200","tokens":4,"ms":812}\n'), { device: "NVIDIA H200", tokens: 4, ms: 812 });
    assert.deepEqual(parseProbeAnswer('{"ok":true,"device":"A","tokens":1,"ms":1}\n{"ok":true,"device":"B","tokens":2,"ms":2}'), { device: "B", tokens: 2, ms: 2 });
  });

  it("refuses failures, missing fields, zero tokens and garbage", () => {
    for (const s of [
      "",
      "hello",
      '{"ok":false,"error":"x"}',
      '{"ok":true,"device":"A","tokens":0,"ms":1}',
      '{"ok":true,"device":"A","tokens":1.5,"ms":1}',
      '{"ok":true,"tokens":1,"ms":1}',
      '{"ok":true,"device":"A","tokens":1,"ms":"1"}',
      '{"ok":true,"device":"A","tokens":1,"ms":1}\n{"ok":false,"error":"after"}',
      '{"ok":true,"device":"A","tokens":1,"ms":1',
      "null\n[1,2]\n{",
      "\0".repeat(1000),
    ]) {
      assert.equal(parseProbeAnswer(s), undefined, JSON.stringify(s));
    }
  });

  it("cleans the device name it reports", () => {
    assert.equal(parseProbeAnswer('{"ok":true,"device":"GPU\\u0000\\nX","tokens":1,"ms":1}')?.device, "GPU X");
  });
});
