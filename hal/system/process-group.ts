// Signals a whole process group: a child started as a group leader, and
// everything it started. A group already gone (ESRCH) is what the caller
// wanted; any other error (EPERM) is thrown.

export function signalProcessGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}
