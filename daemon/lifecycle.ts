// Every resource the daemon opens registers here; shutdown closes them in
// reverse order of opening, each once, and keeps going when one fails.

export interface Closeable {
  close(): Promise<void> | void;
}

export class Lifecycle {
  private readonly resources: { name: string; close: () => Promise<void> | void }[] = [];
  private closing: Promise<Error[]> | undefined;

  /** Registers a resource just opened. Returns it, for `const x = lifecycle.add("x", await openX())`. */
  add<T extends Closeable>(name: string, resource: T): T {
    if (this.closing) throw new Error(`cannot open ${name}: shutting down`);
    this.resources.push({ name, close: () => resource.close() });
    return resource;
  }

  /** Registers a bare close function. */
  onClose(name: string, close: () => Promise<void> | void): void {
    this.add(name, { close });
  }

  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  /** Names of open resources, oldest first. */
  get names(): string[] {
    return this.resources.map((r) => r.name);
  }

  /** Closes everything in reverse order. Idempotent; resolves to the errors met (none lost, none thrown). */
  close(onError?: (name: string, error: Error) => void): Promise<Error[]> {
    this.closing ??= (async () => {
      const errors: Error[] = [];
      while (this.resources.length > 0) {
        const r = this.resources.pop()!;
        try {
          await r.close();
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          errors.push(err);
          onError?.(r.name, err);
        }
      }
      return errors;
    })();
    return this.closing;
  }
}
