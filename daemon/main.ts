// sealboxd: the composition root. The only place that opens hardware and
// storage; everything opened registers with the lifecycle, which closes it in
// reverse order on SIGTERM/SIGINT.
//
// Order of opening (and so, reversed, of closing):
//   1. configuration, box identity
//   2. the signing key (software file or TPM-sealed seed)
//   3. the ledger (records the start, and an unclean previous stop)
//   4. … further parts (inference, transports, diode) register here …
//   last: the "daemon.stop" record, so it is written first on shutdown,
//         while the ledger and key are still open.

import { readFile } from "node:fs/promises";
import { isEntryPoint } from "./entry-point.js";
import { SealboxError, toSealboxError } from "./errors.js";
import { createLogger, type Logger, type LogLevel } from "./log.js";
import { Lifecycle, type Closeable } from "./lifecycle.js";
import { readBox } from "./box.js";
import { checkConfigCommand, loadDaemonConfig } from "./config/daemon-config.js";
import type { Config } from "./config.js";
import { openSigner, readKeyInfo } from "./keys/key-store.js";
import type { Signer } from "./keys/signer.js";
import { openLedger, SYSTEM_ACTOR, type Ledger } from "./ledger/ledger.js";
import { isDaemonAlive, readRunMarker, removeRunMarker, writeRunMarker } from "./daemon-run-marker.js";
import { openNotifier } from "./notify.js";
import { initialLogLevel, withLevel } from "./config/level-logger.js";
import { ConfigReloader } from "./config/reloader.js";
import { DAEMON_RELOADABLE_SECTIONS } from "./config/reload.js";

export interface Daemon {
  readonly config: Config;
  readonly lifecycle: Lifecycle;
  readonly signer: Signer;
  readonly ledger: Ledger;
  /** Records the stop and closes everything in reverse order. Resolves to the exit code. Idempotent. */
  stop(reason: string): Promise<number>;
}

async function packageVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Registers a resource and logs when it closes, so the shutdown order is visible. */
function track<T extends Closeable>(lifecycle: Lifecycle, log: Logger, name: string, resource: T): T {
  lifecycle.add(name, {
    close: async () => {
      await resource.close();
      log.info("closed", { part: name });
    },
  });
  return resource;
}

async function openKey(config: Config, source: string, log: Logger): Promise<Signer & Closeable> {
  const stateDir = config.paths.state;
  const info = await readKeyInfo(stateDir);
  if (info.origin === "software") {
    if (source !== "embedded defaults" && config.keys.origin === "tpm") {
      throw new SealboxError("KEY_UNAVAILABLE", `${source} asks for a TPM key (keys.origin = "tpm") but ${stateDir}/keys holds a software key: provision the TPM key, or set keys.origin = "software" for a development box`);
    }
    return openSigner(stateDir, { log });
  }
  const { openTpmKey } = await import("./keys/tpm-open.js");
  const opened = await openTpmKey(stateDir, config.keys.tpm, { log });
  const tpmSigner = opened.signer;
  return { name: tpmSigner.name, origin: tpmSigner.origin, publicKey: tpmSigner.publicKey, sign: (m: Uint8Array) => tpmSigner.sign(m), close: () => opened.close(), tpmKey: opened } as Signer & Closeable;
}

export async function startDaemon(argv: string[], options: { log?: Logger } = {}): Promise<Daemon> {
  const { config, source } = await loadDaemonConfig(argv);
  // log.level (or SEALBOX_LOG_LEVEL) filters; SIGHUP may change it while running.
  let logLevel: LogLevel = initialLogLevel(config.log.level);
  const log = withLevel(options.log ?? createLogger({ component: "sealboxd", minLevel: "debug" }), () => logLevel);
  const stateDir = config.paths.state;
  const lifecycle = new Lifecycle();
  // systemd (Type=notify): STATUS lines while starting, watchdog pings from the event loop from
  // the start (a loop stalled while starting is caught too), READY once key, ledger and model are up.
  const notifier = await openNotifier({ log });
  lifecycle.onClose("notifier", () => notifier.close());
  notifier.startWatchdog();
  notifier.status("starting: opening the signing key");
  try {
    // 1. identity
    const box = await readBox(stateDir);
    if (config.box.id !== undefined && config.box.id !== box.box_id) {
      throw new SealboxError("BAD_CONFIG", `${source} says box.id = ${config.box.id}, but ${stateDir}/box.json says ${box.box_id}`);
    }
    const marker = await readRunMarker(stateDir);
    if (marker !== undefined && marker !== "unreadable" && (await isDaemonAlive(marker.pid))) {
      throw new SealboxError("DAEMON_RUNNING", `sealboxd (pid ${marker.pid}) is already running on ${stateDir}`);
    }
    // 2. key
    const signer = track(lifecycle, log, "key", await openKey(config, source, log));
    // 3. ledger
    notifier.status("starting: opening the ledger");
    const ledger = track(lifecycle, log, "ledger", await openLedger({ stateDir, signer, boxId: box.box_id, mapSizeBytes: config.ledger.mapSizeBytes, log: log.child("ledger") }));
    // The stop record is registered right after the ledger, so it closes just before it: every
    // other part (transports, health, diode, the anti-rollback shutdown bump) has stopped and
    // written its last record first, and "daemon.stop" is the run's last record. Only a run whose
    // start was recorded records a stop.
    let stopReason = "shutdown";
    let startRecorded = false;
    lifecycle.onClose("daemon.stop record", async () => {
      if (!startRecorded) return;
      await ledger.append({ actor: SYSTEM_ACTOR, category: "system", action: "daemon.stop", target: "sealboxd", outcome: "success", details: { pid: process.pid, reason: stopReason } });
      await removeRunMarker(stateDir);
      log.info("closed", { part: "daemon.stop record" });
    });
    // 3b. anti-rollback (TPM key): a ledger older than the TPM counter is refused (LEDGER_ROLLBACK) before anything is appended to it.
    let exporter: import("./rpc/ports.js").ExportPort | undefined;
    if ("tpmKey" in signer) {
      const { startAntiRollback, exportWithCounter } = await import("./keys/anti-rollback-daemon.js");
      const antiRollback = await startAntiRollback({ stateDir, key: signer.tpmKey as import("./keys/tpm-open.js").OpenedTpmKey, ledger, epochMinutes: config.ledger.checkpointEpochMinutes, lifecycle, log: log.child("anti-rollback") });
      // Exports through the daemon bump the counter first and carry its TPM certificate.
      exporter = exportWithCounter((await import("./rpc/export-port.js")).createExportPort(stateDir), antiRollback, stateDir);
    }
    if (marker !== undefined) {
      await ledger.append({
        actor: SYSTEM_ACTOR,
        category: "system",
        action: "daemon.unclean-stop",
        target: "sealboxd",
        outcome: "info",
        details: marker === "unreadable" ? { marker: "unreadable" } : { previous_pid: marker.pid, previous_started: marker.started, previous_start_seq: marker.start_seq },
      });
      log.warn("the previous run did not stop cleanly (crash, kill or power loss); recorded", marker === "unreadable" ? {} : { pid: marker.pid, startSeq: marker.start_seq });
    }
    const version = await packageVersion();
    const start = await ledger.append({
      actor: SYSTEM_ACTOR,
      category: "system",
      action: "daemon.start",
      target: "sealboxd",
      outcome: "success",
      details: { pid: process.pid, version, node: process.version, config: source, key: { origin: signer.origin, name: signer.name } },
    });
    await writeRunMarker(stateDir, { pid: process.pid, started: new Date().toISOString(), start_seq: start.seq });
    startRecorded = true;

    // 4. … further parts open here, each with track(lifecycle, log, name, await openX(...)) …
    // The method table and the role sockets (and the model, loading in the background; --demo-model).
    // The diode sender ([diode] enabled): ships the ledger one way; its start, stop and sends are audited.
    let diode: import("./diode/sender.js").DiodeSender | undefined;
    if (config.diode.enabled) {
      notifier.status("starting: diode sender");
      const { startDiodeSender } = await import("./diode/sender.js");
      const d = config.diode;
      diode = track(lifecycle, log, "diode", await startDiodeSender({ reader: ledger, audit: ledger, signer, stateDir, ...(d.udp && { udp: d.udp }), ...(d.serial && { serial: d.serial }), rateBytesPerS: d.rateBytesPerS, repairRatio: d.repairRatio, log: log.child("diode") }));
    }
    const { startDaemonInterfaces } = await import("./transports/daemon-interfaces.js");
    notifier.status("starting: sockets and method table");
    const ifs = await startDaemonInterfaces({ argv, config, configSource: source, ledger, lifecycle, log, ...(diode && { diode }), ...(exporter && { exporter }) });
    // Health: the first reading is taken (and audited) before READY; from then on every answer is gated by it.
    notifier.status("starting: health monitor");
    const { openHealth } = await import("./health/open-health.js");
    const health = track(lifecycle, log, "health", await openHealth({ config: { ...config, inference: { ...config.inference, mode: ifs.engineMode } }, audit: ifs.audit, logger: log }));
    await health.monitor.start();
    // The integrators' serial lines share the method table; each port retries its device with backoff.
    const metricRenderers: (() => string)[] = [];
    if (config.serial.ports.length > 0) {
      const { openSerialPorts } = await import("./transports/serial-ports.js");
      notifier.status("starting: serial ports");
      const serial = track(lifecycle, log, "serial ports", await openSerialPorts({ ports: config.serial.ports, dispatch: ifs.table.dispatch, audit: ifs.audit, log }));
      metricRenderers.push(() => serial.renderMetrics());
    }
    ifs.attach({ health: health.monitor, metricRenderers });
    // READY waits for a configured model. Loading (a first CUDA load JIT-compiles) may outlast
    // TimeoutStartSec: extend it from the event loop while the load runs, for at most 30 minutes.
    let modelNote = "";
    if (ifs.slot) {
      notifier.status(`starting: loading model ${ifs.slot.model.name}`);
      const extendUntil = Date.now() + 30 * 60_000;
      notifier.extendTimeout(60_000);
      const extend = setInterval(() => (Date.now() < extendUntil ? notifier.extendTimeout(60_000) : clearInterval(extend)), 20_000);
      await ifs.modelLoaded.catch(() => undefined).finally(() => clearInterval(extend));
      // A box whose model cannot run (a "cuda" box without a usable GPU, or whose kernels failed
      // the self-test in runtime.ts) still starts: the ledger, its export, the console and health
      // stay up, which is what a technician needs to find out why. Inference answers with the
      // load's error (GPU_UNAVAILABLE or MODEL_UNAVAILABLE), and the status line says it.
      const failure = ifs.slot.failure;
      const onCpu = ifs.slot.fallbackActive;
      if (ifs.slot.ready && onCpu !== undefined) {
        modelNote = `; model ${ifs.slot.model.name} ON THE CPU (GPU fallback)`;
        log.warn(`ready with the model on the CPU (health.cpu_fallback): ${onCpu}`, { model: ifs.slot.model.name });
      } else if (ifs.slot.ready) modelNote = `; model ${ifs.slot.model.name}`;
      else if (failure?.code === "GPU_UNAVAILABLE") modelNote = `; GPU UNAVAILABLE, no inference (${ifs.slot.model.name})`;
      else modelNote = `; MODEL FAILED TO LOAD (${ifs.slot.model.name})`;
      if (!ifs.slot.ready) {
        const code = failure?.code === "GPU_UNAVAILABLE" ? "GPU_UNAVAILABLE" : "MODEL_UNAVAILABLE";
        log.error(`ready without the configured model: inference answers ${code}: ${failure?.message ?? "unknown error"}`, { model: ifs.slot.model.name });
      }
    }

    // SIGHUP (systemctl reload): the log level and the health thresholds apply at once; other changes
    // are named as needing a restart. Health first: it can refuse (bad limits, or the ledger refusing
    // the record of the change), and a refused reload must leave the log level as it was too.
    const keyNote = signer.origin === "software" ? " — SOFTWARE key (development only)" : "";
    const readyLine = (): string => `ready: ${ledger.size()} records${modelNote}${keyNote}`;
    const reloader = new ConfigReloader({
      argv,
      running: config,
      log,
      notifier,
      statusLine: readyLine,
      reloadable: DAEMON_RELOADABLE_SECTIONS,
      apply: async (next) => {
        await health.applyConfig(next.health, { reason: "configuration reloaded (SIGHUP)" });
        logLevel = initialLogLevel(next.log.level);
      },
    });
    reloader.listen();
    lifecycle.onClose("config reloader", () => reloader.close());


    let stopping: Promise<number> | undefined;
    const daemon: Daemon = {
      config,
      lifecycle,
      signer,
      ledger,
      stop: (reason) =>
        (stopping ??= (async () => {
          stopReason = reason;
          notifier.stopping(`stopping (${reason})`);
          log.info("stopping", { reason, order: [...lifecycle.names].reverse().join(",") });
          const errors = await lifecycle.close((name, error) => log.error("closing failed", { part: name, error }));
          log.info("stopped", { errors: errors.length });
          return errors.length === 0 ? 0 : ERRORS_EXIT;
        })()),
    };
    log.notice(`sealboxd ready${keyNote}`, { state: stateDir, box: box.box_id, records: ledger.size(), key: signer.name, config: source });
    notifier.ready(readyLine());
    return daemon;
  } catch (e) {
    await lifecycle.close((name, error) => log.error("closing after a failed start failed", { part: name, error }));
    throw e;
  }
}

const ERRORS_EXIT = 70;

/** sealboxd [--config FILE] [--state DIR] [--check-config]: runs until SIGTERM or SIGINT. */
export async function main(argv: string[]): Promise<number> {
  const checked = await checkConfigCommand(argv);
  if (checked !== undefined) return checked;
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write("usage: sealboxd [--config FILE] [--state DIR] [--demo-model] [--check-config]\n");
    return 0;
  }
  // Unfiltered here: startDaemon filters by log.level, which it reads from the config.
  const log = createLogger({ component: "sealboxd", minLevel: "debug" });
  // Signals are caught from the first moment: one that arrives while starting
  // stops the daemon as soon as it has started (its start is recorded, then its stop).
  let signalled: NodeJS.Signals | undefined;
  let onStarted: ((signal: NodeJS.Signals) => void) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info("signal", { signal });
    if (onStarted) onStarted(signal);
    else signalled ??= signal;
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  let daemon: Daemon;
  try {
    daemon = await startDaemon(argv, { log });
  } catch (e) {
    const err = toSealboxError(e);
    log.error(`cannot start: ${err.message}`, { code: err.code });
    return err.spec.exitCode;
  }
  // The daemon runs until a signal, even when no part holds the event loop open.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  return new Promise<number>((resolve) => {
    onStarted = (signal) =>
      void daemon.stop(signal).then((code) => {
        clearInterval(keepAlive);
        resolve(code);
      });
    if (signalled) onStarted(signalled);
  });
}

if (isEntryPoint(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`sealboxd: ${toSealboxError(e).message}\n`);
      process.exit(70);
    },
  );
}
