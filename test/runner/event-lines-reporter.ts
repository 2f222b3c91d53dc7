// The node:test reporter each test file runs with under run-files.ts: every
// event the runner needs, as one marked JSON line on stdout (test-event.ts).
// A Transform, so each line is written the moment its event is reported.

import { Transform, type TransformCallback } from "node:stream";
import { encodeTestEvent, toTestEvent } from "./test-event.js";

export default class EventLinesReporter extends Transform {
  constructor() {
    super({ writableObjectMode: true });
  }

  override _transform(event: { type: string; data: Record<string, unknown> }, _encoding: BufferEncoding, done: TransformCallback): void {
    const out = toTestEvent(event);
    done(null, out === undefined ? undefined : encodeTestEvent(out));
  }
}
