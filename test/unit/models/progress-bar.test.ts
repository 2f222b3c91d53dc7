import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { formatBytes, formatProgress, progressBar } from "../../../daemon/console/progress-bar.js";

test("sizes in binary units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(512 * 1024 * 1024), "512 MiB");
  assert.equal(formatBytes(4.7 * 1024 ** 3), "4.7 GiB");
});

test("the bar shows fraction, sizes, rate and time left", () => {
  const half = formatProgress(512 * 1024 * 1024, 1024 * 1024 * 1024, 2000, 10);
  assert.equal(half, "[#####-----]   50%  512 MiB / 1.0 GiB  256 MiB/s  ETA 2 s");
  assert.equal(formatProgress(10, 10, 1000, 4), "[####]  100%  10 B / 10 B  10 B/s");
  assert.equal(formatProgress(0, 10, 0, 4), "[----]    0%  0 B / 10 B");
  assert.match(formatProgress(20, 10, 1, 4), /^\[####\]  100%/, "never past 100%");
  assert.match(formatProgress(0, 0, 1, 4), /^\[####\]  100%/, "an empty file is done");
});

class Sink extends Writable {
  text = "";
  isTTY = false;
  override _write(c: Buffer, _e: string, done: () => void): void {
    this.text += c.toString();
    done();
  }
}

test("drawn only on a terminal, only for big jobs, and cleared at the end", () => {
  const pipe = new Sink();
  const a = progressBar(pipe as unknown as NodeJS.WriteStream, "x", 100);
  a.update(500, 1000);
  a.done();
  assert.equal(pipe.text, "", "not a TTY: nothing drawn");

  const tty = new Sink();
  tty.isTTY = true;
  const small = progressBar(tty as unknown as NodeJS.WriteStream, "x", 100);
  small.update(5, 50);
  assert.equal(tty.text, "", "below the size limit: nothing drawn");
  const big = progressBar(tty as unknown as NodeJS.WriteStream, "importing", 100);
  big.update(1000, 1000);
  assert.match(tty.text, /\r\x1b\[2Kimporting \[#+\]  100%/);
  big.done();
  big.done();
  assert.ok(tty.text.endsWith("\r\x1b[2K"));
  assert.equal(tty.text.split("\r\x1b[2K").length, 3, "one draw and one clear");
});
