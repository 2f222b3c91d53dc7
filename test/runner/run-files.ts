// The test runner behind `./build.sh test`: runs each node:test file in a
// process of its own (its own process group), N at a time, and prints one
// block per file as it ends (file-report.ts), then the totals.
//
//   node dist/test/runner/run-files.js [--concurrency N] [--timeout-s S]
//        [--slow-file-s S] [--verbose] FILE...
//
// Why not `node --test`: a run must never hang, and must say where it stuck.
// Here a file that runs past --timeout-s is killed with its whole process
// group and fails, naming the test it was in; a file that exits but leaves
// processes of its group running fails, naming them (they are killed); a file
// running past --slow-file-s is named once a minute; and events come over
// plain JSON lines (test-event.ts), not node's v8-serialised child protocol.
// Exit status: 0 when every file passed, 1 otherwise, 2 for bad arguments.

import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { isEntryPoint } from "../../daemon/entry-point.js";
import { signalProcessGroup } from "../../hal/system/process-group.js";
import { addCounts, FileReport, formatTotals, zeroCounts, type FileEnd } from "./file-report.js";
import { decodeTestEvent } from "./test-event.js";

const REPORTER = fileURLToPath(new URL("./event-lines-reporter.js", import.meta.url));
const OUTPUT_TAIL_BYTES = 4096;
const MAX_LINE_CHARS = 1 << 20;
const KILL_GRACE_MS = 5_000;
const LEFTOVER_WAIT_MS = 2_000;
const OUTPUT_CLOSE_GRACE_MS = 5_000;

// Each file runs in a process group of its own, so that it and everything it
// started can be found and killed together. Not a session of its own (what
// spawn's `detached` gives): a session leader that opens a pty takes it as its
// controlling terminal and gets SIGHUP when the pty closes, and the serial
// tests open ptys. perl (perl-base, in every Debian) makes the group, then
// becomes the test's node process (exec keeps the pid, so pid = group id).
const IN_OWN_GROUP = 'setpgrp(0, 0) or die "setpgrp: $!\\n"; exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\\n"';

/** The groups of the files running now, killed if the runner itself is stopped. */
const liveGroups = new Set<number>();

export interface RunOptions {
  files: string[];
  concurrency: number;
  timeoutMs: number;
  slowFileMs: number;
  verbose: boolean;
  write: (text: string) => void;
}

interface Running {
  shownName: string;
  startMs: number;
  report: FileReport;
}

/** Runs the files; resolves true when every one passed. */
export async function runFiles(opts: RunOptions): Promise<boolean> {
  const startMs = Date.now();
  const totals = zeroCounts();
  const running = new Set<Running>();
  let failedFiles = 0;
  const heartbeat = setInterval(() => {
    const now = Date.now();
    const slow = [...running].filter((r) => now - r.startMs >= opts.slowFileMs);
    if (slow.length > 0) opts.write(`… still running: ${slow.map((r) => `${r.shownName} (${Math.round((now - r.startMs) / 1000)} s)`).join(", ")}\n`);
  }, Math.min(60_000, Math.max(1_000, opts.slowFileMs / 2)));
  const queue = [...opts.files];
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const run: Running = { shownName: shownName(file), startMs: Date.now(), report: new FileReport(shownName(file), opts.verbose) };
      running.add(run);
      const end = await runFile(file, run.report, opts.timeoutMs);
      running.delete(run);
      if (!run.report.passed(end)) failedFiles += 1;
      addCounts(totals, run.report.counts);
      opts.write(run.report.render(end));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  } finally {
    clearInterval(heartbeat);
  }
  opts.write(formatTotals(totals, opts.files.length, failedFiles, Date.now() - startMs));
  return failedFiles === 0;
}

function runFile(file: string, report: FileReport, timeoutMs: number): Promise<FileEnd> {
  return new Promise((resolve) => {
    const startMs = Date.now();
    // NODE_TEST_CONTEXT would make node:test in the file think it runs under `node --test`.
    const { NODE_TEST_CONTEXT: _outer, ...env } = process.env;
    const child = spawn("perl", ["-e", IN_OWN_GROUP, process.execPath, `--test-reporter=${REPORTER}`, "--test-reporter-destination=stdout", file], {
      stdio: ["ignore", "pipe", "pipe"],
      env,
    });
    if (child.pid !== undefined) liveGroups.add(child.pid);
    let tail = "";
    const keep = (text: string): void => {
      tail = (tail + text).slice(-OUTPUT_TAIL_BYTES);
    };
    let pending = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const event = decodeTestEvent(line);
        if (event !== undefined) report.onEvent(event);
        else keep(`${line}\n`);
      }
      // Event lines are bounded (test-event.ts); a longer line is the test's own output.
      if (pending.length > MAX_LINE_CHARS) {
        keep(pending);
        pending = "";
      }
    });
    child.stderr.setEncoding("utf8").on("data", keep);

    let timedOutAfterMs: number | undefined;
    const timer = setTimeout(() => {
      timedOutAfterMs = Date.now() - startMs;
      killGroup(child.pid, "SIGTERM");
      setTimeout(() => killGroup(child.pid, "SIGKILL"), KILL_GRACE_MS).unref();
    }, timeoutMs);

    let settled = false;
    const finish = async (code: number | null, signal: string | null, outputHeldOpen: boolean): Promise<void> => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (pending !== "") keep(pending);
      const leftovers = child.pid === undefined ? [] : await leftoverProcesses(child.pid);
      if (leftovers.length > 0) killGroup(child.pid, "SIGKILL");
      if (child.pid !== undefined) liveGroups.delete(child.pid);
      const end: FileEnd = { code, signal, durationMs: Date.now() - startMs, leftovers, outputTail: tail };
      if (timedOutAfterMs !== undefined) end.timedOutAfterMs = timedOutAfterMs;
      if (outputHeldOpen) end.outputHeldOpen = true;
      resolve(end);
    };
    child.on("error", (e) => {
      keep(`cannot start the test file: ${e.message}\n`);
      void finish(null, null, false);
    });
    // "close" comes once its output is read to the end. A process it started in
    // a group of its own can hold that output open for ever: give it a moment
    // after the exit, then stop reading.
    child.on("exit", (code, signal) => {
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        void finish(code, signal, true);
      }, OUTPUT_CLOSE_GRACE_MS).unref();
    });
    child.on("close", (code, signal) => void finish(code, signal, false));
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid !== undefined) signalProcessGroup(pid, signal);
}

/** The processes still in the group the file's process led, as "pid command"; waits briefly for ones already ending. */
async function leftoverProcesses(pgid: number): Promise<string[]> {
  const until = Date.now() + LEFTOVER_WAIT_MS;
  for (;;) {
    const found = processesInGroup(pgid);
    if (found.length === 0 || Date.now() >= until) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function processesInGroup(pgid: number): string[] {
  const found: string[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid || fields[0] === "Z") continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ").trim();
      found.push(`${name} ${cmdline.slice(0, 200)}`);
    } catch {
      // It ended while we looked.
    }
  }
  return found;
}

/** dist/test/x.test.js is shown as its source, test/x.test.ts. */
export function shownName(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file);
  const distPrefix = `dist${sep}`;
  return rel.startsWith(distPrefix) && rel.endsWith(".js") ? `${rel.slice(distPrefix.length, -3)}.ts` : rel;
}

export function parseRunArgs(argv: string[]): Omit<RunOptions, "write"> {
  const opts = { files: [] as string[], concurrency: 2, timeoutMs: 600_000, slowFileMs: 180_000, verbose: false };
  const seconds = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number of seconds`);
    return n * 1000;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--concurrency") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error("--concurrency needs a whole number of at least 1");
      opts.concurrency = n;
    } else if (a === "--timeout-s") opts.timeoutMs = seconds(a, argv[++i]);
    else if (a === "--slow-file-s") opts.slowFileMs = seconds(a, argv[++i]);
    else if (a === "--verbose") opts.verbose = true;
    else if (a.startsWith("--")) throw new Error(`unknown option ${a}`);
    else opts.files.push(a);
  }
  if (opts.files.length === 0) throw new Error("no test files given");
  return opts;
}

if (isEntryPoint(import.meta.url)) {
  let opts: Omit<RunOptions, "write">;
  try {
    opts = parseRunArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`run-files: ${(e as Error).message}\nusage: run-files.js [--concurrency N] [--timeout-s S] [--slow-file-s S] [--verbose] FILE...\n`);
    process.exit(2);
  }
  // The files run outside the runner's process group: a Ctrl-C reaches only the
  // runner, which passes it on.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      for (const pgid of liveGroups) killGroup(pgid, "SIGKILL");
      process.stderr.write(`run-files: stopped by ${signal}; killed the ${liveGroups.size} test files running\n`);
      process.exit(130);
    });
  }
  const ok = await runFiles({ ...opts, write: (text) => process.stdout.write(text) });
  process.exitCode = ok ? 0 : 1;
}
