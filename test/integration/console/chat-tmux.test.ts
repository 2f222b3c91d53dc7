// `sealbox chat` driven as a person drives it: in a real terminal (tmux on a
// private server socket), keys sent with send-keys, the screen read back with
// capture-pane. Ctrl-C must cancel the answer and keep the session.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";

import { SEALBOX, startBoxProcess, type BoxProcess } from "../../helpers/console.js";

const exec = promisify(execFile);

describe("sealbox chat in a terminal (tmux)", () => {
  const session = "chat";
  let box: BoxProcess;
  // A private tmux server on a socket in our own temp dir (removed afterwards), never the user's.
  let tmuxDir: string;

  const tmux = async (...args: string[]): Promise<string> => (await exec("tmux", ["-S", join(tmuxDir, `sealbox-test-${process.pid}.sock`), ...args])).stdout;
  const screen = (): Promise<string> => tmux("capture-pane", "-p", "-t", session);
  const keys = (...k: string[]): Promise<string> => tmux("send-keys", "-t", session, ...k);

  /** Waits until the screen matches, returning it; fails with the screen shown. */
  async function waitFor(re: RegExp, timeoutMs = 20_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < until) {
      last = await screen();
      if (re.test(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`screen never matched ${re}:\n${last}`);
  }

  before(async () => {
    tmuxDir = await mkdtemp(join(tmpdir(), "sealbox-tmux-"));
    box = await startBoxProcess(120); // slow enough to interrupt mid-answer
    // A private tmux server; the shell command keeps the pane after chat exits so its last words can be read.
    await tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", `${SEALBOX} chat --state ${box.dir}; echo "[chat exited $?]"; sleep 60`);
  });

  after(async () => {
    await tmux("kill-server").catch(() => undefined);
    await box.stop();
    await rm(tmuxDir, { recursive: true, force: true });
  });

  it("opens with a banner and a prompt", async () => {
    const s = await waitFor(/you>\s*$/m);
    assert.match(s, /sealbox chat — box box-test, model fake \(sha256 ffffffffffff\)/);
    assert.match(s, /Every question and answer is recorded in the audit log/);
  });

  it("streams an answer, then shows its audit record numbers", async () => {
    await keys("is pump 3 ok?", "Enter");
    const s = await waitFor(/\[audit #\d+ #\d+\]\s*\nyou>\s*$/m);
    assert.match(s, /you> is pump 3 ok\?\nbox> Pump 3 pressure is nominal\. Check valve V-12 weekly\. \(1 messages\)\n/);
  });

  it("keeps the conversation: the second question carries the history", async () => {
    await keys("and valve 12?", "Enter");
    const s = await waitFor(/\(3 messages\)\n\[audit #\d+ #\d+\]\s*\nyou>\s*$/m);
    assert.match(s, /you> and valve 12\?\nbox> Pump 3/);
  });

  it("Ctrl-C cancels the answer, not the session", async () => {
    await keys("tell me everything", "Enter");
    await waitFor(/you> tell me everything\nbox> Pump/);
    await keys("C-c");
    const s = await waitFor(/\[cancelled\]\s*\nyou>\s*$/m);
    assert.doesNotMatch(s.split("tell me everything")[1]!, /weekly/);
    // Still in the session: the cancelled turn is not in the history (3 + 2 = 5 messages).
    await keys("still there?", "Enter");
    await waitFor(/you> still there\?\nbox> Pump 3 pressure is nominal\. Check valve V-12 weekly\. \(5 messages\)/);
    await waitFor(/\[audit #\d+ #\d+\]\s*\nyou>\s*$/m);
  });

  it("shows a busy box plainly and carries on", async () => {
    await keys("__BUSY__", "Enter");
    const s = await waitFor(/sealbox: fake inference told to fail \(BUSY\) — try again in 2 s \(BUSY\)\s*\nyou>\s*$/m);
    assert.ok(s.length > 0);
  });

  it("/reset forgets the conversation", async () => {
    await keys("/reset", "Enter");
    await waitFor(/\(conversation forgotten\)\s*\nyou>\s*$/m);
    await keys("fresh start", "Enter");
    await waitFor(/you> fresh start\nbox> .*\(1 messages\)/);
    await waitFor(/\[audit #\d+ #\d+\]\s*\nyou>\s*$/m);
  });

  it("Ctrl-C on an empty line warns; a second one leaves", async () => {
    await keys("C-c");
    await waitFor(/\(Ctrl-C again to leave, or Ctrl-D, or \/quit\)\s*\nyou>\s*$/m);
    await keys("C-c");
    const s = await waitFor(/\[chat exited 0\]/);
    assert.match(s, /bye\n\[chat exited 0\]/);
  });
});
