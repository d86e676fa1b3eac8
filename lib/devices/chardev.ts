/**
 * Character backends: where a UART's or debugcon's output goes and where its input comes from.
 * The machine builds one per `-serial`/`-debugcon` argument (stdio, file:PATH, null, the mux) and
 * attaches it to a device; the device calls `write` for each transmitted chunk. Input flows the
 * other way: the backend pushes bytes into the device's CharFrontend (`receive`) as far as
 * `canReceive` allows, and keeps the rest until the frontend drains (`onDrain` says when).
 */

export interface CharBackend {
  write(data: Uint8Array): void;
  /** Called once when the device is attached, with the frontend that accepts input. */
  attach?(frontend: CharFrontend): void;
}

/** The receiving side of a device. */
export interface CharFrontend {
  /** How many bytes the device can take now. */
  canReceive(): number;
  receive(data: Uint8Array): void;
  /** Set by the backend: called when the device has room again. */
  onDrain?: () => void;
}

/** Discards output (`-serial null`, or nothing attached). */
export class NullBackend implements CharBackend {
  write(_data: Uint8Array): void {}
}

/** Collects output in memory and feeds queued input as room appears: tests and the golden recorder. */
export class BufferBackend implements CharBackend {
  readonly chunks: number[] = [];
  private frontend: CharFrontend | undefined;
  private pending: number[] = [];

  write(data: Uint8Array): void {
    for (const b of data) this.chunks.push(b);
  }

  attach(frontend: CharFrontend): void {
    this.frontend = frontend;
    frontend.onDrain = () => this.pump();
  }

  /** Queues input for the device and delivers what fits now. */
  input(data: Uint8Array | string): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    for (const b of bytes) this.pending.push(b);
    this.pump();
  }

  pump(): void {
    if (!this.frontend) return;
    const n = Math.min(this.frontend.canReceive(), this.pending.length);
    if (n <= 0) return;
    this.frontend.receive(Uint8Array.from(this.pending.splice(0, n)));
  }

  text(): string {
    return new TextDecoder().decode(Uint8Array.from(this.chunks));
  }
}
