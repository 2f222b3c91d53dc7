// One conformance test every transport runs against a real swtpm (go-tpm's
// lesson), then hostile peers: a TPM that hangs, answers garbage, answers half
// and stalls, or hangs up — each a clear coded error within a bounded wait.

import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import type { TpmTransport } from "../../../hal/index.js";
import { GetRandom } from "../../../hal/tpm/commands/basic.js";
import { encodeParameters, frameCommand } from "../../../hal/tpm/command.js";
import { Tpm } from "../../../hal/tpm/tpm.js";
import { DeviceTransport } from "../../../hal/tpm/transport/device.js";
import { openTpmTransport } from "../../../hal/tpm/transport/open.js";
import { openSwtpmPipe } from "../../../hal/tpm/transport/swtpm-pipe.js";
import { startPtyPair } from "../../helpers/socat.js";
import { loopbackUsable, makeTempDir, startPtyBridge, startSwtpmServer } from "../../helpers/swtpm.js";

const getRandom8 = frameCommand(GetRandom(8).code, [], [], encodeParameters(GetRandom(8)));

/** What every transport must do with a live TPM. */
async function conformance(open: () => Promise<TpmTransport>): Promise<void> {
  const transport = await open();
  const tpm = new Tpm(transport);
  try {
    const a = await tpm.run(GetRandom(16));
    assert.equal(a.length, 16);
    // Ten commands at once: the transport queues them (one in flight) and each gets its own answer.
    const many = await Promise.all(Array.from({ length: 10 }, () => tpm.run(GetRandom(32))));
    assert.equal(new Set(many.map((b) => Buffer.from(b).toString("hex"))).size, 10);
    for (const b of many) assert.equal(b.length, 32);
  } finally {
    await transport.close();
  }
  await transport.close(); // idempotent
  await assert.rejects(transport.transmit(getRandom8), (e) => isSealboxError(e, "TPM_UNAVAILABLE"));
}

describe("conformance against swtpm", () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  let server: Awaited<ReturnType<typeof startSwtpmServer>>;
  let dataSock: string;

  before(async () => {
    tmp = await makeTempDir();
    server = await startSwtpmServer(join(tmp.dir), "unix");
    dataSock = server.spec.replace("swtpm:path=", "");
  });
  after(async () => {
    await server.stop();
    await tmp.cleanup();
  });

  test("swtpm-pipe: our own swtpm chardev on a socketpair", async () => {
    const t = await makeTempDir();
    try {
      await conformance(() => openTpmTransport(`swtpm-pipe:${join(t.dir, "state")}`));
    } finally {
      await t.cleanup();
    }
  });

  test("socket: raw commands over swtpm's unix socket", async () => {
    await conformance(() => openTpmTransport(`socket:${dataSock}`));
  });

  test("swtpm:path=: mssim framing over swtpm's unix socket", async () => {
    await conformance(() => openTpmTransport(`swtpm:path=${dataSock}`));
  });

  test("device: a character device (a pty bridged to swtpm) with read()/write()", async () => {
    const bridge = await startPtyBridge(join(tmp.dir, "tpm-pty"), dataSock);
    try {
      await conformance(() => openTpmTransport(`device:${bridge.device}`));
    } finally {
      await bridge.close();
    }
  });

  test("swtpm:host=,port=: mssim framing over TCP on 127.0.0.1", async (t) => {
    if (!(await loopbackUsable())) {
      t.skip("loopback is down here (unshare -n without `ip link set lo up`): TCP cannot be exercised; the same framing ran over the unix socket above");
      return;
    }
    const t2 = await makeTempDir();
    const tcp = await startSwtpmServer(t2.dir, "tcp");
    try {
      await conformance(() => openTpmTransport(tcp.spec));
    } finally {
      await tcp.stop();
      await t2.cleanup();
    }
  });
});

/** A fake TPM on a unix socket that does `behave` with each connection. */
async function fakeTpm(path: string, behave: (sock: Socket, data: Buffer) => void): Promise<{ close(): Promise<void>; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => undefined);
    sock.on("data", (d) => behave(sock, d));
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  return {
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe("hostile TPMs: bounded waits and clear errors", () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  const kinds = [
    { name: "raw", spec: (p: string) => `socket:${p}` },
    { name: "mssim", spec: (p: string) => `swtpm:path=${p}` },
  ];

  for (const k of kinds) {
    test(`${k.name}: a TPM that never answers → TPM_TIMEOUT after the configured wait; later calls → TPM_UNAVAILABLE`, async () => {
      const path = join(tmp.dir, `hang-${k.name}.sock`);
      const fake = await fakeTpm(path, () => undefined);
      const transport = await openTpmTransport(k.spec(path), { timeoutMs: 300 });
      try {
        const started = Date.now();
        await assert.rejects(transport.transmit(getRandom8), (e) => isSealboxError(e, "TPM_TIMEOUT") && /did not answer within 300 ms/.test((e as Error).message));
        assert.ok(Date.now() - started < 10_000, "the wait is bounded");
        await assert.rejects(transport.transmit(getRandom8), (e) => isSealboxError(e, "TPM_UNAVAILABLE") && /out of step/.test((e as Error).message));
      } finally {
        await transport.close();
        await fake.close();
      }
    });

    test(`${k.name}: a TPM that answers garbage → TPM_PROTOCOL`, async () => {
      const path = join(tmp.dir, `garbage-${k.name}.sock`);
      const fake = await fakeTpm(path, (sock) => sock.write(Buffer.from("ffffffffffffffffffffffffffffffff", "hex")));
      const transport = await openTpmTransport(k.spec(path), { timeoutMs: 5000 });
      try {
        await assert.rejects(transport.transmit(getRandom8), (e) => isSealboxError(e, "TPM_PROTOCOL"));
      } finally {
        await transport.close();
        await fake.close();
      }
    });

    test(`${k.name}: a TPM that answers half and stalls → TPM_TIMEOUT naming the bytes received`, async () => {
      const path = join(tmp.dir, `half-${k.name}.sock`);
      const half = k.name === "raw" ? "8001000000140000" : "000000148001000000140000";
      const fake = await fakeTpm(path, (sock) => sock.write(Buffer.from(half, "hex")));
      const transport = await openTpmTransport(k.spec(path), { timeoutMs: 300 });
      try {
        await assert.rejects(transport.transmit(getRandom8), (e) => isSealboxError(e, "TPM_TIMEOUT") && /incomplete answer/.test((e as Error).message));
      } finally {
        await transport.close();
        await fake.close();
      }
    });

    test(`${k.name}: a TPM that hangs up mid-command → TPM_UNAVAILABLE`, async () => {
      const path = join(tmp.dir, `hangup-${k.name}.sock`);
      const fake = await fakeTpm(path, (sock) => sock.destroy());
      const transport = await openTpmTransport(k.spec(path), { timeoutMs: 5000 });
      try {
        await assert.rejects(transport.transmit(getRandom8), (e) => isSealboxError(e, "TPM_UNAVAILABLE"));
      } finally {
        await transport.close();
        await fake.close();
      }
    });

    test(`${k.name}: a valid-looking answer through the Tpm client with the wrong tag → TPM_PROTOCOL`, async () => {
      const path = join(tmp.dir, `tag-${k.name}.sock`);
      const resp = "c00100000014000000000008" + "00".repeat(8);
      const fake = await fakeTpm(path, (sock) => sock.write(Buffer.from(k.name === "raw" ? resp : "00000014" + resp + "00000000", "hex")));
      const tpm = new Tpm(await openTpmTransport(k.spec(path), { timeoutMs: 5000 }));
      try {
        await assert.rejects(tpm.run(GetRandom(8)), (e) => isSealboxError(e, "TPM_PROTOCOL") && /tag/.test((e as Error).message));
      } finally {
        await tpm.close();
        await fake.close();
      }
    });
  }

  test("nothing listening at the socket → TPM_UNAVAILABLE naming the path", async () => {
    const path = join(tmp.dir, "nobody.sock");
    await assert.rejects(openTpmTransport(`socket:${path}`), (e) => isSealboxError(e, "TPM_UNAVAILABLE") && (e as Error).message.includes(path));
  });

  test("no TPM device → TPM_UNAVAILABLE saying so", async () => {
    await assert.rejects(openTpmTransport(`device:${join(tmp.dir, "tpmrm0")}`), (e) => isSealboxError(e, "TPM_UNAVAILABLE") && /no such device/.test((e as Error).message));
  });

  test("no swtpm binary → TPM_UNAVAILABLE saying to install it", async () => {
    await assert.rejects(openSwtpmPipe(join(tmp.dir, "st"), { swtpmPath: join(tmp.dir, "no-swtpm") }), (e) => isSealboxError(e, "TPM_UNAVAILABLE") && /install the swtpm package/.test((e as Error).message));
  });

  test("device: a device that never answers → TPM_TIMEOUT after the configured wait, then TPM_UNAVAILABLE", async () => {
    const pair = await startPtyPair({ a: join(tmp.dir, "hang-a"), b: join(tmp.dir, "hang-b") });
    const transport = await DeviceTransport.open(pair.a, { timeoutMs: 300 });
    try {
      const started = Date.now();
      await assert.rejects(transport.transmit(getRandom8), (e) => isSealboxError(e, "TPM_TIMEOUT"));
      assert.ok(Date.now() - started < 10_000);
      await assert.rejects(transport.transmit(getRandom8), (e) => isSealboxError(e, "TPM_UNAVAILABLE"));
    } finally {
      await transport.close();
      await pair.close(); // the blocked read() on the pty ends with EIO here
    }
  });
});
