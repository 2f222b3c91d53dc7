// A throw-away Debian root for the slow appliance tests: an overlay on the
// cached debootstrap tree (image/make-test-rootfs.sh), so every test starts
// from the same fresh tree and the cache is never written. Runs commands in it
// with systemd-nspawn (no host systemd needed: --register=no --keep-unit).

import { spawnSync, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const ROOTFS_CACHE = process.env.SEALBOX_TEST_ROOTFS ?? "/var/cache/sealbox-test/rootfs";

function missingTool(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (overlay mounts, systemd-nspawn)";
  for (const cmd of ["systemd-nspawn", "debootstrap", "dpkg-deb", "mount"]) {
    if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) return `${cmd} is not installed`;
  }
  return undefined;
}

/**
 * Why the appliance tests that boot or install into a Debian tree (nspawn, .deb) cannot run
 * here, or undefined when they can. They are part of the default run: `./build.sh test`
 * prepares their assets at install time (the cached bookworm tree, the packaged Node
 * runtime), so the tests themselves need no network.
 */
export function applianceSkipReason(): string | undefined {
  const tool = missingTool();
  if (tool) return tool;
  if (!existsSync(join(ROOTFS_CACHE, ".sealbox-rootfs")) && process.env.SEALBOX_SLOW_TESTS !== "1") {
    return `no test tree at ${ROOTFS_CACHE}: ./build.sh test builds it (image/make-test-rootfs.sh, root and Debian's archive once)`;
  }
  return undefined;
}

/** Why the slow image test cannot run here (it builds two whole images: minutes), or undefined. */
export function slowApplianceSkipReason(): string | undefined {
  if (process.env.SEALBOX_SLOW_TESTS !== "1") return "slow appliance test: set SEALBOX_SLOW_TESTS=1 to run it (README, 'Slow tests')";
  return missingTool();
}

/** The cached base tree, built on first use (needs Debian's archive once; ~1 min). */
export function ensureBaseRootfs(): string {
  if (existsSync(join(ROOTFS_CACHE, ".sealbox-rootfs"))) return ROOTFS_CACHE;
  execFileSync("bash", [join(repoRoot, "image/make-test-rootfs.sh"), ROOTFS_CACHE], { stdio: ["ignore", "ignore", "inherit"], timeout: 15 * 60_000 });
  return ROOTFS_CACHE;
}

export interface OverlayRoot {
  /** The merged, writable root. */
  path: string;
  /** Scratch space beside it (not inside the container). */
  scratch: string;
  close(): void;
}

/** A writable overlay on the base tree; close() unmounts and deletes everything. Idempotent. */
export function overlayRoot(base: string): OverlayRoot {
  const dir = mkdtempSync(join(tmpdir(), "sealbox-root-"));
  for (const d of ["upper", "work", "merged", "scratch"]) mkdirSync(join(dir, d));
  const merged = join(dir, "merged");
  execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${base},upperdir=${join(dir, "upper")},workdir=${join(dir, "work")}`, merged]);
  let open = true;
  return {
    path: merged,
    scratch: join(dir, "scratch"),
    close() {
      if (!open) return;
      open = false;
      spawnSync("umount", ["-l", merged]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface NspawnResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a shell command inside the root (not booted), with no network. */
export function nspawnSh(root: string, script: string, options: { binds?: string[]; timeoutMs?: number } = {}): NspawnResult {
  // --console=pipe: the container's stdout and stderr stay two plain streams (no pty, no CR LF).
  const args = ["-q", "--register=no", "--keep-unit", "--private-network", "--console=pipe", "-D", root, ...(options.binds ?? []).map((b) => `--bind=${b}`), "sh", "-ec", script];
  const r = spawnSync("systemd-nspawn", args, { encoding: "utf8", timeout: options.timeoutMs ?? 5 * 60_000 });
  // nspawn's harmless note about its propagation mount on an overlay root.
  const stderr = r.stderr.replace(/^Attempted to remove disk file system under .*\n?/gm, "");
  return { status: r.status, stdout: r.stdout.replace(/\r\n/g, "\n"), stderr: stderr.replace(/\r\n/g, "\n") };
}
