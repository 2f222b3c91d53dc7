// Pure: why the CUDA kernel self-test (cuda-probe.ts) failed, in one paragraph
// an operator can act on, from how its child ended and what it printed.
//
// The text comes from llama.cpp/ggml and the CUDA runtime, not from us: it may
// be empty, huge, binary or not UTF-8. Only a bounded tail of each stream is
// read, quoted lines are stripped of control characters and cut short, and the
// answer is always a single line that names how the child ended.

export interface CudaProbeOutcome {
  /** The child's exit code, or null when a signal ended it. */
  exitCode: number | null;
  /** The signal that ended the child ("SIGABRT"), or null. */
  signal: string | null;
  /** Whether the child ran past its time limit and was killed. */
  timedOut: boolean;
  /** The time limit, for the message. */
  timeoutMs?: number;
  stdout: string | Uint8Array;
  stderr: string | Uint8Array;
}

/** At most this much of each stream is searched (the end, where an abort's cause is). */
const SCAN_BYTES = 64 * 1024;
/** A quoted line is cut to this many characters. */
const QUOTE_CHARS = 200;

function tailText(s: string | Uint8Array): string {
  if (typeof s === "string") return s.length > SCAN_BYTES ? s.slice(-SCAN_BYTES) : s;
  const bytes = s.length > SCAN_BYTES ? s.subarray(s.length - SCAN_BYTES) : s;
  // Invalid UTF-8 becomes U+FFFD; nothing here throws on bad input.
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
}

/** One printable line: control characters, U+FFFD and runs of spaces become one space; cut to QUOTE_CHARS. */
export function quoteLine(line: string): string {
  const clean = line
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffd]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return clean.length > QUOTE_CHARS ? `${clean.slice(0, QUOTE_CHARS - 1)}…` : clean;
}

/** How the child ended, always named: "killed by SIGABRT", "exit code 1", "timed out after 180 s (killed by SIGKILL)". */
export function describeEnd(o: Pick<CudaProbeOutcome, "exitCode" | "signal" | "timedOut" | "timeoutMs">): string {
  const how = o.signal ? `killed by ${quoteLine(o.signal)}` : o.exitCode !== null ? `exit code ${o.exitCode}` : "no exit code or signal";
  if (!o.timedOut) return how;
  const limit = o.timeoutMs !== undefined ? ` after ${Math.round(o.timeoutMs / 1000)} s` : "";
  return `timed out${limit} (${how})`;
}

/** The child's own failure report: its last `{"ok":false,"error":"…"}` line on stdout. */
function childError(stdout: string): string | undefined {
  const lines = stdout.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith("{") || !line.includes('"ok"')) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === "object" && (v as { ok?: unknown }).ok === false && typeof (v as { error?: unknown }).error === "string") return (v as { error: string }).error;
    } catch {
      // Not the child's line (or cut by the tail): keep looking.
    }
  }
  return undefined;
}

function firstMatchingLine(text: string, re: RegExp): string | undefined {
  for (const line of text.split(/\r?\n/)) if (re.test(line)) return line;
  return undefined;
}

interface Cause {
  test: RegExp;
  explain: string;
}

// Most specific first. The texts are the CUDA runtime's and driver API's error
// strings and names (cudaGetErrorString / cuGetErrorName), as ggml prints them.
const CAUSES: Cause[] = [
  {
    test: /unsupported toolchain|CUDA_ERROR_UNSUPPORTED_PTX_VERSION|cudaErrorUnsupportedPtxVersion/i,
    explain:
      "the GPU driver is older than the CUDA toolkit that built node-llama-cpp's CUDA backend: the driver cannot compile the backend's PTX for this GPU (\"the provided PTX was compiled with an unsupported toolchain\"). For H100/H200 with node-llama-cpp 3.21.1 an R590+ driver (CUDA 13.1) is needed, or a CUDA backend built for this GPU — see docs/operations.md",
  },
  {
    test: /no kernel image is available|CUDA_ERROR_NO_BINARY_FOR_GPU|cudaErrorNoKernelImageForDevice/i,
    explain:
      "node-llama-cpp's CUDA backend has no code for this GPU's architecture (\"no kernel image is available for execution on the device\"): a CUDA backend built for this GPU's compute capability is needed — see docs/operations.md",
  },
  {
    test: /driver version is insufficient|CUDA_ERROR_INSUFFICIENT_DRIVER|cudaErrorInsufficientDriver/i,
    explain:
      "the GPU driver is older than the CUDA runtime node-llama-cpp's CUDA backend was built for (\"CUDA driver version is insufficient for CUDA runtime version\"): update the driver (R590+ for node-llama-cpp 3.21.1) — see docs/operations.md",
  },
  {
    test: /out of memory|CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation|failed to allocate [^\n]{0,80}buffer|cudaMalloc failed/i,
    explain:
      "the GPU ran out of memory while loading a tiny test model: another process probably holds the GPU's memory (see `nvidia-smi`), or the GPU is in a bad state",
  },
  {
    test: /busy or unavailable|CUDA_ERROR_DEVICE_UNAVAILABLE|cudaErrorDevicesUnavailable/i,
    explain:
      "the GPU is busy or unavailable to this process (\"CUDA-capable device(s) is/are busy or unavailable\"): another process may hold it in an exclusive compute mode (`nvidia-smi -q`, \"Compute Mode\")",
  },
];

/**
 * One paragraph (one line, bounded) saying why the self-test failed and what
 * to do, ending with how the child ended.
 */
export function explainCudaProbeFailure(o: CudaProbeOutcome): string {
  const stderr = tailText(o.stderr);
  const stdout = tailText(o.stdout);
  const reported = childError(stdout);
  const text = `${stderr}\n${reported ?? ""}\n${stdout}`;
  const end = describeEnd(o);

  const cause = CAUSES.find((c) => c.test.test(text));
  let why: string;
  if (cause) {
    why = cause.explain;
  } else if (o.timedOut) {
    const last = firstMatchingLine(stderr, /CUDA error|\berror\b/i);
    why =
      "the test load did not finish in time and was killed (a first start after a driver or backend change can JIT-compile CUDA kernels for minutes: start again; if it recurs, check the GPU with `nvidia-smi`)" +
      (last ? `; it had printed: "${quoteLine(last)}"` : "");
  } else {
    const line = firstMatchingLine(stderr, /CUDA error: *\S/) ?? firstMatchingLine(stderr, /CUDA error/) ?? reported ?? firstMatchingLine(stderr, /\berror\b/i);
    if (line !== undefined && quoteLine(line) !== "") {
      why = `llama.cpp failed: "${quoteLine(line)}"`;
    } else if (o.exitCode === 0 && !o.signal) {
      why = 'the test ended without reporting a result (no {"ok":true} line on its output)';
    } else {
      why = "the test failed without saying why (nothing on its output names a cause)";
    }
  }
  return `${why} (kernel self-test: ${end}).`;
}
