// TPM2B_SENSITIVE_CREATE (Part 2 §12.1.15/§12.1.16): the authValue and the
// data of an object being created. For a sealed object the data is the secret.

import { TpmWriter } from "../marshal.js";

export interface SensitiveCreate {
  userAuth: Uint8Array;
  data: Uint8Array;
}

/** Part 2: MAX_SYM_DATA is 128 bytes, the most a sealed data object may hold. */
export const MAX_SYM_DATA_BYTES = 128;

export function writeSensitiveCreate(w: TpmWriter, s: SensitiveCreate): void {
  if (s.data.length > MAX_SYM_DATA_BYTES) throw new RangeError(`sealed data of ${s.data.length} bytes exceeds ${MAX_SYM_DATA_BYTES}`);
  w.sized((inner) => inner.tpm2b(s.userAuth).tpm2b(s.data));
}
