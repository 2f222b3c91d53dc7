// ./build.sh bench serial: serial framing efficiency for a long streamed answer.

import { measureSerialEfficiency } from "./_serial-efficiency.js";

const r = await measureSerialEfficiency();
const f = (x: number): string => x.toFixed(4);
process.stdout.write(
  [
    `streamed answer: ${(r.serial_answer_bytes / 1024).toFixed(0)} KiB of text over a socat pty pair`,
    `serial_efficiency (frame payload / line bytes, engine faster than the line): ${f(r.serial_efficiency)}`,
    `serial_text_efficiency (answer text / line bytes):                          ${f(r.serial_text_efficiency)}`,
    `serial_efficiency_paced (1 token per ms, line mostly idle):                 ${f(r.serial_efficiency_paced)}`,
    `pty throughput: ${r.serial_stream_mb_per_s.toFixed(2)} MB/s (ptys ignore baud; a 115200-baud line carries 0.0115 MB/s)`,
  ].join("\n") + "\n",
);
process.stdout.write(JSON.stringify(r) + "\n");
