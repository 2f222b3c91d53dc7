// Loads node-llama-cpp's prebuilt addon and backends the way its own binary
// test does (dist/bindings/utils/testBindingBinary.js: require the addon,
// loadBackends(), then from the bins folder, init, device info) — but here,
// with llama.cpp's log on stderr, so that a failure says why. getLlama() runs
// that test in a child process with its log hidden and reports only
// NoBinaryFoundError. Prints one JSON line; exits 1 if the GPU type loaded is
// not the one asked for.
//
//   node addon-probe.js cuda|cpu

import { createRequire } from "node:module";
import { join } from "node:path";

/** The parts of the native addon (llama/addon/addon.cpp) this probe calls. */
interface Addon {
  setLogger(log: (level: number, message: string) => void): void;
  setLoggerLogLevel(level: number): void;
  loadBackends(dir?: string): void;
  getGpuType(): "cuda" | "vulkan" | "metal" | false | undefined;
  init(): Promise<void>;
  getGpuDeviceInfo(): unknown;
  getGpuVramInfo(): unknown;
}

const mode = process.argv[2];
if (mode !== "cuda" && mode !== "cpu") {
  process.stderr.write("usage: addon-probe cuda|cpu\n");
  process.exit(64);
}
const pkg = mode === "cuda" ? "@node-llama-cpp/linux-x64-cuda" : "@node-llama-cpp/linux-x64";
const { getBinsDir } = (await import(pkg)) as { getBinsDir(): { binsDir: string; packageVersion: string } };
const { binsDir, packageVersion } = getBinsDir();
const dir = join(binsDir, mode === "cuda" ? "linux-x64-cuda" : "linux-x64");
const require = createRequire(import.meta.url);
const t0 = performance.now();
const addon = require(join(dir, "llama-addon.node")) as Addon;
addon.setLogger((_level, message) => void process.stderr.write(`[llama.cpp] ${message}`));
addon.setLoggerLogLevel(6); // node-llama-cpp's "debug" level: backend loading and device lines included
addon.loadBackends();
let gpuType = addon.getGpuType();
const want = mode === "cuda" ? "cuda" : false;
if (gpuType === undefined || gpuType !== want) {
  addon.loadBackends(dir);
  gpuType = addon.getGpuType();
}
await addon.init();
// When the GPU backend did not load, the dynamic linker's own words: ggml's loader skips a
// module it cannot open. process.dlopen reports dlerror(); a library that does load answers
// that it is no Node addon, which means its dependencies resolved.
let backendDlopen: string | undefined;
if (gpuType !== want && mode === "cuda") {
  try {
    process.dlopen({ exports: {} }, join(dir, "libggml-cuda.so"));
    backendDlopen = "loaded";
  } catch (e) {
    backendDlopen = (e as Error).message;
  }
}
const out = {
  package: `${pkg}@${packageVersion}`,
  ...(backendDlopen === undefined ? {} : { libggmlCudaDlopen: backendDlopen }),
  addon: join(dir, "llama-addon.node"),
  gpuType: gpuType ?? null,
  devices: addon.getGpuDeviceInfo(),
  vram: addon.getGpuVramInfo(),
  loadMs: Math.round(performance.now() - t0),
};
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(gpuType === want ? 0 : 1);
