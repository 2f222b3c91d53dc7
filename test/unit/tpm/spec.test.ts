import assert from "node:assert/strict";
import { test } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { formatTransportSpec, parseTransportSpec } from "../../../hal/tpm/transport/spec.js";

const good: [string, object][] = [
  ["device:/dev/tpmrm0", { kind: "device", path: "/dev/tpmrm0" }],
  ["device", { kind: "device", path: "/dev/tpmrm0" }],
  ["device:/dev/tpm0,timeout_ms=500", { kind: "device", path: "/dev/tpm0", timeoutMs: 500 }],
  ["swtpm:host=127.0.0.1,port=2321", { kind: "swtpm-tcp", host: "127.0.0.1", port: 2321, locality: 0 }],
  ["swtpm:port=2321", { kind: "swtpm-tcp", host: "127.0.0.1", port: 2321, locality: 0 }],
  ["swtpm:path=/run/s.sock,locality=3", { kind: "swtpm-unix", path: "/run/s.sock", locality: 3 }],
  ["socket:/run/tpm.sock", { kind: "socket", path: "/run/tpm.sock" }],
  ["swtpm-pipe:/var/lib/sealbox/tpm,timeout_ms=2000", { kind: "swtpm-pipe", stateDir: "/var/lib/sealbox/tpm", timeoutMs: 2000 }],
];

for (const [text, expected] of good) {
  test(`parses '${text}'`, () => {
    const spec = parseTransportSpec(text);
    assert.deepEqual(spec, expected);
    assert.deepEqual(parseTransportSpec(formatTransportSpec(spec)), spec, "format round-trips");
  });
}

const bad: [string, RegExp][] = [
  ["", /unknown kind ''/],
  ["tcp:1.2.3.4", /unknown kind 'tcp'/],
  ["device:dev/tpm0", /absolute/],
  ["swtpm:host=127.0.0.1", /port= is required/],
  ["swtpm:port=0", /port must be an integer 1..65535/],
  ["swtpm:port=99999", /port must be an integer/],
  ["swtpm:port=12a", /port must be an integer/],
  ["swtpm:port=1,port=2", /given twice/],
  ["swtpm:port=1,colour=blue", /unknown option 'colour'/],
  ["swtpm:path=/a,port=1", /either path= or host=/],
  ["swtpm:locality=9,port=1", /locality must be an integer 0..4/],
  ["swtpm:port", /not key=value/],
  ["socket:", /socket path is required/],
  ["swtpm-pipe:", /state directory is required/],
  ["device:/dev/tpm0,timeout_ms=0", /timeout_ms must be an integer/],
];

for (const [text, why] of bad) {
  test(`refuses '${text}' with a message that says why`, () => {
    assert.throws(
      () => parseTransportSpec(text),
      (e) => isSealboxError(e, "BAD_ARGUMENT") && why.test((e as Error).message),
    );
  });
}
